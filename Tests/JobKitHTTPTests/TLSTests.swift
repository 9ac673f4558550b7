import Foundation
import HTTPTypes
import JobKitHTTP
import JobKitTestSupport
import NIOSSL
import Testing

@Suite("HTTPS")
struct TLSTests {
    @Test("--tls-cert/--tls-key serve HTTPS that a client trusting the certificate can call")
    func servesTLS() async throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("tls")
        let cert = dir + "/cert.pem"
        let key = dir + "/key.pem"
        let openssl = ["/usr/bin/openssl", "/usr/local/bin/openssl"].first { FileManager.default.isExecutableFile(atPath: $0) }
        let binary = try #require(openssl, "openssl not found: run the tests with scripts/test")
        let process = try ChildProcess(binary, [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ], outputPath: dir + "/openssl.log")
        #expect(await process.wait() == 0)

        var client = TLSConfiguration.makeClientConfiguration()
        client.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(cert))
        try await HTTPHarness.with(tls: client, configure: { $0.tls = .init(certificatePath: cert, keyPath: key) }) { (h: HTTPHarness) async throws in
            let reply = try await h.request(.get, "/health")
            #expect(reply.status == 200)
            #expect(reply.body == #"{"status":"ok"}"#)
        }

        var bad = HTTPServerConfiguration(port: 0)
        bad.tls = .init(certificatePath: dir + "/missing.pem", keyPath: key)
        #expect(throws: HTTPServerConfiguration.Invalid.self) { try bad.validate() }
    }
}

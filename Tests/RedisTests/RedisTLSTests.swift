import Foundation
import JobKitTestSupport
import Testing

@testable import JobKit

/// Makes a CA, a server certificate for 127.0.0.1/localhost and a client certificate with `openssl`.
struct TestCertificates {
    let directory: String
    var ca: String { "\(directory)/ca.crt" }
    var serverCert: String { "\(directory)/server.crt" }
    var serverKey: String { "\(directory)/server.key" }
    var clientCert: String { "\(directory)/client.crt" }
    var clientKey: String { "\(directory)/client.key" }

    init() async throws {
        directory = try TestEnvironment.makeTemporaryDirectory("tls")
        let d = directory
        try """
            subjectAltName=IP:127.0.0.1,DNS:localhost
            """.write(toFile: "\(d)/san.ext", atomically: true, encoding: .utf8)
        let steps: [[String]] = [
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=JobKit Test CA",
             "-keyout", "\(d)/ca.key", "-out", "\(d)/ca.crt"],
            ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "\(d)/server.key",
             "-out", "\(d)/server.csr"],
            ["x509", "-req", "-in", "\(d)/server.csr", "-CA", "\(d)/ca.crt", "-CAkey", "\(d)/ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", "\(d)/san.ext", "-out", "\(d)/server.crt"],
            ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=jobkit-client", "-keyout", "\(d)/client.key",
             "-out", "\(d)/client.csr"],
            ["x509", "-req", "-in", "\(d)/client.csr", "-CA", "\(d)/ca.crt", "-CAkey", "\(d)/ca.key",
             "-CAcreateserial", "-days", "2", "-out", "\(d)/client.crt"],
        ]
        for step in steps {
            let p = try ChildProcess("/usr/bin/openssl", step, outputPath: "\(d)/openssl.log")
            let status = await p.wait()
            guard status == 0 else {
                throw TestEnvironment.Missing(description: "openssl \(step[0]) failed (\(String(describing: status)))")
            }
        }
    }
}

@Suite("Redis over TLS")
struct RedisTLSTests {
    @Test("rediss:// connects with the CA file, with a client certificate, and with skip-verify; an untrusted server is refused")
    func tls() async throws {
        let certs = try await TestCertificates()
        let tlsPort = try TestEnvironment.freePort()
        let args = [
            "--port", "0", "--tls-port", "\(tlsPort)", "--tls-cert-file", certs.serverCert,
            "--tls-key-file", certs.serverKey, "--tls-ca-cert-file", certs.ca, "--tls-auth-clients", "optional",
        ]
        try await RedisServerProcess.with(args) { _ in
            let verified = RedisConnection(
                configuration: try RedisConfiguration(url: "rediss://127.0.0.1:\(tlsPort)?tls_ca_file=\(certs.ca)"))
            #expect(try await verified.send("ECHO", "secure") == .bulk("secure"))
            await verified.close()

            let byName = RedisConnection(
                configuration: try RedisConfiguration(url: "rediss://localhost:\(tlsPort)?tls_ca_file=\(certs.ca)"))
            #expect(try await byName.send("ECHO", "by-name") == .bulk("by-name"))
            await byName.close()

            let mutual = RedisConnection(
                configuration: try RedisConfiguration(
                    url: "rediss://127.0.0.1:\(tlsPort)?tls_ca_file=\(certs.ca)&tls_cert_file=\(certs.clientCert)&tls_key_file=\(certs.clientKey)"))
            #expect(try await mutual.send("ECHO", "mutual") == .bulk("mutual"))
            await mutual.close()

            let insecure = RedisConnection(
                configuration: try RedisConfiguration(url: "rediss://127.0.0.1:\(tlsPort)?tls_insecure_skip_verify=true"))
            #expect(try await insecure.send("ECHO", "dev") == .bulk("dev"))
            await insecure.close()

            // Without our CA the server's certificate is not trusted.
            var config = try RedisConfiguration(url: "rediss://127.0.0.1:\(tlsPort)")
            config.logger = TestEnvironment.logger
            let untrusted = RedisConnection(configuration: config)
            await #expect { try await untrusted.ping() } throws: { ($0 as? RedisError)?.code == .tls }
            await untrusted.close()
        }
    }
}

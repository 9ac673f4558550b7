import Crypto
import Foundation
@testable import Jobs

/// The Plaid validation material under `Tests/Fixtures/plaid` (a copy of `../shared/fixtures/plaid`).
enum PlaidFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/plaid")

    static func data(_ relative: String) throws -> Data { try Data(contentsOf: root.appendingPathComponent(relative)) }

    static func example(_ name: String) throws -> Data { try data("examples/\(name)") }

    static func json(_ relative: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: try data(relative)) as! [String: Any]
    }

    /// The fixture's verification key (what `/webhook_verification_key/get` answers).
    static func verificationKey() throws -> PlaidWebhookKey {
        try JSONDecoder().decode(PlaidWebhookKeyResponse.self, from: try example("webhook_verification_key_get.response.json")).key
    }

    /// The TEST-ONLY private key the vectors were signed with.
    static func signingKey() throws -> (key: P256.Signing.PrivateKey, kid: String) {
        let jwk = try json("webhook_signing/test-only-signing-key.jwk.json")
        let d = Base64URL.decode(jwk["d"] as! String)!
        return (try P256.Signing.PrivateKey(rawRepresentation: d), jwk["kid"] as! String)
    }

    /// A `Plaid-Verification` header for `body`, as Plaid makes it.
    static func sign(_ body: [UInt8], key: P256.Signing.PrivateKey, kid: String, iat: Int, alg: String = "ES256") throws -> String {
        let header = Base64URL.encode(Array(#"{"alg":"\#(alg)","kid":"\#(kid)","typ":"JWT"}"#.utf8))
        let digest = SHA256.hash(data: Data(body)).map { String(format: "%02x", $0) }.joined()
        let claims = Base64URL.encode(Array(#"{"iat":\#(iat),"request_body_sha256":"\#(digest)"}"#.utf8))
        let signature = try key.signature(for: Data("\(header).\(claims)".utf8)).rawRepresentation
        return "\(header).\(claims).\(Base64URL.encode(signature))"
    }
}

import Crypto
import Foundation
import JobKit

/// Verifies Plaid's `Plaid-Verification` header exactly as Plaid documents it
/// (plaid.com/docs/api/webhooks/webhook-verification):
///
/// 1. the header is a JWT whose header says `alg` `ES256` (anything else — `none`, `HS256` — is refused before
///    any key is looked up) and names a `kid`;
/// 2. the key for `kid` comes from `/webhook_verification_key/get`, cached until its `expired_at` (an unknown
///    `kid` is fetched once; so a rotated key works as soon as Plaid signs with it);
/// 3. the ES256 signature (raw R ‖ S) verifies over `header.payload`;
/// 4. the claim `iat` is at most 5 minutes old;
/// 5. SHA-256 of the **raw** body, hex, equals the claim `request_body_sha256` (compared in constant time).
public actor PlaidWebhookVerifier {
    /// Fetches a key by id; nil when Plaid says the id is unknown. Throws when Plaid cannot be asked.
    public typealias KeyFetcher = @Sendable (String) async throws -> PlaidWebhookKey?

    struct CachedKey {
        let key: P256.Signing.PublicKey
        let expiredAt: Int?
        /// When it was fetched (seconds): a key is fetched again after ``refreshSeconds``, so one Plaid expires
        /// later is noticed.
        let fetchedAt: Int
    }

    let fetch: KeyFetcher
    var cache: [String: CachedKey] = [:]
    /// Key ids Plaid said it does not know, with when it said so: the open webhook route does not ask Plaid
    /// again for them for ``unknownSeconds`` (random ids would otherwise each cost a Plaid call).
    var unknown: [String: Int] = [:]
    static let refreshSeconds = 3_600
    static let unknownSeconds = 300
    static let maxUnknown = 1_000
    /// Keys fetched from Plaid so far (tests check the cache).
    public private(set) var fetches = 0
    /// The largest accepted age of `iat`, in seconds.
    public static let maxAgeSeconds = 300

    public init(fetch: @escaping KeyFetcher) { self.fetch = fetch }

    /// A verifier whose keys come from Plaid through `client`.
    public init(client: PlaidClient) {
        self.fetch = { kid in
            do {
                return try await client.webhookVerificationKey(kid).key
            } catch let error as PlaidAPIError where error.code == "INVALID_WEBHOOK_VERIFICATION_KEY_ID" {
                return nil
            }
        }
    }

    /// What verification established.
    public struct Verified: Sendable {
        public var keyID: String
        public var issuedAt: Int
        public var bodySHA256: String
    }

    /// Why a delivery was refused.
    public enum Rejection: Error, Sendable, Equatable, CustomStringConvertible {
        /// No header, or not a JWT, or claims missing: 400.
        case malformed(String)
        /// `alg` is not ES256: 400.
        case algorithm(String)
        /// Plaid knows no key with that id (or it expired): 400.
        case unknownKey(String)
        /// The signature does not verify, or the body's hash differs: 400.
        case signature(String)
        /// `iat` is more than 5 minutes old: 400.
        case stale(Int)
        /// Plaid could not be asked for the key: 503, so Plaid delivers again.
        case keyUnavailable(String)

        public var description: String {
            switch self {
            case .malformed(let why): "malformed Plaid-Verification: \(why)"
            case .algorithm(let alg): "Plaid-Verification alg '\(alg)' is not ES256"
            case .unknownKey(let kid): "no Plaid verification key '\(kid)' (unknown or expired)"
            case .signature(let why): "Plaid-Verification does not verify: \(why)"
            case .stale(let age): "Plaid-Verification is \(age) s old (at most \(PlaidWebhookVerifier.maxAgeSeconds) s)"
            case .keyUnavailable(let why): "Plaid verification key unavailable: \(why)"
            }
        }
    }

    /// Verifies `header` for `body` (the raw bytes as received) at `now` (seconds since the epoch).
    public func verify(header: String?, body: some Collection<UInt8>, now: Int) async throws(Rejection) -> Verified {
        guard let header, !header.isEmpty else { throw .malformed("no Plaid-Verification header") }
        let parts = header.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .malformed("not a JWT (\(parts.count) parts)") }
        guard let headerBytes = Base64URL.decode(parts[0]),
            let jose = try? JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any]
        else { throw .malformed("JWT header is not base64url JSON") }
        let alg = jose["alg"] as? String ?? ""
        guard alg == "ES256" else { throw .algorithm(alg) }
        guard let kid = jose["kid"] as? String, !kid.isEmpty else { throw .malformed("JWT header has no kid") }
        guard let signature = Base64URL.decode(parts[2]), signature.count == 64,
            let ecdsa = try? P256.Signing.ECDSASignature(rawRepresentation: signature)
        else { throw .signature("signature is not 64 bytes of raw R ‖ S") }
        let key = try await key(kid, now: now)
        let signed = Data("\(parts[0]).\(parts[1])".utf8)
        guard key.isValidSignature(ecdsa, for: signed) else { throw .signature("ES256 signature does not match") }
        guard let payloadBytes = Base64URL.decode(parts[1]),
            let claims = try? JSONSerialization.jsonObject(with: Data(payloadBytes)) as? [String: Any]
        else { throw .malformed("JWT payload is not base64url JSON") }
        guard let iat = (claims["iat"] as? NSNumber)?.intValue else { throw .malformed("no iat claim") }
        guard let claimed = claims["request_body_sha256"] as? String else { throw .malformed("no request_body_sha256 claim") }
        let age = now - iat
        guard age <= Self.maxAgeSeconds else { throw .stale(age) }
        let digest = Digest.sha256Hex(Data(body))
        guard ConstantTime.equal(Array(claimed.lowercased().utf8), Array(digest.utf8)) else {
            throw .signature("request_body_sha256 differs from the body's SHA-256")
        }
        return Verified(keyID: kid, issuedAt: iat, bodySHA256: digest)
    }

    func key(_ kid: String, now: Int) async throws(Rejection) -> P256.Signing.PublicKey {
        if let cached = cache[kid], cached.expiredAt.map({ now < $0 }) ?? true, now - cached.fetchedAt < Self.refreshSeconds {
            return cached.key
        }
        if let when = unknown[kid], now - when < Self.unknownSeconds { throw .unknownKey(kid) }
        let fetched: PlaidWebhookKey?
        do {
            fetches += 1
            fetched = try await fetch(kid)
        } catch {
            throw .keyUnavailable("\(error)")
        }
        guard let fetched else {
            if unknown.count >= Self.maxUnknown { unknown.removeAll() }
            unknown[kid] = now
            throw .unknownKey(kid)
        }
        guard fetched.alg == "ES256", fetched.kty == "EC", fetched.crv == "P-256",
            let x = Base64URL.decode(fetched.x), let y = Base64URL.decode(fetched.y), x.count == 32, y.count == 32,
            let key = try? P256.Signing.PublicKey(x963Representation: [0x04] + x + y)
        else { throw .unknownKey("\(kid) (not an ES256 P-256 key)") }
        if let expired = fetched.expiredAt, expired <= now { throw .unknownKey("\(kid) (expired)") }
        cache[kid] = CachedKey(key: key, expiredAt: fetched.expiredAt, fetchedAt: now)
        return key
    }

}

/// base64url without padding (RFC 7515).
enum Base64URL {
    static func decode(_ text: some StringProtocol) -> [UInt8]? {
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s.append("=") }
        return Data(base64Encoded: s).map(Array.init)
    }

    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}

import Crypto
import Foundation
import JobKit

/// Verifies `Stripe-Signature` as Stripe's own libraries do (stripe-python `WebhookSignature.verify_header`):
/// the header is `t=<unix s>,v1=<hex>[,v1=…][,v0=…]`; a signature is lowercase hex of HMAC-SHA256 keyed by the whole
/// secret string (`whsec_…`) over `"<t>.<raw body>"`. Any `v1` matching any configured secret passes (compared in
/// constant time); other schemes are ignored; a timestamp older than `tolerance` fails (a future one passes, as in
/// Stripe's libraries). The error texts are the official library's.
public struct StripeWebhookVerifier: Sendable {
    /// The endpoint secrets accepted (several at once while rotating: `STRIPE_WEBHOOK_SECRET=whsec_new,whsec_old`).
    let keys: [SymmetricKey]
    /// The largest accepted age of `t`, in seconds (Stripe's default 300).
    public let tolerance: Int

    public init(secrets: [String], tolerance: Int = 300) {
        self.keys = secrets.filter { !$0.isEmpty }.map { SymmetricKey(data: Data($0.utf8)) }
        self.tolerance = tolerance
    }

    /// The verifier from `STRIPE_WEBHOOK_SECRET` (comma-separated) and `STRIPE_WEBHOOK_TOLERANCE` (seconds), or nil
    /// without secrets.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) -> StripeWebhookVerifier? {
        let secrets = (env["STRIPE_WEBHOOK_SECRET"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        guard !secrets.isEmpty else { return nil }
        return StripeWebhookVerifier(secrets: secrets, tolerance: env["STRIPE_WEBHOOK_TOLERANCE"].flatMap(Int.init) ?? 300)
    }

    /// Why a delivery was refused.
    public enum Rejection: Error, Sendable, Equatable, CustomStringConvertible {
        case malformedHeader
        case noV1Signature
        case noMatch
        case tooOld(Int)

        public var description: String {
            switch self {
            case .malformedHeader: "Unable to extract timestamp and signatures from header"
            case .noV1Signature: "No signatures found with expected scheme v1"
            case .noMatch: "No signatures found matching the expected signature for payload"
            case .tooOld(let t): "Timestamp outside the tolerance zone (\(t))"
            }
        }
    }

    /// Verifies `header` for `body` (the raw bytes as received) at `now` (seconds since the epoch); returns `t`.
    @discardableResult
    public func verify(header: String?, body: some Collection<UInt8>, now: Int) throws(Rejection) -> Int {
        guard let header, !header.isEmpty else { throw .malformedHeader }
        // As the official library parses it: items split at `,`, each split at `=` into at most three parts,
        // key and value taken as they are (no trimming), the first `t` wins and must be an integer; an item whose
        // key is `t` or `v1` without a value makes the header malformed; anything else is ignored.
        var timestamp: Int?
        var sawTimestamp = false
        var signatures: [[UInt8]] = []
        for item in header.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = item.split(separator: "=", maxSplits: 2, omittingEmptySubsequences: false)
            let key = parts[0]
            guard key == "t" || key == "v1" else { continue }
            guard parts.count >= 2 else { throw .malformedHeader }
            if key == "t", !sawTimestamp {
                sawTimestamp = true
                // Python's int(): surrounding whitespace, a sign and digit separators are allowed.
                timestamp = Int(parts[1].trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "_", with: ""))
                guard timestamp != nil else { throw .malformedHeader }
            }
            if key == "v1" { signatures.append(Array(parts[1].utf8)) }
        }
        guard let timestamp else { throw .malformedHeader }
        guard !signatures.isEmpty else { throw .noV1Signature }
        let prefix = Array("\(timestamp).".utf8)
        var matched = false
        for key in keys {
            var mac = HMAC<SHA256>(key: key)
            mac.update(data: prefix)
            if body.withContiguousStorageIfAvailable({ mac.update(data: UnsafeRawBufferPointer($0)) }) == nil {
                mac.update(data: Array(body))
            }
            let expected = Array(Hex.lowercase(mac.finalize()).utf8)
            for signature in signatures where ConstantTime.equal(signature, expected) { matched = true }
        }
        guard matched else { throw .noMatch }
        // A tolerance of 0 turns the age check off, as in the official library.
        guard tolerance <= 0 || timestamp >= now - tolerance else { throw .tooOld(timestamp) }
        return timestamp
    }

}

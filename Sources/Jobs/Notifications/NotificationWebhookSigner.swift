import Crypto
import Foundation
import JobKit

/// How a notification webhook is signed, so that a receiver can check it came from us and is fresh — the scheme of
/// Stripe's webhooks, under our own header:
///
/// `JobKit-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`
///
/// The receiver recomputes the HMAC over the raw body with its secret, compares in constant time, and refuses a `t`
/// older than it tolerates (we suggest 300 s). Each tenant's secret is derived from `JOBKIT_NOTIFY_SIGNING_KEY`
/// (`whsec_` + hex HMAC-SHA256(key, "jobkit-notify:" + tenant)): nothing secret is stored, and `jobnode
/// notifications secret --tenant T` prints it for the tenant's receiver.
public struct NotificationWebhookSigner: Sendable {
    public static let header = "JobKit-Signature"
    let key: SymmetricKey

    public init(signingKey: String) {
        key = SymmetricKey(data: Data(signingKey.utf8))
    }

    /// `JOBKIT_NOTIFY_SIGNING_KEY`; nil when unset (webhook channels then fail with that reason).
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) -> NotificationWebhookSigner? {
        env["JOBKIT_NOTIFY_SIGNING_KEY"].flatMap { $0.isEmpty ? nil : NotificationWebhookSigner(signingKey: $0) }
    }

    /// The tenant's webhook secret.
    public func secret(tenant: String) -> String {
        "whsec_" + Hex.lowercase(HMAC<SHA256>.authenticationCode(for: Data("jobkit-notify:\(tenant)".utf8), using: key))
    }

    /// The header value for a body sent at `timestamp`.
    public func signature(tenant: String, body: [UInt8], timestamp: Int) -> String {
        var mac = HMAC<SHA256>(key: SymmetricKey(data: Data(secret(tenant: tenant).utf8)))
        mac.update(data: Array("\(timestamp).".utf8))
        mac.update(data: body)
        return "t=\(timestamp),v1=\(Hex.lowercase(mac.finalize()))"
    }
}

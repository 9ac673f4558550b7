/// A failed Stripe call: Stripe's error object (`type`, `code`, `decline_code`, `param`, `message`) with the HTTP
/// status and the `Request-Id`, or a transport failure. Its description never carries the secret key.
public struct StripeAPIError: Error, Sendable, CustomStringConvertible {
    public var method: String
    public var path: String
    public var status: Int? = nil
    public var type: String? = nil
    public var code: String? = nil
    public var declineCode: String? = nil
    public var param: String? = nil
    public var message: String? = nil
    public var requestID: String? = nil
    /// `Stripe-Should-Retry`, when Stripe sent it.
    public var shouldRetry: Bool? = nil
    /// `Retry-After` in seconds, when sent.
    public var retryAfter: Int? = nil
    /// What went wrong when no response came.
    public var transport: String? = nil

    /// A card declined (or another `card_error`): final, the customer must act; never retried.
    public var isCardError: Bool { type == "card_error" }

    /// Whether Stripe's libraries would send it again (same idempotency key): `Stripe-Should-Retry` decides when
    /// present; else 409 (lock timeouts), 429 and 5xx, and network failures.
    public var isRetryable: Bool {
        if let shouldRetry { return shouldRetry }
        guard let status else { return true }
        return status == 409 || status == 429 || status >= 500
    }

    public var description: String {
        var text = "Stripe \(method) \(path) → " + (status.map { "HTTP \($0)" } ?? (transport ?? "no response"))
        if let type { text += " \(type)" }
        if let code { text += "/\(code)" }
        if let declineCode { text += " (decline: \(declineCode))" }
        if let param { text += " param \(param)" }
        if let message { text += ": \(message)" }
        if let requestID { text += " [request \(requestID)]" }
        return text
    }
}

/// Plaid's error object (`PlaidError`), as it arrives in an error response or inside an item.
public struct PlaidErrorBody: Sendable, Codable, Hashable {
    public var errorType: String
    public var errorCode: String
    public var errorMessage: String
    public var displayMessage: String?
    public var requestID: String?
    enum CodingKeys: String, CodingKey {
        case errorType = "error_type", errorCode = "error_code", errorMessage = "error_message"
        case displayMessage = "display_message", requestID = "request_id"
    }
}

/// A failed Plaid call: Plaid's own error object with the HTTP status, or a transport failure.
///
/// Its description never carries a token or a secret: Plaid's messages do not echo them, and transport errors are
/// described by kind.
public struct PlaidAPIError: Error, Sendable, CustomStringConvertible {
    /// The endpoint called, e.g. `/transactions/sync`.
    public var endpoint: String
    /// The HTTP status, or nil when no response came (network, timeout).
    public var status: Int?
    /// Plaid's error object, or nil for a transport failure or an undecodable error body.
    public var body: PlaidErrorBody?
    /// What went wrong when there is no Plaid error object.
    public var transport: String?

    public init(endpoint: String, status: Int?, body: PlaidErrorBody?, transport: String? = nil) {
        self.endpoint = endpoint
        self.status = status
        self.body = body
        self.transport = transport
    }

    /// Plaid's `error_code`, if any.
    public var code: String? { body?.errorCode }

    /// What the caller should do about it.
    public var disposition: Disposition {
        if let body {
            switch body.errorCode {
            case "ITEM_LOGIN_REQUIRED", "PENDING_EXPIRATION", "PENDING_DISCONNECT", "ITEM_LOCKED", "USER_PERMISSION_REVOKED",
                "ACCESS_NOT_GRANTED", "NO_ACCOUNTS", "ITEM_NOT_SUPPORTED":
                return .needsUser
            case "INVALID_ACCESS_TOKEN", "INVALID_API_KEYS", "UNAUTHORIZED_ENVIRONMENT", "INVALID_PRODUCT", "ITEM_NOT_FOUND",
                "INVALID_PUBLIC_TOKEN", "INVALID_INSTITUTION", "INVALID_FIELD", "MISSING_FIELDS", "INVALID_BODY",
                "INVALID_CONFIGURATION", "UNAUTHORIZED_ROUTE_ACCESS", "INSTITUTION_NOT_FOUND":
                return .fatal
            case "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION":
                return .restartSync
            case "PRODUCT_NOT_READY", "INSTITUTION_DOWN", "INSTITUTION_NOT_RESPONDING", "INSTITUTION_NOT_AVAILABLE",
                "INTERNAL_SERVER_ERROR", "PLANNED_MAINTENANCE":
                return .retryLater(.seconds(60))
            default:
                break
            }
            switch body.errorType {
            case "RATE_LIMIT_EXCEEDED": return .retryLater(.seconds(60))
            case "API_ERROR", "INSTITUTION_ERROR": return .retryLater(.seconds(30))
            case "INVALID_REQUEST", "INVALID_INPUT": return .fatal
            default: break
            }
        }
        if let status {
            if status == 429 { return .retryLater(.seconds(60)) }
            if status >= 500 { return .retryLater(.seconds(30)) }
            if status >= 400 { return .fatal }
        }
        return .retry  // network errors, timeouts
    }

    /// How a job handles a Plaid error.
    public enum Disposition: Sendable, Equatable {
        /// A transient failure: run again with the job's backoff (uses an attempt).
        case retry
        /// Plaid says "not now" (rate limits, institution down, Plaid's own 5xx): run again after the delay
        /// without using an attempt.
        case retryLater(Duration)
        /// The user must act (log in again through Link, renew consent): mark the item, notify, do not retry.
        case needsUser
        /// Running again cannot help (bad credentials, revoked token, a request Plaid rejects): dead, with the reason.
        case fatal
        /// `/transactions/sync`: restart pagination from the saved cursor.
        case restartSync
    }

    public var description: String {
        if let body {
            return "Plaid \(endpoint) → \(status.map(String.init) ?? "?") \(body.errorType)/\(body.errorCode): \(body.errorMessage)"
                + (body.requestID.map { " (request \($0))" } ?? "")
        }
        if let status { return "Plaid \(endpoint) → HTTP \(status)\(transport.map { ": \($0)" } ?? "")" }
        return "Plaid \(endpoint): \(transport ?? "no response")"
    }
}

import JobKit

// The rows `--json` prints carry every field, `null` when absent (``Nullable``): the field names are a contract.

/// A `plaid_items` row as operators and jobs see it (never the token).
public struct PlaidItemRow: Sendable, Codable, Equatable {
    public var item: String
    public var tenant: String
    @Nullable public var institutionId: String?
    @Nullable public var institutionName: String?
    /// `active`, `login_required`, `pending_expiration`, `pending_disconnect`, `revoked` or `error`.
    public var status: String
    @Nullable public var errorCode: String?
    @Nullable public var lastSyncedAtMs: Int64?
    @Nullable public var consentExpiresAtMs: Int64?
}

/// An `accounts` row; money as exact decimal strings.
public struct AccountRow: Sendable, Codable, Equatable {
    public var account: String
    public var item: String
    public var name: String
    @Nullable public var mask: String?
    public var type: String
    @Nullable public var subtype: String?
    @Nullable public var current: String?
    @Nullable public var available: String?
    @Nullable public var limit: String?
    @Nullable public var currency: String?
    public var updatedAtMs: Int64
}

/// A `transactions` row; the amount as an exact decimal string (positive: money out, as Plaid signs it).
public struct TransactionRow: Sendable, Codable, Equatable {
    public var transaction: String
    public var account: String
    public var date: String
    public var amount: String
    @Nullable public var currency: String?
    public var name: String
    @Nullable public var merchant: String?
    public var pending: Bool
    public var category: String
    public var categorySource: String
}

/// An `account_balances` row: one observed change of an account's balances.
public struct BalanceHistoryRow: Sendable, Codable, Equatable {
    public var account: String
    public var current: String?
    public var available: String?
    public var limit: String?
    public var observedAtMs: Int64
}

/// A tenant's categorization rule (`category_rules`): transactions whose `field` (`merchant` or `name`) contains
/// `pattern` (case-insensitive) get `category`.
public struct CategoryRule: Sendable, Codable, Equatable {
    public enum Field: String, Sendable, Codable { case merchant, name }
    public var field: Field
    public var pattern: String
    public var category: String
    public init(field: Field, pattern: String, category: String) {
        self.field = field
        self.pattern = pattern
        self.category = category
    }
}

/// A `plaid_items` row as operators and jobs see it (never the token).
public struct PlaidItemRow: Sendable, Codable, Equatable {
    public var item: String
    public var tenant: String
    public var institutionId: String?
    public var institutionName: String?
    /// `active`, `login_required`, `pending_expiration`, `pending_disconnect`, `revoked` or `error`.
    public var status: String
    public var errorCode: String?
    public var lastSyncedAtMs: Int64?
    public var consentExpiresAtMs: Int64?
}

/// An `accounts` row; money as exact decimal strings.
public struct AccountRow: Sendable, Codable, Equatable {
    public var account: String
    public var item: String
    public var name: String
    public var mask: String?
    public var type: String
    public var subtype: String?
    public var current: String?
    public var available: String?
    public var limit: String?
    public var currency: String?
    public var updatedAtMs: Int64
}

/// A `transactions` row; the amount as an exact decimal string (positive: money out, as Plaid signs it).
public struct TransactionRow: Sendable, Codable, Equatable {
    public var transaction: String
    public var account: String
    public var date: String
    public var amount: String
    public var currency: String?
    public var name: String
    public var merchant: String?
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

// `--json` and API output: every field present, `null` when absent (the field names are a contract).
extension PlaidItemRow {
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(item, forKey: .item)
        try c.encode(tenant, forKey: .tenant)
        try c.encode(institutionId, forKey: .institutionId)
        try c.encode(institutionName, forKey: .institutionName)
        try c.encode(status, forKey: .status)
        try c.encode(errorCode, forKey: .errorCode)
        try c.encode(lastSyncedAtMs, forKey: .lastSyncedAtMs)
        try c.encode(consentExpiresAtMs, forKey: .consentExpiresAtMs)
    }
}

extension AccountRow {
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(account, forKey: .account)
        try c.encode(item, forKey: .item)
        try c.encode(name, forKey: .name)
        try c.encode(mask, forKey: .mask)
        try c.encode(type, forKey: .type)
        try c.encode(subtype, forKey: .subtype)
        try c.encode(current, forKey: .current)
        try c.encode(available, forKey: .available)
        try c.encode(limit, forKey: .limit)
        try c.encode(currency, forKey: .currency)
        try c.encode(updatedAtMs, forKey: .updatedAtMs)
    }
}

extension TransactionRow {
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(transaction, forKey: .transaction)
        try c.encode(account, forKey: .account)
        try c.encode(date, forKey: .date)
        try c.encode(amount, forKey: .amount)
        try c.encode(currency, forKey: .currency)
        try c.encode(name, forKey: .name)
        try c.encode(merchant, forKey: .merchant)
        try c.encode(pending, forKey: .pending)
        try c.encode(category, forKey: .category)
        try c.encode(categorySource, forKey: .categorySource)
    }
}

import JobKit

// The Plaid jobs' names and payload keys are a contract (issue "Plaid on PostgreSQL"; docs/plaid.md). Payloads
// carry ids, never access tokens; `plaid.item.link` carries the short-lived, single-use public token Link gave
// the user, which the job exchanges once.

/// `plaid.item.link` `{"tenant", "publicToken"}` → result `{"item": "<item_id>"}`.
public struct PlaidItemLinkJob: JobPayload {
    public static let jobName = "plaid.item.link"
    public var tenant: String
    public var publicToken: String
    public init(tenant: String, publicToken: String) {
        self.tenant = tenant
        self.publicToken = publicToken
    }
}

/// `plaid.accounts.sync` `{"tenant", "item"}`.
public struct PlaidAccountsSyncJob: JobPayload {
    public static let jobName = "plaid.accounts.sync"
    public var tenant: String
    public var item: String
    public init(tenant: String, item: String) {
        self.tenant = tenant
        self.item = item
    }
}

/// `plaid.balances.refresh` `{"tenant", "item"}`.
public struct PlaidBalancesRefreshJob: JobPayload {
    public static let jobName = "plaid.balances.refresh"
    public var tenant: String
    public var item: String
    public init(tenant: String, item: String) {
        self.tenant = tenant
        self.item = item
    }
}

/// `plaid.transactions.sync` `{"tenant", "item"}`.
public struct PlaidTransactionsSyncJob: JobPayload {
    public static let jobName = "plaid.transactions.sync"
    public var tenant: String
    public var item: String
    public init(tenant: String, item: String) {
        self.tenant = tenant
        self.item = item
    }
}

/// `plaid.item.health` `{"tenant"?, "item"?}`: one item, or (without `item`) every item of the tenant, or of all
/// tenants, each as its own job.
public struct PlaidItemHealthJob: JobPayload {
    public static let jobName = "plaid.item.health"
    public var tenant: String?
    public var item: String?
    public init(tenant: String? = nil, item: String? = nil) {
        self.tenant = tenant
        self.item = item
    }
}

/// `plaid.transactions.recategorize` `{"tenant"}`: categorizes the tenant's transactions again (after a rule
/// change), in batches.
public struct PlaidRecategorizeJob: JobPayload {
    public static let jobName = "plaid.transactions.recategorize"
    public var tenant: String
    public init(tenant: String) { self.tenant = tenant }
}

/// The result of `plaid.item.link`.
public struct PlaidLinkResult: Codable, Sendable, Equatable {
    public var item: String
}

/// The result of the sync jobs.
public struct PlaidSyncResult: Codable, Sendable, Equatable {
    public var item: String
    /// `synced`, `not_ready`, `login_required` (or another status the item was put in), `revoked`.
    public var status: String
    public var added: Int = 0
    public var modified: Int = 0
    public var removed: Int = 0
    public var pages: Int = 0
    public var restarts: Int = 0
}

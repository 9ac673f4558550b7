import JobKit

/// The dashboard (`/ui` on the node's HTTP server): who may sign in, whether actions are allowed, and
/// where the tenants page reads from.
public struct DashboardConfiguration: Sendable {
    /// Users from `JOBKIT_UI_USERS`.
    public var users: DashboardUsers = .none
    /// The role of a session opened with an API key (`JOBKIT_API_KEYS`) instead of a user.
    public var apiKeyRole: DashboardRole = .admin
    /// `--ui-read-only`: every action is refused and no action button is shown.
    public var readOnly = false
    /// The tenants page's source (PostgreSQL in jobnode); without it the page says it is not configured.
    public var tenants: (any DashboardTenantSource)?
    /// How often the live feed reads Redis (once per interval for every browser together).
    public var feedInterval: Duration = .seconds(1)
    /// Sign-in attempts allowed per client address and per user name: a token bucket.
    public var loginLimit: RateLimit = .tokenBucket(10, per: .seconds(60), burst: 10)
    /// How long a session lives, and how long it survives without requests.
    public var sessionTTL: Duration = .seconds(12 * 3600)
    public var sessionIdle: Duration = .seconds(3600)
    /// How many jobs one search request may look at, at most.
    public var searchBudget = 2000

    public init() {}
}

/// One tenant as the tenants page shows it.
public struct DashboardTenant: Sendable {
    public var id: String
    public var name: String?
    public var items: [Item]
    public var subscriptions: [Subscription]

    public init(id: String, name: String?, items: [Item], subscriptions: [Subscription]) {
        self.id = id
        self.name = name
        self.items = items
        self.subscriptions = subscriptions
    }

    /// A Plaid item.
    public struct Item: Sendable {
        public var id: String
        public var institution: String?
        public var status: String
        public var errorCode: String?
        public var lastSyncedAtMs: Int64?
        public init(id: String, institution: String?, status: String, errorCode: String?, lastSyncedAtMs: Int64?) {
            self.id = id
            self.institution = institution
            self.status = status
            self.errorCode = errorCode
            self.lastSyncedAtMs = lastSyncedAtMs
        }
    }

    /// A Stripe subscription.
    public struct Subscription: Sendable {
        public var id: String
        public var customer: String
        public var plan: String?
        public var status: String
        public var periodEndMs: Int64?
        public init(id: String, customer: String, plan: String?, status: String, periodEndMs: Int64?) {
            self.id = id
            self.customer = customer
            self.plan = plan
            self.status = status
            self.periodEndMs = periodEndMs
        }
    }
}

/// Where the tenants page reads tenants, their Plaid items and subscriptions (jobnode: PostgreSQL).
public protocol DashboardTenantSource: Sendable {
    /// One page of tenants, ordered by id, after `after` (exclusive), at most `limit`.
    func tenants(after: String?, limit: Int) async throws -> [DashboardTenant]
}

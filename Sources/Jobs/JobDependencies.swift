import JobKit

/// What the domain jobs need from their node: clients and stores, built once by the node's owner and
/// handed to ``JobCatalog/register(in:dependencies:)``, so that the engine never changes for them.
public struct JobDependencies: Sendable {
    /// The node's Redis pool.
    public var redis: RedisPool
    /// The node's key namespace.
    public var namespace: String
    /// The node's PostgreSQL, when it has one (`--database`, `DATABASE_URL`).
    public var database: StoreDatabase?
    /// The node's circuit breakers (one per external service), published for `jobnode breakers` and health.
    public var breakers: BreakerBoard?
    /// The Plaid jobs' runtime, when the node has Plaid credentials, `JOBKIT_TOKEN_KEY` and a database; else
    /// why not (the Plaid jobs then go back to `scheduled` with that reason, spending no attempt, so that a node
    /// with Plaid takes them).
    public var plaid: Result<PlaidJobRunner, ProviderUnavailable>
    /// Stripe event handling, when the node has a database (it needs no Stripe key).
    public var stripeEvents: StripeEventHandler?
    /// Monthly reports, when the node has a database.
    public var reports: MonthlyReportBuilder?
    /// Notification delivery, when the node has a database.
    public var notifications: NotificationSender?
    /// Stripe operations, when the node has `STRIPE_SECRET_KEY` and a database; else why not.
    public var stripe: Result<StripeJobRunner, ProviderUnavailable> = .failure(ProviderUnavailable("no STRIPE_SECRET_KEY or no database"))

    public init(
        redis: RedisPool, namespace: String, database: StoreDatabase? = nil, breakers: BreakerBoard? = nil,
        plaid: Result<PlaidJobRunner, ProviderUnavailable> = .failure(ProviderUnavailable("no Plaid configuration")),
        stripeEvents: StripeEventHandler? = nil
    ) {
        self.redis = redis
        self.namespace = namespace
        self.database = database
        self.breakers = breakers
        self.plaid = plaid
        self.stripeEvents = stripeEvents
    }
}

/// Why a node cannot run a provider's jobs (Plaid, Stripe).
public struct ProviderUnavailable: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

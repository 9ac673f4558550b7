import JobKit

/// What the domain jobs need from their node: clients and stores, built once by the node's owner and
/// handed to ``JobCatalog/register(in:dependencies:)``. Later provider jobs add their clients here
/// (PostgreSQL store, Plaid and Stripe clients), so that the engine never changes for them.
public struct JobDependencies: Sendable {
    /// The node's Redis pool.
    public var redis: RedisPool
    /// The node's key namespace.
    public var namespace: String
    /// The node's PostgreSQL, when it has one (`--database`, `DATABASE_URL`).
    public var database: StoreDatabase?
    /// The node's circuit breakers (one per external service), published for `jobnode breakers` and health.
    public var breakers: BreakerBoard?

    public init(redis: RedisPool, namespace: String, database: StoreDatabase? = nil, breakers: BreakerBoard? = nil) {
        self.redis = redis
        self.namespace = namespace
        self.database = database
        self.breakers = breakers
    }
}

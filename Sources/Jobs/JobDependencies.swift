import JobKit

/// What the domain jobs need from their node: clients and stores, built once by the node's owner and
/// handed to ``JobCatalog/register(in:dependencies:)``. Later provider jobs add their clients here
/// (PostgreSQL store, Plaid and Stripe clients), so that the engine never changes for them.
public struct JobDependencies: Sendable {
    /// The node's Redis pool.
    public var redis: RedisPool
    /// The node's key namespace.
    public var namespace: String

    public init(redis: RedisPool, namespace: String) {
        self.redis = redis
        self.namespace = namespace
    }
}

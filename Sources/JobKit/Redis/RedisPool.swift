import NIOCore
import NIOPosix
import Synchronization

/// A fixed set of multiplexed ``RedisConnection``s for ordinary (non-blocking) commands — to one server, or,
/// when the configuration's URL names a Redis Cluster (`redis+cluster://`), to each of its primaries through a
/// ``RedisClusterClient``. The engine's types take a pool and run unchanged on either.
///
/// Each command goes to the next connection in turn; every connection pipelines its concurrent commands,
/// so a handful of connections carries thousands of concurrent callers. Blocking commands and pub/sub
/// need their own connection: take a ``RedisBlockingClient`` from ``makeBlockingClient(name:)`` or use
/// ``RedisSubscriber``.
public final class RedisPool: RedisCommandable, Sendable {
    public let configuration: RedisConfiguration
    /// One server's connections; empty on a cluster.
    let connections: [RedisConnection]
    /// The cluster client, when the URL names a Redis Cluster.
    public let cluster: RedisClusterClient?
    private let next = Atomic<Int>(0)
    let group: any EventLoopGroup

    /// Creates a pool of `size` connections (at least 1; on a cluster, `size` per primary); they connect on
    /// first use.
    public init(
        configuration: RedisConfiguration, size: Int = 4,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.configuration = configuration
        self.group = eventLoopGroup
        if configuration.url.isCluster {
            let seeds = configuration.url.clusterSeeds.compactMap { endpoint -> ClusterTopology.Node? in
                if case .tcp(let host, let port) = endpoint { return ClusterTopology.Node(host: host, port: port) }
                return nil
            }
            self.cluster = RedisClusterClient(
                seeds: seeds, configuration: configuration, poolSize: max(1, size), eventLoopGroup: eventLoopGroup)
            self.connections = []
        } else {
            self.cluster = nil
            self.connections = (0..<max(1, size)).map { _ in
                RedisConnection(configuration: configuration, eventLoop: eventLoopGroup.next())
            }
        }
    }

    /// Whether this pool talks to a Redis Cluster.
    public var isCluster: Bool { cluster != nil }

    /// The number of connections (on a cluster, over every primary it has connected to).
    public var size: Int { cluster?.connectionCounts.size ?? connections.count }

    /// How many of the pool's connections are connected now (they connect on first use and reconnect after
    /// a failure), for health reports.
    public var connectedCount: Int {
        cluster?.connectionCounts.connected ?? connections.reduce(0) { $0 + ($1.isConnected ? 1 : 0) }
    }

    /// Every server that holds keys: this pool, or each primary of the cluster (for `SCAN` and other per-node
    /// commands).
    public func keyServers() async throws -> [any RedisCommandable] {
        guard let cluster else { return [self] }
        return try await cluster.primaryPools()
    }

    /// A connection for the caller (for callers that need several commands on one connection, in order): the
    /// one whose event loop the caller runs on, when there is one (with NIO's event loops as Swift's global
    /// executor, a task and its connection then share a thread: no wake-up of another thread per command and
    /// per reply), else the next in turn.
    ///
    /// One server only: a cluster has no single connection (``isCluster``).
    @inline(__always)
    public func pick() -> RedisConnection {
        precondition(cluster == nil, "RedisPool.pick() on a cluster: use send/pipeline, which route by key")
        for connection in connections where connection.eventLoop.inEventLoop { return connection }
        let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
        return connections[Int(UInt(bitPattern: i) % UInt(connections.count))]
    }

    public func send(_ command: RedisCommand) async throws -> RESPValue {
        if let cluster { return try await cluster.send(command) }
        return try await pick().send(command)
    }

    public func pipeline(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        if let cluster { return try await cluster.pipeline(commands) }
        return try await pick().pipeline(commands)
    }

    /// A client for blocking commands (`BLPOP`, `XREAD BLOCK`) with the pool's configuration, owned by the
    /// caller (who closes it): one dedicated connection, or on a cluster one per slot it blocks on.
    public func makeBlockingClient(name: String? = nil) -> RedisBlockingClient {
        var config = configuration
        if let name { config.clientName = name }
        config.commandTimeout = nil
        return RedisBlockingClient(configuration: config, cluster: cluster, eventLoopGroup: group)
    }

    /// Connects every connection now (instead of on first use) and checks each with `PING` (on a cluster, reads
    /// the slot map and pings every primary).
    public func warmUp() async throws {
        if let cluster {
            try await cluster.refreshTopology()
            for pool in try await cluster.primaryPools() { try await pool.warmUp() }
            return
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for c in connections { group.addTask { try await c.ping() } }
            try await group.waitForAll()
        }
    }

    /// Closes every connection.
    public func close() async {
        if let cluster { await cluster.close() }
        for c in connections { await c.close() }
    }
}

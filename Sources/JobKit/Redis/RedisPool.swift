import NIOCore
import NIOPosix
import Synchronization

/// A fixed set of multiplexed ``RedisConnection``s for ordinary (non-blocking) commands.
///
/// Each command goes to the next connection in turn; every connection pipelines its concurrent commands,
/// so a handful of connections carries thousands of concurrent callers. Blocking commands and pub/sub
/// need their own connection: take one from ``makeDedicatedConnection(name:)`` or use ``RedisSubscriber``.
public final class RedisPool: RedisCommandable, Sendable {
    public let configuration: RedisConfiguration
    let connections: [RedisConnection]
    private let next = Atomic<Int>(0)
    private let group: any EventLoopGroup

    /// Creates a pool of `size` connections (at least 1); they connect on first use.
    public init(
        configuration: RedisConfiguration, size: Int = 4,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.configuration = configuration
        self.group = eventLoopGroup
        self.connections = (0..<max(1, size)).map { _ in
            RedisConnection(configuration: configuration, eventLoop: eventLoopGroup.next())
        }
    }

    /// The number of connections.
    public var size: Int { connections.count }

    /// How many of the pool's connections are connected now (they connect on first use and reconnect after
    /// a failure), for health reports.
    public var connectedCount: Int { connections.reduce(0) { $0 + ($1.isConnected ? 1 : 0) } }

    /// A connection for the caller (for callers that need several commands on one connection, in order): the
    /// one whose event loop the caller runs on, when there is one (with NIO's event loops as Swift's global
    /// executor, a task and its connection then share a thread: no wake-up of another thread per command and
    /// per reply), else the next in turn.
    @inline(__always)
    public func pick() -> RedisConnection {
        for connection in connections where connection.eventLoop.inEventLoop { return connection }
        let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
        return connections[Int(UInt(bitPattern: i) % UInt(connections.count))]
    }

    public func send(_ command: RedisCommand) async throws -> RESPValue {
        try await pick().send(command)
    }

    public func pipeline(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        try await pick().pipeline(commands)
    }

    /// A new connection with the pool's configuration, owned by the caller (who closes it): for blocking
    /// commands such as `BZPOPMIN`, `BLMOVE`, `XREAD BLOCK`.
    public func makeDedicatedConnection(name: String? = nil) -> RedisConnection {
        var config = configuration
        if let name { config.clientName = name }
        config.commandTimeout = nil
        return RedisConnection(configuration: config, eventLoop: group.next())
    }

    /// Connects every connection now (instead of on first use) and checks each with `PING`.
    public func warmUp() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for c in connections { group.addTask { try await c.ping() } }
            try await group.waitForAll()
        }
    }

    /// Closes every connection.
    public func close() async {
        for c in connections { await c.close() }
    }
}

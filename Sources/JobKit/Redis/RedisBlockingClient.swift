import NIOCore
import Synchronization

/// Dedicated connections for blocking commands (`BLPOP`, `XREAD BLOCK`), owned by one caller, who closes them.
///
/// On one server this is one connection. On a Redis Cluster a blocking command can only name keys of one slot,
/// so the client keeps one connection per slot it has blocked on, to that slot's primary; after a `MOVED`, a
/// `CLUSTERDOWN` or a lost connection it re-reads the slot map, so the next command goes where the slot lives
/// now. ``pop(from:waitMilliseconds:)`` waits on lists of several slots at once (one `BLPOP` per slot,
/// concurrently) and ends the other waits with `CLIENT UNBLOCK` as soon as one returns.
public final class RedisBlockingClient: Sendable {
    let configuration: RedisConfiguration
    let cluster: RedisClusterClient?
    let group: any EventLoopGroup

    private struct Lane {
        var node: ClusterTopology.Node
        var connection: RedisConnection
    }
    private struct State {
        var lanes: [Int: Lane] = [:]
        var closed = false
    }
    private let single: RedisConnection?
    private let state = Mutex(State())

    init(configuration: RedisConfiguration, cluster: RedisClusterClient?, eventLoopGroup: any EventLoopGroup) {
        self.configuration = configuration
        self.cluster = cluster
        self.group = eventLoopGroup
        self.single = cluster == nil ? RedisConnection(configuration: configuration, eventLoop: eventLoopGroup.next()) : nil
    }

    /// Sends a command that does not block, on the connection its key's slot uses (to start a blocking read).
    public func send(_ command: RedisCommand) async throws -> RESPValue {
        if let single { return try await single.send(command, timeout: .seconds(10)) }
        return try await onLane(command.clusterSlot ?? 0) { connection, _ in
            try await connection.send(command, timeout: .seconds(10))
        }
    }

    /// Sends a blocking command; `timeout` must exceed its block time. Cancelling the calling task closes the
    /// connection to unblock it.
    public func sendBlocking(_ command: RedisCommand, timeout: Duration?) async throws -> RESPValue {
        if let single { return try await single.sendBlocking(command, timeout: timeout) }
        return try await onLane(command.clusterSlot ?? 0) { connection, _ in
            try await connection.sendBlocking(command, timeout: timeout)
        }
    }

    /// `BLPOP keys… timeout`: waits up to `waitMilliseconds` for an element on any of `keys` and pops it.
    /// Returns the keys it popped from: one, or none on a timeout. On a cluster, keys of several slots are
    /// waited on concurrently, one connection per slot; the first pop ends the other waits, and when several
    /// pop at once, each of their keys is returned.
    public func pop(from keys: [String], waitMilliseconds: Int) async throws -> [String] {
        let seconds = Self.seconds(waitMilliseconds)
        let timeout = Duration.milliseconds(Int64(waitMilliseconds) + 5000)
        let bySlot = cluster == nil ? [0: keys] : Dictionary(grouping: keys, by: HashSlot.of)
        if bySlot.count <= 1 {
            let reply = try await sendBlocking(RedisCommand("BLPOP", strings: keys + [seconds]), timeout: timeout)
            return reply.array?.first?.string.map { [$0] } ?? []
        }
        let waits = SlotWaits()
        let popped = try await withThrowingTaskGroup(of: String?.self) { group in
            for (slot, slotKeys) in bySlot {
                group.addTask {
                    defer { waits.finish(slot) }
                    do {
                        return try await self.onLane(slot) { connection, node in
                            let client = try await connection.send(RedisCommand("CLIENT", "ID"), timeout: .seconds(10)).int ?? -1
                            // Another slot's wait already popped: do not block at all.
                            guard waits.blocked(slot, on: node, client: client, connection: connection) else { return .null }
                            return try await connection.sendBlocking(
                                RedisCommand("BLPOP", strings: slotKeys + [seconds]), timeout: timeout)
                        }.array?.first?.string
                    } catch {
                        // One slot's failure (its node down) does not end the other waits.
                        waits.failed(error)
                        return nil
                    }
                }
            }
            var popped: [String] = []
            while let result = try await group.next() {
                guard let key = result else { continue }
                popped.append(key)
                guard popped.count == 1 else { continue }
                // End the other slots' waits: each is unblocked once its BLPOP is in, however long that takes (its
                // own timeout bounds it); a wait that has not blocked yet sees the stop and does not.
                waits.stop()
                for slot in bySlot.keys {
                    while !waits.isFinished(slot) {
                        if let (node, client, connection) = waits.client(of: slot), client >= 0, let cluster {
                            let reply = try? await cluster.pool(node).send(RedisCommand("CLIENT", "UNBLOCK", client))
                            if reply?.int == 1 { break }
                            if reply == nil || reply?.int == nil {
                                // No permission for CLIENT UNBLOCK (or no answer): close that wait's connection instead.
                                connection.dropChannel()
                                break
                            }
                        }
                        try? await Task.sleep(for: .milliseconds(1))
                    }
                }
            }
            return popped
        }
        if popped.isEmpty, let error = waits.failure(ifAllOf: bySlot.count) { throw error }
        return popped
    }

    /// Runs `body` on the slot's connection; a redirect, `CLUSTERDOWN`/`TRYAGAIN` or a lost connection re-reads
    /// the map, and a redirect is retried once on the slot's new primary.
    private func onLane(
        _ slot: Int, _ body: (RedisConnection, ClusterTopology.Node) async throws -> RESPValue
    ) async throws -> RESPValue {
        guard let cluster else { preconditionFailure("onLane on a single server") }
        var attempt = 0
        while true {
            let (connection, node) = try await lane(slot, cluster: cluster)
            do {
                return try await body(connection, node)
            } catch let error as RedisError {
                let text = error.message
                let redirected = text.hasPrefix("MOVED") || text.hasPrefix("ASK")
                let down = text.hasPrefix("CLUSTERDOWN") || text.hasPrefix("TRYAGAIN") || error.code == .connectionClosed
                    || error.code == .timeout
                guard redirected || down, !isClosed, !Task.isCancelled else { throw error }
                _ = try? await cluster.refreshTopology()
                guard redirected, attempt == 0 else { throw error }
                attempt += 1
            }
        }
    }

    /// The connection of `slot`, to its primary now; a connection to a node that no longer serves the slot is
    /// closed and replaced.
    private func lane(_ slot: Int, cluster: RedisClusterClient) async throws -> (RedisConnection, ClusterTopology.Node) {
        let node = try await cluster.primary(forSlot: slot)
        let (connection, stale) = try state.withLock { s -> (RedisConnection, RedisConnection?) in
            guard !s.closed else { throw RedisError(.connectionClosed, "connection was closed by the client") }
            if let lane = s.lanes[slot], lane.node == node { return (lane.connection, nil) }
            let connection = RedisConnection(configuration: configuration.reaching(node), eventLoop: group.next())
            let stale = s.lanes[slot]?.connection
            s.lanes[slot] = Lane(node: node, connection: connection)
            return (connection, stale)
        }
        stale?.closeNow()
        return (connection, node)
    }

    private var isClosed: Bool { state.withLock { $0.closed } }

    /// Closes every connection without waiting: blocked and later commands fail with `connectionClosed` (for
    /// shutdown handlers).
    public func closeNow() {
        single?.closeNow()
        let lanes = state.withLock { s -> [Lane] in
            s.closed = true
            defer { s.lanes = [:] }
            return Array(s.lanes.values)
        }
        for lane in lanes { lane.connection.closeNow() }
    }

    /// Closes every connection.
    public func close() async {
        await single?.close()
        let lanes = state.withLock { s -> [Lane] in
            s.closed = true
            defer { s.lanes = [:] }
            return Array(s.lanes.values)
        }
        for lane in lanes { await lane.connection.close() }
    }

    /// Seconds with three decimals, for `BLPOP` timeouts.
    static func seconds(_ milliseconds: Int) -> String {
        let ms = max(0, milliseconds)
        let fraction = String(ms % 1000)
        return "\(ms / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
}

/// The waits of one ``RedisBlockingClient/pop(from:waitMilliseconds:)`` over several slots: which client id
/// blocks on each slot's node, which waits have ended or failed, and whether a pop already happened.
private final class SlotWaits: Sendable {
    private struct State {
        var clients: [Int: (node: ClusterTopology.Node, client: Int, connection: RedisConnection)] = [:]
        var finished: Set<Int> = []
        var errors: [any Error] = []
        var stopped = false
    }
    private let state = Mutex(State())

    /// Records the client about to block on `slot`; false when the pop is already over (then it must not block).
    func blocked(_ slot: Int, on node: ClusterTopology.Node, client: Int, connection: RedisConnection) -> Bool {
        state.withLock { s in
            s.clients[slot] = (node, client, connection)
            return !s.stopped
        }
    }
    func stop() { state.withLock { $0.stopped = true } }
    func finish(_ slot: Int) { _ = state.withLock { $0.finished.insert(slot) } }
    func failed(_ error: any Error) { state.withLock { $0.errors.append(error) } }
    func isFinished(_ slot: Int) -> Bool { state.withLock { $0.finished.contains(slot) } }
    func client(of slot: Int) -> (ClusterTopology.Node, Int, RedisConnection)? { state.withLock { $0.clients[slot] } }
    /// The first error, when all `count` waits failed.
    func failure(ifAllOf count: Int) -> (any Error)? { state.withLock { $0.errors.count >= count ? $0.errors.first : nil } }
}

import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A Redis Cluster client: the slot map from `CLUSTER SHARDS` (`CLUSTER SLOTS` on servers without it), a
/// ``RedisPool`` per primary, and every command sent to the primary of its key's slot. `MOVED` updates the map
/// and retries there; `ASK` retries once on the named node after `ASKING`, on the same connection. A pipeline is
/// split per primary, sent to all of them at once and reassembled in order. `SCRIPT LOAD` and `SCRIPT FLUSH` go
/// to every primary, so that `EVALSHA` finds its script on whichever primary a key lives.
///
/// The key of a command is its first argument; of `EVAL`/`EVALSHA`, its first key (JobKit's scripts declare
/// all their keys in one slot). A command without a key goes to the first primary.
///
/// With ``RedisURL/readFromReplicas`` on, a command marked ``RedisCommand/allowingReplica()`` goes to one of its
/// primary's online replicas in turn (over a connection in `READONLY` mode), and to the primary when it has none,
/// or when the replica fails or answers with an error. Everything else goes to primaries.
///
/// The engine does not use this type directly: a ``RedisPool`` made from a `redis+cluster://` URL wraps one.
public final class RedisClusterClient: RedisCommandable, Sendable {
    /// The configuration every node's connections share (credentials, TLS, timeouts); its endpoint is replaced
    /// by each node's.
    public let configuration: RedisConfiguration
    public let seeds: [ClusterTopology.Node]
    public let poolSize: Int
    let group: any EventLoopGroup
    /// How many `MOVED`/`ASK` redirects one command follows before it fails.
    public static let maxRedirects = 5

    /// How old the slot map may get before a command re-reads it (in the background), besides the re-reads
    /// that errors and redirects cause: a failover, a new replica or a resharding is seen even without errors.
    public let refreshInterval: Duration
    /// Whether marked reads go to replicas (``RedisURL/readFromReplicas``).
    public let readFromReplicas: Bool
    /// Which replica the next replica read goes to (round robin over a primary's replicas).
    private let replicaTurn = Atomic<Int>(0)
    /// How long a command that met `TRYAGAIN` (its slot is migrating: a multi-key command whose keys are split
    /// between two nodes, or a script's slot guard) is tried again before it fails, and the first and longest
    /// pause between tries. A command that answered `TRYAGAIN` did not run, so sending it again is safe.
    public static let tryAgainBudget: Duration = .seconds(20)
    static let tryAgainDelay: Duration = .milliseconds(5)
    static let tryAgainMaxDelay: Duration = .milliseconds(200)

    private struct State {
        var topology: ClusterTopology?
        var readAt: ContinuousClock.Instant?
        var refreshing = false
        var pools: [ClusterTopology.Node: RedisPool] = [:]
        /// `READONLY` connections to replicas, for replica reads.
        var replicaPools: [ClusterTopology.Node: RedisPool] = [:]
        var closed = false
    }
    private let state = Mutex(State())

    /// - Parameters:
    ///   - seeds: nodes to learn the topology from (any of them; at least one).
    ///   - configuration: the connections' settings; its URL's credentials and TLS apply to every node, and its
    ///     ``RedisURL/readFromReplicas`` turns replica reads on.
    ///   - refreshInterval: how old the slot map may get before it is re-read in the background.
    public init(
        seeds: [ClusterTopology.Node], configuration: RedisConfiguration, poolSize: Int = 2,
        refreshInterval: Duration = .seconds(30),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        precondition(!seeds.isEmpty, "a cluster client needs at least one seed")
        self.seeds = seeds
        var configuration = configuration
        // A cluster has one database: a URL's `/N` would make every node's handshake fail on SELECT.
        configuration.url.database = 0
        // Each node's pool talks to that node alone.
        configuration.url.clusterSeeds = []
        self.configuration = configuration
        self.poolSize = poolSize
        self.refreshInterval = refreshInterval
        self.readFromReplicas = configuration.url.readFromReplicas
        self.group = eventLoopGroup
    }

    /// The pool of `node`, made on first use.
    func pool(_ node: ClusterTopology.Node) throws -> RedisPool {
        try state.withLock { s in
            if let pool = s.pools[node] { return pool }
            guard !s.closed else { throw RedisError(.connectionClosed, "the cluster client is closed") }
            let pool = RedisPool(configuration: configuration.reaching(node), size: poolSize, eventLoopGroup: group)
            s.pools[node] = pool
            return pool
        }
    }

    /// The `READONLY` pool of replica `node`, made on first use.
    func replicaPool(_ node: ClusterTopology.Node) throws -> RedisPool {
        try state.withLock { s in
            if let pool = s.replicaPools[node] { return pool }
            guard !s.closed else { throw RedisError(.connectionClosed, "the cluster client is closed") }
            var config = configuration.reaching(node)
            config.readOnlyReplica = true
            let pool = RedisPool(configuration: config, size: poolSize, eventLoopGroup: group)
            s.replicaPools[node] = pool
            return pool
        }
    }

    /// The replica a marked read of `command` goes to now; `nil` when it goes to the primary.
    func replica(for command: RedisCommand, in topology: ClusterTopology) -> ClusterTopology.Node? {
        guard readFromReplicas, command.isReplicaReadable, let slot = command.clusterSlot, let primary = topology.primary(for: slot)
        else { return nil }
        let replicas = topology.replicas(of: primary)
        guard !replicas.isEmpty else { return nil }
        return replicas[(replicaTurn.wrappingAdd(1, ordering: .relaxed).oldValue & Int.max) % replicas.count]
    }

    /// A marked read sent to a replica: its reply, or `nil` when the replica failed or answered with an error (a
    /// redirect, `LOADING`, …) and the read goes to the primary instead.
    private func readFromReplica(_ command: RedisCommand, at replica: ClusterTopology.Node) async -> RESPValue? {
        guard let reply = try? await replicaPool(replica).pipeline([command])[0] else { return nil }
        if case .error = reply { return nil }
        return reply
    }

    /// The pools of the current primaries (reading the map first when none was read yet).
    public func primaryPools() async throws -> [RedisPool] {
        try await currentTopology().primaries.map { try pool($0) }
    }

    /// Connections over every node's pool (replicas' included), and how many are connected now.
    public var connectionCounts: (size: Int, connected: Int) {
        let pools = state.withLock { Array($0.pools.values) + Array($0.replicaPools.values) }
        return pools.reduce((0, 0)) { ($0.0 + $1.size, $0.1 + $1.connectedCount) }
    }

    /// The primary that serves `slot` now, reading the map first when none was read yet.
    public func primary(forSlot slot: Int) async throws -> ClusterTopology.Node {
        guard let node = try await currentTopology().primary(for: slot) else {
            throw RedisError(.serverError, "CLUSTERDOWN: no primary serves slot \(slot)")
        }
        return node
    }

    /// The slot map as last read (or corrected by `MOVED`); `nil` before the first read.
    public var topology: ClusterTopology? { state.withLock { $0.topology } }

    /// Reads the slot map from the known primaries, then the seeds: the first complete map wins, else the first
    /// usable one. Nodes whose pool has a live connection are asked first: a node that just died (its pool
    /// waiting out its reconnect backoff) is asked last, so that a re-read during a failover does not wait for it.
    /// Pools of nodes that left the map (seeds excepted) are closed.
    ///
    /// - Throws: `RedisError` when no node answers with a map.
    @discardableResult
    public func refreshTopology() async throws -> ClusterTopology {
        var candidates = state.withLock { $0.topology?.primaries } ?? []
        for seed in seeds where !candidates.contains(seed) { candidates.append(seed) }
        let live = state.withLock { s in Set(candidates.filter { (s.pools[$0]?.connectedCount ?? 0) > 0 }) }
        candidates = candidates.filter { live.contains($0) } + candidates.filter { !live.contains($0) }
        var lastError: (any Error)?
        var partial: ClusterTopology?
        let tls = configuration.url.tls != nil
        for node in candidates {
            do {
                let pool = try pool(node)
                var topology = ClusterTopology.parse(
                    shards: (try? await pool.send(RedisCommand("CLUSTER", "SHARDS"))) ?? .null, tls: tls, askedHost: node.host)
                if topology == nil || topology?.primaries.isEmpty == true {
                    topology = ClusterTopology.parse(slots: try await pool.send(RedisCommand("CLUSTER", "SLOTS")), askedHost: node.host)
                }
                guard let topology, !topology.primaries.isEmpty else { continue }
                if topology.isComplete {
                    await install(topology)
                    return topology
                }
                if partial == nil { partial = topology }
            } catch {
                lastError = error
            }
        }
        if let partial {
            await install(partial)
            return partial
        }
        throw RedisError(.serverError, "no cluster node answered with a slot map (\(candidates.map(\.description).joined(separator: ", ")))", underlying: lastError)
    }

    private func install(_ topology: ClusterTopology) async {
        let keep = Set(topology.primaries).union(seeds)
        let replicas = Set(topology.replicas.values.joined())
        let gone = state.withLock { s -> [RedisPool] in
            s.topology = topology
            s.readAt = .now
            let stale = s.pools.filter { !keep.contains($0.key) }
            for node in stale.keys { s.pools[node] = nil }
            // A replica that failed, left, or became a primary loses its READONLY pool.
            let staleReplicas = s.replicaPools.filter { !replicas.contains($0.key) }
            for node in staleReplicas.keys { s.replicaPools[node] = nil }
            return Array(stale.values) + Array(staleReplicas.values)
        }
        for pool in gone { await pool.close() }
    }

    private func currentTopology() async throws -> ClusterTopology {
        let (topology, stale) = state.withLock { s -> (ClusterTopology?, Bool) in
            guard let t = s.topology else { return (nil, false) }
            let stale = !s.refreshing && !s.closed && (s.readAt.map { $0 + self.refreshInterval < .now } ?? true)
            if stale { s.refreshing = true }
            return (t, stale)
        }
        guard let topology else { return try await refreshTopology() }
        if stale {
            // Periodic re-read, off the caller's path: a new primary or a resharding is seen even without errors.
            Task {
                _ = try? await self.refreshTopology()
                self.state.withLock { $0.refreshing = false }
            }
        }
        return topology
    }

    /// The primary that serves `command` now (for a keyless command, the first primary).
    func target(of command: RedisCommand, in topology: ClusterTopology) throws -> ClusterTopology.Node {
        if let slot = command.clusterSlot {
            guard let node = topology.primary(for: slot) else { throw RedisError(.serverError, "CLUSTERDOWN: no primary serves slot \(slot)") }
            return node
        }
        guard let first = topology.primaries.first else { throw RedisError(.serverError, "CLUSTERDOWN: no primary") }
        return first
    }

    public func send(_ command: RedisCommand) async throws -> RESPValue {
        let reply = try await execute(command)
        if case .error(let text) = reply { throw RedisError(.serverError, String(buffer: text)) }
        return reply
    }

    public func pipeline(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        guard !commands.isEmpty else { return [] }
        var replies = [RESPValue](repeating: .null, count: commands.count)
        // SCRIPT commands are barriers: what comes before runs first, then the broadcast, then what follows (each
        // node keeps a pipeline's order; across nodes only this keeps `SCRIPT LOAD` before its `EVALSHA`).
        var start = 0
        for (i, command) in commands.enumerated() where command.isScriptManagement {
            if start < i { try await send(segment: start..<i, of: commands, into: &replies) }
            replies[i] = try await broadcast(command)
            start = i + 1
        }
        if start < commands.count { try await send(segment: start..<commands.count, of: commands, into: &replies) }
        // Commands that met a redirect (a slot that moved since the map was read) or `TRYAGAIN` (a slot migrating;
        // the command did nothing) run again, one by one, after one re-read of the whole map for a `MOVED`.
        let redirected = replies.indices.filter { replies[$0].clusterRedirect != nil || replies[$0].isTryAgain }
        if !redirected.isEmpty {
            if redirected.contains(where: { if case .moved = replies[$0].clusterRedirect { true } else { false } }) {
                _ = try? await refreshTopology()
            }
            for i in redirected { replies[i] = try await execute(commands[i]) }
        }
        return replies
    }

    /// One stretch of a pipeline without SCRIPT commands, split per primary (and per replica, for marked reads
    /// with replica reads on) and sent to all of them at once. A replica's part that fails, and its error
    /// replies, are read again from the primaries, in one pipeline per primary.
    private func send(segment: Range<Int>, of commands: [RedisCommand], into replies: inout [RESPValue]) async throws {
        let topology = try await currentTopology()
        var toPrimaries: [Int] = []
        var byReplica: [ClusterTopology.Node: [Int]] = [:]
        for i in segment {
            if let replica = replica(for: commands[i], in: topology) {
                byReplica[replica, default: []].append(i)
            } else {
                toPrimaries.append(i)
            }
        }
        var parts: [(Int, RESPValue)] = []
        var again: [Int] = []
        try await withThrowingTaskGroup(of: ([(Int, RESPValue)], [Int]).self) { group in
            if !toPrimaries.isEmpty {
                let indices = toPrimaries
                group.addTask { (try await self.fromPrimaries(indices, of: commands, in: topology), []) }
            }
            for (node, indices) in byReplica {
                let pool = try replicaPool(node)
                group.addTask {
                    guard let out = try? await pool.pipeline(indices.map { commands[$0] }) else { return ([], indices) }
                    var answered: [(Int, RESPValue)] = []
                    var failed: [Int] = []
                    for (i, reply) in zip(indices, out) {
                        if case .error = reply { failed.append(i) } else { answered.append((i, reply)) }
                    }
                    return (answered, failed)
                }
            }
            for try await (part, failed) in group {
                parts += part
                again += failed
            }
        }
        if !again.isEmpty { parts += try await fromPrimaries(again, of: commands, in: topology) }
        for (i, reply) in parts { replies[i] = reply }
    }

    /// `commands` at `indices`, split per primary and sent to all of them at once; the replies by index.
    private func fromPrimaries(
        _ indices: [Int], of commands: [RedisCommand], in topology: ClusterTopology
    ) async throws -> [(Int, RESPValue)] {
        var byNode: [ClusterTopology.Node: [Int]] = [:]
        for i in indices { byNode[try target(of: commands[i], in: topology), default: []].append(i) }
        return try await withThrowingTaskGroup(of: [(Int, RESPValue)].self) { group in
            for (node, indices) in byNode {
                let pool = try pool(node)
                group.addTask { Array(zip(indices, try await pool.pipeline(indices.map { commands[$0] }))) }
            }
            var parts: [(Int, RESPValue)] = []
            for try await part in group { parts += part }
            return parts
        }
    }

    /// Sends `command` to every primary, and to every other node this client has a pool for (an `ASK` target
    /// that owns no slot yet needs the scripts too), all at once. The first primary's reply, or the first error
    /// reply; a node that cannot be reached fails the call only when it is a primary.
    func broadcast(_ command: RedisCommand) async throws -> RESPValue {
        let primaries = try await currentTopology().primaries
        let others = state.withLock { Array($0.pools.keys) }.filter { !primaries.contains($0) }
        var results: [ClusterTopology.Node: Result<RESPValue, any Error>] = [:]
        await withTaskGroup(of: (ClusterTopology.Node, Result<RESPValue, any Error>).self) { group in
            for node in primaries + others {
                group.addTask {
                    do { return (node, .success(try await self.pool(node).pipeline([command])[0])) } catch { return (node, .failure(error)) }
                }
            }
            for await (node, result) in group { results[node] = result }
        }
        var first: RESPValue = .null
        for (n, node) in primaries.enumerated() {
            let reply = try results[node]!.get()
            if case .error = reply { return reply }
            if n == 0 { first = reply }
        }
        for node in others { if case .success(let reply) = results[node], case .error = reply { return reply } }
        return first
    }

    /// One command, following `MOVED` (which re-reads the whole map once: a resharding moves many slots) and `ASK`.
    /// `CLUSTERDOWN`, or a connect that failed before the command was written, re-reads the map and tries once more
    /// (a failover); a timeout or a connection lost after writing re-reads the map and throws (the command may have
    /// run). `TRYAGAIN` is retried, backing off, for up to ``tryAgainBudget``.
    /// A marked read, with replica reads on, goes to a replica first and to the primary when that fails. Error
    /// replies come back as `.error` values.
    func execute(_ command: RedisCommand) async throws -> RESPValue {
        if command.isScriptManagement { return try await broadcast(command) }
        let topology = try await currentTopology()
        if let replica = replica(for: command, in: topology), let reply = await readFromReplica(command, at: replica) {
            return reply
        }
        var node = try target(of: command, in: topology)
        var asking = false
        var refreshed = false
        var tryAgainSince: ContinuousClock.Instant?
        var tryAgainDelay = Self.tryAgainDelay
        var tryAgainRefreshed = ContinuousClock.now
        var redirects = 0
        while redirects <= Self.maxRedirects {
            let reply: RESPValue
            do {
                if asking {
                    // ASKING and the command on one connection, in that order.
                    reply = try await pool(node).pick().pipeline([RedisCommand("ASKING"), command])[1]
                    asking = false
                } else {
                    reply = try await pool(node).pipeline([command])[0]
                }
            } catch let error as RedisError where error.code == .connectionClosed || error.code == .timeout {
                // The node is gone or unreachable (a failover?): re-read the map. Only a command that was never written
                // (the connect failed) is sent again; one whose reply was lost may have run, and running a script twice
                // (an enqueue, a claim) is not ours to decide.
                let neverSent = error.message.hasPrefix("cannot connect")
                guard !refreshed else { throw error }
                refreshed = true
                let topology = try await refreshTopology()
                guard neverSent else { throw error }
                node = try target(of: command, in: topology)
                continue
            }
            if reply.isTryAgain, ContinuousClock.now < (tryAgainSince ?? .now) + Self.tryAgainBudget {
                // The slot is migrating and the command did nothing: wait, backing off, and send it again where
                // the map says (the source answers `ASK` again until the slot's keys have moved). The redirects
                // of each try count afresh; the budget bounds the whole.
                if tryAgainSince == nil { tryAgainSince = .now }
                try await Task.sleep(for: tryAgainDelay)
                tryAgainDelay = min(tryAgainDelay * 2, Self.tryAgainMaxDelay)
                // A long migration: re-read the map about once a second (the slot may have moved meanwhile).
                if tryAgainDelay == Self.tryAgainMaxDelay, ContinuousClock.now - tryAgainRefreshed >= .seconds(1) {
                    tryAgainRefreshed = .now
                    _ = try? await refreshTopology()
                }
                node = try target(of: command, in: try await currentTopology())
                asking = false
                redirects = 0
                continue
            }
            if case .error(let text) = reply, !refreshed, text.readableBytesView.starts(with: "CLUSTERDOWN".utf8) {
                refreshed = true
                node = try target(of: command, in: try await refreshTopology())
                continue
            }
            guard let redirect = reply.clusterRedirect else { return reply }
            redirects += 1
            switch redirect {
            case .moved(let slot, let to):
                let to = to.host.isEmpty ? ClusterTopology.Node(host: node.host, port: to.port) : to
                state.withLock { $0.topology?.move(slot: slot, to: to) }
                if !refreshed {
                    refreshed = true
                    _ = try? await refreshTopology()
                }
                node = to
            case .ask(_, let to):
                node = to.host.isEmpty ? ClusterTopology.Node(host: node.host, port: to.port) : to
                asking = true
            }
        }
        throw RedisError(.serverError, "more than \(Self.maxRedirects) cluster redirects for \(command.name)")
    }

    /// Closes every node's pool.
    public func close() async {
        let pools = state.withLock { s -> [RedisPool] in
            s.closed = true
            defer {
                s.pools = [:]
                s.replicaPools = [:]
            }
            return Array(s.pools.values) + Array(s.replicaPools.values)
        }
        for pool in pools { await pool.close() }
    }
}

/// A cluster's redirect reply.
enum ClusterRedirect: Equatable {
    case moved(slot: Int, to: ClusterTopology.Node)
    case ask(slot: Int, to: ClusterTopology.Node)
}

extension RESPValue {
    /// `MOVED <slot> <host:port>` or `ASK <slot> <host:port>`; `nil` for any other reply.
    var clusterRedirect: ClusterRedirect? {
        guard case .error(let buffer) = self else { return nil }
        let text = String(buffer: buffer)
        let parts = text.split(separator: " ")
        guard parts.count == 3, let slot = Int(parts[1]), (0..<HashSlot.count).contains(slot), let node = ClusterTopology.Node(parts[2])
        else { return nil }
        switch parts[0] {
        case "MOVED": return .moved(slot: slot, to: node)
        case "ASK": return .ask(slot: slot, to: node)
        default: return nil
        }
    }
}

extension RESPValue {
    /// A `TRYAGAIN` error reply: the command's slot is migrating and the command did nothing.
    var isTryAgain: Bool {
        guard case .error(let text) = self else { return false }
        return text.readableBytesView.starts(with: "TRYAGAIN".utf8)
    }
}

extension RedisCommand {
    /// `SCRIPT LOAD|FLUSH|EXISTS`: sent to every primary.
    var isScriptManagement: Bool { name.uppercased() == "SCRIPT" }

    /// The slot of the command's key: the first argument, or `EVAL`/`EVALSHA`'s first key; `nil` without a key.
    var clusterSlot: Int? {
        let upper = name.uppercased()
        switch upper {
        case "PING", "INFO", "TIME", "CLUSTER", "ASKING", "SCRIPT", "CLIENT", "CONFIG", "DBSIZE", "FLUSHALL", "FLUSHDB", "HELLO",
            "AUTH", "SELECT", "PUBLISH", "COMMAND", "MEMORY", "LATENCY", "SLOWLOG", "MULTI", "EXEC", "DISCARD", "WAIT", "SCAN", "KEYS",
            "RANDOMKEY":
            // Node-wide commands (SCAN, KEYS, FLUSHDB) reach one primary only: the cluster client does not fan them out yet.
            return nil
        case "EVAL", "EVALSHA", "FCALL", "EVAL_RO", "EVALSHA_RO", "FCALL_RO":
            guard let count = argument(at: 2).flatMap({ Int(String(decoding: $0, as: UTF8.self)) }), count > 0,
                let key = argument(at: 3)
            else { return nil }
            return HashSlot.of(bytes: key)
        case "XREAD", "XREADGROUP":
            // The first key follows STREAMS.
            var i = 1
            while let argument = argument(at: i) {
                if String(decoding: argument, as: UTF8.self).uppercased() == "STREAMS" { return self.argument(at: i + 1).map { HashSlot.of(bytes: $0) } }
                i += 1
            }
            return nil
        default:
            return argument(at: 1).map { HashSlot.of(bytes: $0) }
        }
    }

    /// Argument `index` (0 = the command's name) of the encoded RESP array.
    func argument(at index: Int) -> [UInt8]? {
        let view = bytes.readableBytesView
        var i = view.startIndex
        func readLine() -> Int? {
            var n = 0
            var negative = false
            guard i < view.endIndex else { return nil }
            i = view.index(after: i)  // the type byte
            while i < view.endIndex, view[i] != UInt8(ascii: "\r") {
                let c = view[i]
                if c == UInt8(ascii: "-") {
                    negative = true
                } else if (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) {
                    n = n * 10 + Int(c - UInt8(ascii: "0"))
                } else {
                    return nil
                }
                i = view.index(after: i)
            }
            i = view.index(i, offsetBy: 2, limitedBy: view.endIndex) ?? view.endIndex
            return negative ? -n : n
        }
        guard let count = readLine(), index < count else { return nil }
        for current in 0...index {
            guard let length = readLine(), length >= 0 else { return nil }
            guard let end = view.index(i, offsetBy: length, limitedBy: view.endIndex) else { return nil }
            if current == index { return Array(view[i..<end]) }
            i = view.index(end, offsetBy: 2, limitedBy: view.endIndex) ?? view.endIndex
        }
        return nil
    }
}

extension RedisConfiguration {
    /// These settings (credentials, TLS, timeouts, client name) for a connection to one cluster node alone.
    func reaching(_ node: ClusterTopology.Node) -> RedisConfiguration {
        var config = self
        config.url.clusterSeeds = []
        config.url.database = 0
        config.url.endpoint = .tcp(host: node.host, port: node.port)
        return config
    }
}

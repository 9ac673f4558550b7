import Logging
import NIOCore
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
/// > Note: this is the cluster's client layer. The engine's types take a ``RedisPool`` today; running them on a
/// > cluster is the next step of the Cluster issue (see `docs/redis-client.md`).
public final class RedisClusterClient: RedisCommandable, Sendable {
    /// The configuration every node's connections share (credentials, TLS, timeouts); its endpoint is replaced
    /// by each node's.
    public let configuration: RedisConfiguration
    public let seeds: [ClusterTopology.Node]
    public let poolSize: Int
    /// How many `MOVED`/`ASK` redirects one command follows before it fails.
    public static let maxRedirects = 5

    private struct State {
        var topology: ClusterTopology?
        var pools: [ClusterTopology.Node: RedisPool] = [:]
    }
    private let state = Mutex(State())

    /// - Parameters:
    ///   - seeds: nodes to learn the topology from (any of them; at least one).
    ///   - configuration: the connections' settings; its URL's credentials and TLS apply to every node.
    public init(seeds: [ClusterTopology.Node], configuration: RedisConfiguration, poolSize: Int = 2) {
        precondition(!seeds.isEmpty, "a cluster client needs at least one seed")
        self.seeds = seeds
        self.configuration = configuration
        self.poolSize = poolSize
    }

    /// The pool of `node`, made on first use.
    func pool(_ node: ClusterTopology.Node) -> RedisPool {
        state.withLock { s in
            if let pool = s.pools[node] { return pool }
            var config = configuration
            config.url.endpoint = .tcp(host: node.host, port: node.port)
            let pool = RedisPool(configuration: config, size: poolSize)
            s.pools[node] = pool
            return pool
        }
    }

    /// The slot map as last read (or corrected by `MOVED`); `nil` before the first read.
    public var topology: ClusterTopology? { state.withLock { $0.topology } }

    /// Reads the slot map from the known primaries, then the seeds, until one answers with a complete map.
    ///
    /// - Throws: `RedisError` when no node answers with a map.
    @discardableResult
    public func refreshTopology() async throws -> ClusterTopology {
        var candidates = state.withLock { $0.topology?.primaries } ?? []
        for seed in seeds where !candidates.contains(seed) { candidates.append(seed) }
        var lastError: (any Error)?
        for node in candidates {
            do {
                let pool = pool(node)
                var topology = ClusterTopology.parse(shards: (try? await pool.send(RedisCommand("CLUSTER", "SHARDS"))) ?? .null)
                if topology == nil || topology?.primaries.isEmpty == true {
                    topology = ClusterTopology.parse(slots: try await pool.send(RedisCommand("CLUSTER", "SLOTS")))
                }
                if let topology, !topology.primaries.isEmpty {
                    state.withLock { $0.topology = topology }
                    return topology
                }
            } catch {
                lastError = error
            }
        }
        throw RedisError(.serverError, "no cluster node answered with a slot map (\(candidates.map(\.description).joined(separator: ", ")))", underlying: lastError)
    }

    private func currentTopology() async throws -> ClusterTopology {
        if let t = topology { return t }
        return try await refreshTopology()
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
        let topology = try await currentTopology()
        // Per primary: the indices of its commands, in order. SCRIPT commands go to every primary.
        var byNode: [ClusterTopology.Node: [Int]] = [:]
        var broadcast: [Int] = []
        for (i, command) in commands.enumerated() {
            if command.isScriptManagement {
                broadcast.append(i)
            } else {
                byNode[try target(of: command, in: topology), default: []].append(i)
            }
        }
        var replies = [RESPValue](repeating: .null, count: commands.count)
        try await withThrowingTaskGroup(of: [(Int, RESPValue)].self) { group in
            for (node, indices) in byNode {
                let pool = pool(node)
                group.addTask {
                    let out = try await pool.pipeline(indices.map { commands[$0] })
                    return Array(zip(indices, out))
                }
            }
            for i in broadcast {
                let command = commands[i]
                group.addTask { [(i, try await self.broadcast(command))] }
            }
            for try await part in group { for (i, reply) in part { replies[i] = reply } }
        }
        // Commands that met a redirect (a slot that moved since the map was read) run again, one by one.
        for i in replies.indices where replies[i].clusterRedirect != nil {
            replies[i] = try await execute(commands[i])
        }
        return replies
    }

    /// Sends `command` to every primary; the first primary's reply (an error from any of them wins).
    func broadcast(_ command: RedisCommand) async throws -> RESPValue {
        let primaries = try await currentTopology().primaries
        var first: RESPValue = .null
        for (n, node) in primaries.enumerated() {
            let reply = try await pool(node).pipeline([command])[0]
            if case .error = reply { return reply }
            if n == 0 { first = reply }
        }
        return first
    }

    /// One command, following `MOVED` and `ASK`. Error replies come back as `.error` values.
    func execute(_ command: RedisCommand) async throws -> RESPValue {
        if command.isScriptManagement { return try await broadcast(command) }
        var node = try target(of: command, in: try await currentTopology())
        var asking = false
        for _ in 0...Self.maxRedirects {
            let reply: RESPValue
            if asking {
                // ASKING and the command on one connection, in that order.
                reply = try await pool(node).pick().pipeline([RedisCommand("ASKING"), command])[1]
                asking = false
            } else {
                reply = try await pool(node).pipeline([command])[0]
            }
            guard let redirect = reply.clusterRedirect else { return reply }
            switch redirect {
            case .moved(let slot, let to):
                state.withLock { $0.topology?.move(slot: slot, to: to) }
                node = to
            case .ask(_, let to):
                node = to
                asking = true
            }
        }
        throw RedisError(.serverError, "more than \(Self.maxRedirects) cluster redirects for \(command.name)")
    }

    /// Closes every node's pool.
    public func close() async {
        let pools = state.withLock { s -> [RedisPool] in
            defer { s.pools = [:] }
            return Array(s.pools.values)
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
        guard parts.count == 3, let slot = Int(parts[1]), let node = ClusterTopology.Node(parts[2]) else { return nil }
        switch parts[0] {
        case "MOVED": return .moved(slot: slot, to: node)
        case "ASK": return .ask(slot: slot, to: node)
        default: return nil
        }
    }
}

extension RedisCommand {
    /// `SCRIPT LOAD|FLUSH|EXISTS`: sent to every primary.
    var isScriptManagement: Bool { name.uppercased() == "SCRIPT" }

    /// The slot of the command's key: the first argument, or `EVAL`/`EVALSHA`'s first key; `nil` without a key.
    var clusterSlot: Int? {
        let upper = name.uppercased()
        switch upper {
        case "PING", "INFO", "TIME", "CLUSTER", "ASKING", "SCRIPT", "CLIENT", "CONFIG", "DBSIZE", "FLUSHALL", "HELLO", "AUTH", "SELECT",
            "PUBLISH", "COMMAND", "MEMORY", "LATENCY", "SLOWLOG":
            return nil
        case "EVAL", "EVALSHA", "FCALL":
            guard let count = argument(at: 2).flatMap({ Int(String(decoding: $0, as: UTF8.self)) }), count > 0,
                let key = argument(at: 3)
            else { return nil }
            return HashSlot.of(bytes: key)
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
                if view[i] == UInt8(ascii: "-") { negative = true } else { n = n * 10 + Int(view[i] - UInt8(ascii: "0")) }
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

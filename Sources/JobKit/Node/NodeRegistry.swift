import NIOCore

/// Reads the registry of live nodes and sends them control requests.
public struct NodeRegistry: Sendable {
    public let redis: RedisPool
    public let namespace: String
    var keys: NodeKeys { NodeKeys(namespace: namespace) }

    public init(redis: RedisPool, namespace: String = "jobkit") {
        self.redis = redis
        self.namespace = namespace
    }

    /// Every live node (its record has not expired), oldest start first.
    public func nodes() async throws -> [NodeRecord] {
        let ids = (try await redis.send(RedisCommand("ZRANGE", keys.index, 0, -1)).array ?? []).compactMap(\.string)
        guard !ids.isEmpty else { return [] }
        let replies = try await redis.pipeline(ids.map { RedisCommand("HGETALL", keys.node($0)) })
        var out: [NodeRecord] = []
        for (id, reply) in zip(ids, replies) {
            let f = reply.fields
            guard !f.isEmpty else { continue }
            out.append(
                NodeRecord(
                    id: id, name: f["name"]?.string ?? "", host: f["host"]?.string ?? "", pid: f["pid"]?.int ?? 0,
                    version: f["version"]?.string ?? "", queues: f["queues"]?.string ?? "",
                    concurrency: f["concurrency"]?.int ?? 0, busy: f["busy"]?.int ?? 0,
                    processed: f["processed"]?.int ?? 0, failed: f["failed"]?.int ?? 0,
                    startedAtMs: Int64(f["startedAtMs"]?.int ?? 0), lastHeartbeatMs: Int64(f["lastHeartbeatMs"]?.int ?? 0)))
        }
        return out.sorted { $0.startedAtMs < $1.startedAtMs }
    }

    /// Finds a node by id or name.
    public func find(_ idOrName: String) async throws -> NodeRecord? {
        try await nodes().first { $0.id == idOrName || $0.name == idOrName }
    }

    /// Asks nodes to shut down gracefully (`node` = id, or every node when nil), through pub/sub and each
    /// node's command list (read by its next heartbeat). Returns the nodes addressed.
    @discardableResult
    public func requestShutdown(node: String?, grace: Duration?) async throws -> [NodeRecord] {
        try await send(node: node) { ControlMessage(type: .shutdown, node: $0, graceMs: grace?.milliseconds) }
    }

    /// Asks a node to stop claiming, finish its running jobs and exit.
    @discardableResult
    public func requestDrain(node: String) async throws -> [NodeRecord] {
        try await send(node: node) { ControlMessage(type: .drain, node: $0) }
    }

    private func send(node: String?, _ make: (String) -> ControlMessage) async throws -> [NodeRecord] {
        let all = try await nodes()
        let targets = node.map { n in all.filter { $0.id == n || $0.name == n } } ?? all
        var commands: [RedisCommand] = []
        for target in targets {
            let message = make(target.id)
            commands.append(RedisCommand("RPUSH", keys.commands(target.id), message.encoded))
            commands.append(RedisCommand("PEXPIRE", keys.commands(target.id), 600_000))
            commands.append(RedisCommand("PUBLISH", keys.controlChannel, message.encoded))
        }
        if !commands.isEmpty { _ = try await redis.pipeline(commands) }
        return targets
    }
}

import JobKit

/// The dashboard's audit log: every destructive or state-changing action (who, role, what, target, how
/// many jobs, when), in one Redis stream capped at about ``maxEntries`` (`<ns>:{audit}:log`).
public struct DashboardAudit: Sendable {
    public let redis: RedisPool
    public let key: String
    /// The stream's approximate cap (`XADD MAXLEN ~`).
    public static let maxEntries = 10_000

    public init(redis: RedisPool, namespace: String) {
        self.redis = redis
        self.key = "\(namespace):{audit}:log"
    }

    /// One recorded action.
    public struct Entry: Sendable, Equatable {
        /// The stream id; its first part is the Redis time in ms.
        public var id: String
        public var user: String
        public var role: String
        public var action: String
        public var target: String
        public var count: Int
        public var atMs: Int64 { Int64(id.split(separator: "-").first ?? "") ?? 0 }
    }

    /// Appends one action (the id and time come from Redis).
    public func record(user: String, role: DashboardRole, action: String, target: String, count: Int) async throws {
        _ = try await redis.send(
            RedisCommand(
                "XADD", strings: [
                    key, "MAXLEN", "~", String(Self.maxEntries), "*", "user", user, "role", role.rawValue, "action", action,
                    "target", target, "count", String(count),
                ]))
    }

    /// Entries newest first, `limit` of them, older than `before` (a stream id) when given.
    public func entries(before: String? = nil, limit: Int = 50) async throws -> [Entry] {
        let end = before.map { "(" + $0 } ?? "+"
        let reply = try await redis.send(RedisCommand("XREVRANGE", strings: [key, end, "-", "COUNT", String(limit)]))
        if case .error(let text) = reply { throw RedisError(.serverError, String(buffer: text)) }
        return (reply.array ?? []).compactMap { item in
            guard let pair = item.array, pair.count == 2, let id = pair[0].string else { return nil }
            let f = pair[1].fields
            return Entry(
                id: id, user: f["user"]?.string ?? "", role: f["role"]?.string ?? "", action: f["action"]?.string ?? "",
                target: f["target"]?.string ?? "", count: f["count"]?.int ?? 0)
        }
    }
}

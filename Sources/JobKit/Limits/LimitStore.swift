import Foundation

/// Reads and writes the limits attached to queues and job names (``QueueLimit``), as `jobnode limits` does.
///
/// Keys: `<ns>:{q}:limits` (HASH name → definition, read by each claim), `<ns>:{q}:limits:denied` (HASH name →
/// denials), `<ns>:limits` (HASH name → queue, for listing and lookup by name).
///
/// The registry is global and the definitions live in their queue's slot, so no one script can write both (a
/// Redis Cluster refuses cross-slot scripts). Each write is one command, ordered so that a call stopped half-way
/// never leaves a limit in force that the registry does not list: `set` registers first and writes the
/// definition last, `remove` deletes the definition first and unregisters last; repeating the call completes it.
public struct LimitStore: Sendable {
    public let redis: RedisPool
    public let namespace: String

    public init(redis: RedisPool, namespace: String = "jobkit") {
        self.redis = redis
        self.namespace = namespace
    }

    /// A limit and how often it denied a job.
    public struct Entry: Sendable, Equatable {
        public var limit: QueueLimit
        public var deniedTotal: Int
    }

    /// Adds or replaces `limit` (a limit of that name on another queue is moved).
    ///
    /// - Throws: ``LimitError`` for an invalid limit, `RedisError`.
    public func set(_ limit: QueueLimit) async throws {
        try limit.validate()
        let data = try JSONEncoder().encode(limit.definition)
        let index = namespace + ":limits"
        if let previous = try await redis.send(RedisCommand("HGET", index, limit.name)).string, previous != limit.queue {
            _ = try await redis.send(RedisCommand("HDEL", QueueKeys(namespace: namespace, queue: previous).prefix + "limits", limit.name))
        }
        let keys = QueueKeys(namespace: namespace, queue: limit.queue)
        _ = try await redis.send(RedisCommand("SADD", QueueKeys.queueSet(namespace: namespace), limit.queue))
        _ = try await redis.send(RedisCommand("HSET", index, limit.name, limit.queue))
        _ = try await redis.send(RedisCommand("HSET", keys.prefix + "limits", limit.name, String(decoding: data, as: UTF8.self)))
    }

    /// Every limit, by name.
    public func list() async throws -> [Entry] {
        let index = try await redis.send(RedisCommand("HGETALL", namespace + ":limits")).array ?? []
        var queues: Set<String> = []
        for i in stride(from: 1, to: index.count, by: 2) { if let q = index[i].string { queues.insert(q) } }
        var entries: [Entry] = []
        for queue in queues.sorted() {
            let prefix = QueueKeys(namespace: namespace, queue: queue).prefix
            let defs = try await redis.send(RedisCommand("HGETALL", prefix + "limits")).array ?? []
            let denied = try await redis.send(RedisCommand("HGETALL", prefix + "limits:denied")).array ?? []
            var deniedBy: [String: Int] = [:]
            for i in stride(from: 0, to: denied.count - 1, by: 2) {
                if let k = denied[i].string, let v = denied[i + 1].string.flatMap(Int.init) { deniedBy[k] = v }
            }
            for i in stride(from: 1, to: defs.count, by: 2) {
                guard let text = defs[i].string,
                    let d = try? JSONDecoder().decode(QueueLimit.Definition.self, from: Data(text.utf8))
                else { continue }
                entries.append(Entry(limit: QueueLimit(d), deniedTotal: deniedBy[d.name] ?? 0))
            }
        }
        return entries.sorted { $0.limit.name < $1.limit.name }
    }

    /// How much of a rate limit's current window (or bucket) is used, read without spending: `limit − remaining`
    /// of a one-unit peek, with the claim's own keys. `nil` for a limit without a rate, or one kept per key
    /// (`{tenant}`, `{item}`…: one window per key, too many to sum on a page).
    public func use(of limit: QueueLimit) async throws -> Int? {
        guard let rate = limit.rate, limit.key == nil else { return nil }
        let base = QueueKeys(namespace: namespace, queue: limit.queue).prefix + "rl:" + Self.luaEscape(limit.name) + "::"
        let reply = try await redis.run(
            LimitScripts.acquire, keys: [base], arguments: [rate.code, rate.limit, Int(rate.periodMs), rate.burst ?? 0, 1, 0])
        guard let values = reply.array, values.count == 4, let remaining = values[1].int else {
            throw RedisError(.unexpectedReply, "limit peek reply \(reply)")
        }
        let capacity = rate.strategy == .tokenBucket ? (rate.burst ?? rate.limit) : rate.limit
        // A one-unit peek reports what would remain after that unit; allowed or not, the use is the rest.
        let allowed = values[0].int == 1
        return max(0, capacity - remaining - (allowed ? 1 : 0))
    }

    /// The claim script's `lim_esc`: `%`, `:`, `{`, `}` and newline as `%XX`.
    static func luaEscape(_ text: String) -> String {
        var out = ""
        for ch in text.unicodeScalars {
            switch ch {
            case "%", ":", "{", "}", "\n": out += String(format: "%%%02X", ch.value)
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }

    /// Removes a limit; false when there is none of that name. Its counters expire on their own; permits
    /// held by running jobs are given back as they finish.
    public func remove(_ name: String) async throws -> Bool {
        let index = namespace + ":limits"
        guard let queue = try await redis.send(RedisCommand("HGET", index, name)).string else { return false }
        let prefix = QueueKeys(namespace: namespace, queue: queue).prefix
        _ = try await redis.send(RedisCommand("HDEL", prefix + "limits", name))
        _ = try await redis.send(RedisCommand("HDEL", prefix + "limits:denied", name))
        _ = try await redis.send(RedisCommand("HDEL", index, name))
        return true
    }
}

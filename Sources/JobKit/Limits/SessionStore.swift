import Foundation

/// Sessions in Redis: unguessable ids (128 bits from the system's CSPRNG), an absolute and an idle timeout, and
/// per-user listing and revocation ("log out everywhere").
///
/// A session lives under a hash tag of its own (`<ns>:{sess:<id>}`, a HASH with a TTL = the nearer of its two
/// deadlines); each user's sessions are indexed in `<ns>:{su:<tenant>:<user>}:index` (a ZSET of id → absolute
/// deadline), and users with sessions in `<ns>:sessions:users`. Index entries of sessions that expired are
/// removed by ``cleanup(batch:)`` (the `maintenance.sessions` job of the default schedules), so memory returns
/// to its baseline after a mass expiry. Creation writes the index first, then the session: a crash between the
/// two leaves an index entry that cleanup removes, never a session that `revokeAll` would miss.
public struct SessionStore: Sendable {
    public let redis: RedisPool
    public let namespace: String
    /// When ``create(tenant:user:data:ttl:idle:)`` gives none.
    public var defaultTTL: Duration = .seconds(86_400 * 7)
    public var defaultIdle: Duration = .seconds(86_400)

    public init(redis: RedisPool, namespace: String = "jobkit") {
        self.redis = redis
        self.namespace = namespace
    }

    /// A session as read.
    public struct Session: Sendable, Equatable {
        public var id: String
        public var tenant: String
        public var user: String
        /// The application's data (JSON text).
        public var data: String
        public var createdAtMs: Int64
        public var lastSeenAtMs: Int64
        /// The absolute deadline (ms since the Unix epoch, Redis time).
        public var expiresAtMs: Int64
        public var idleMs: Int64
    }

    /// Creates a session and returns it (its `id` is the secret the client keeps).
    ///
    /// - Parameters:
    ///   - ttl: absolute lifetime (``defaultTTL``); `idle`: how long it lives unused (``defaultIdle``).
    public func create(tenant: String, user: String, data: String = "{}", ttl: Duration? = nil, idle: Duration? = nil) async throws -> Session {
        var bytes = [UInt8](repeating: 0, count: 16)
        var rng = SystemRandomNumberGenerator()
        for i in bytes.indices { bytes[i] = rng.next() }
        let id = bytes.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
        let ttlMs = TenantCache.ms(ttl ?? defaultTTL)
        let idleMs = TenantCache.ms(idle ?? defaultIdle)
        let owner = ownerKey(tenant: tenant, user: user)
        // Index first (see the type's note), then the session.
        _ = try await redis.run(SessionScripts.index, keys: [userPrefix(tenant: tenant, user: user)], arguments: [id, ttlMs])
        _ = try await redis.send(RedisCommand("SADD", usersKey, owner))
        let reply = try await redis.run(
            SessionScripts.create, keys: [sessionPrefix(id)], arguments: [tenant, user, data, ttlMs, idleMs])
        guard let values = reply.array, values.count == 2, let now = values[0].int, let expires = values[1].int else {
            throw RedisError(.unexpectedReply, "session create reply \(reply)")
        }
        return Session(
            id: id, tenant: tenant, user: user, data: data, createdAtMs: Int64(now), lastSeenAtMs: Int64(now),
            expiresAtMs: Int64(expires), idleMs: Int64(idleMs))
    }

    /// The session, or nil when unknown, revoked or expired (absolute or idle). With `slide`, the idle deadline
    /// moves to now + idle (never past the absolute deadline).
    public func get(_ id: String, slide: Bool = true) async throws -> Session? {
        guard Self.isWellFormed(id) else { return nil }
        let reply = try await redis.run(SessionScripts.get, keys: [sessionPrefix(id)], arguments: [slide ? 1 : 0])
        return Self.session(id, reply)
    }

    /// Marks the session used now (slides the idle deadline); false when it is gone.
    public func touch(_ id: String) async throws -> Bool { try await get(id, slide: true) != nil }

    /// Replaces the session's data; false when it is gone.
    public func update(_ id: String, data: String) async throws -> Bool {
        guard Self.isWellFormed(id) else { return false }
        return try await redis.run(SessionScripts.update, keys: [sessionPrefix(id)], arguments: [data]).int == 1
    }

    /// Ends one session; false when it was already gone.
    public func revoke(_ id: String) async throws -> Bool {
        guard Self.isWellFormed(id) else { return false }
        let reply = try await redis.run(SessionScripts.revoke, keys: [sessionPrefix(id)], arguments: [])
        guard let values = reply.array, values.count == 2, let tenant = values[0].string, let user = values[1].string else { return false }
        _ = try await redis.send(RedisCommand("ZREM", userPrefix(tenant: tenant, user: user) + "index", id))
        return true
    }

    /// Ends every session of a user; returns how many were live.
    public func revokeAll(tenant: String, user: String) async throws -> Int {
        var ended = 0
        for id in try await indexed(tenant: tenant, user: user) where try await revoke(id) { ended += 1 }
        return ended
    }

    /// The user's live sessions, newest deadline last.
    public func list(tenant: String, user: String) async throws -> [Session] {
        var sessions: [Session] = []
        for id in try await indexed(tenant: tenant, user: user) {
            if let s = try await get(id, slide: false) { sessions.append(s) }
        }
        return sessions
    }

    /// Removes index entries of expired sessions, for at most `batch` users per call, resuming from `cursor`
    /// (`SSCAN` over the users with sessions). Returns the entries removed and the next cursor ("0": done).
    public func cleanup(cursor: String = "0", batch: Int = 500) async throws -> (removed: Int, cursor: String) {
        let reply = try await redis.send(RedisCommand("SSCAN", usersKey, cursor, "COUNT", "\(batch)"))
        guard let parts = reply.array, parts.count == 2, let next = parts[0].string else {
            throw RedisError(.unexpectedReply, "SSCAN reply \(reply)")
        }
        var removed = 0
        for owner in parts[1].array?.compactMap(\.string) ?? [] {
            let split = owner.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
            guard split.count == 2 else { continue }
            let prefix = userPrefix(tenant: String(split[0]), user: String(split[1]))
            let ids = try await redis.send(RedisCommand("ZRANGE", prefix + "index", "0", "-1")).array?.compactMap(\.string) ?? []
            // One round trip for every session of the user (the sessions live in other slots than the index).
            let exists = ids.isEmpty ? [] : try await redis.pipeline(ids.map { RedisCommand("EXISTS", sessionPrefix($0)) })
            let gone = zip(ids, exists).filter { $0.1.int != 1 }.map(\.0)
            let reply = try await redis.run(SessionScripts.prune, keys: [prefix], arguments: gone)
            guard let values = reply.array, values.count == 2 else { continue }
            removed += values[0].int ?? 0
            // An empty index: the user has no sessions left. (A session created meanwhile re-adds the user; one
            // whose SADD this SREM overtakes is still bounded by its index's TTL.)
            if values[1].int == 0 { _ = try await redis.send(RedisCommand("SREM", usersKey, owner)) }
        }
        return (removed, next)
    }

    // MARK: - Internals

    var usersKey: String { namespace + ":sessions:users" }
    func sessionPrefix(_ id: String) -> String { "\(namespace):{sess:\(id)}" }
    func userPrefix(tenant: String, user: String) -> String { "\(namespace):{su:\(LimitKeys.escape(tenant)):\(LimitKeys.escape(user))}:" }
    func ownerKey(tenant: String, user: String) -> String { tenant + "\n" + user }

    private func indexed(tenant: String, user: String) async throws -> [String] {
        try await redis.send(RedisCommand("ZRANGE", userPrefix(tenant: tenant, user: user) + "index", "0", "-1")).array?
            .compactMap(\.string) ?? []
    }

    static func isWellFormed(_ id: String) -> Bool { id.utf8.count == 32 && id.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) } }

    static func session(_ id: String, _ reply: RESPValue) -> Session? {
        guard let v = reply.array, v.count == 7, let tenant = v[0].string, let user = v[1].string, let data = v[2].string,
            let created = v[3].int, let seen = v[4].int, let expires = v[5].int, let idle = v[6].int
        else { return nil }
        return Session(
            id: id, tenant: tenant, user: user, data: data, createdAtMs: Int64(created), lastSeenAtMs: Int64(seen),
            expiresAtMs: Int64(expires), idleMs: Int64(idle))
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}

/// The session scripts. A session's key is `KEYS[1]` itself (its hash tag is the id); a user's index keys
/// hang off the user's prefix.
enum SessionScripts {
    static let now = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

        """
    /// KEYS: 1 user prefix. ARGV: id, ttl ms. Adds the id to the user's index (score: absolute deadline); the
    /// index lives a minute longer than its newest session, so it is bounded even without cleanup.
    static let index = RedisScript(
        "local P = KEYS[1]\n" + now + """
            redis.call('ZADD', P .. 'index', now + tonumber(ARGV[2]), ARGV[1])
            redis.call('PEXPIRE', P .. 'index', tonumber(ARGV[2]) + 60000)
            return 1
            """)
    /// KEYS: 1 session key. ARGV: tenant, user, data, ttl ms, idle ms. Reply `[now, absolute deadline]`.
    static let create = RedisScript(
        "local P = KEYS[1]\n" + now + """
            local expires = now + tonumber(ARGV[4])
            redis.call('HSET', P, 'tenant', ARGV[1], 'user', ARGV[2], 'data', ARGV[3], 'created', now, 'seen', now,
              'expires', expires, 'idle', ARGV[5])
            redis.call('PEXPIRE', P, math.min(tonumber(ARGV[5]), tonumber(ARGV[4])))
            return {now, expires}
            """)
    /// KEYS: 1 session key. ARGV: slide (1/0). Reply: `[tenant, user, data, created, seen, expires, idle]` or nil.
    static let get = RedisScript(
        "local P = KEYS[1]\n" + now + """
            local f = redis.call('HMGET', P, 'tenant', 'user', 'data', 'created', 'seen', 'expires', 'idle')
            if not f[1] then return false end
            local expires, idle, seen = tonumber(f[6]), tonumber(f[7]), tonumber(f[5])
            if now >= expires or now >= seen + idle then
              redis.call('DEL', P)
              return false
            end
            if ARGV[1] == '1' then
              seen = now
              redis.call('HSET', P, 'seen', now)
              redis.call('PEXPIRE', P, math.min(idle, expires - now))
            end
            return {f[1], f[2], f[3], tonumber(f[4]), seen, expires, idle}
            """)
    /// KEYS: 1 session key. ARGV: data. Reply 1, or 0 when gone.
    static let update = RedisScript(
        "local P = KEYS[1]\n" + """
            if redis.call('EXISTS', P) == 0 then return 0 end
            redis.call('HSET', P, 'data', ARGV[1])
            return 1
            """)
    /// KEYS: 1 session key. Deletes it; reply `[tenant, user]` or nil when gone.
    static let revoke = RedisScript(
        "local P = KEYS[1]\n" + """
            local f = redis.call('HMGET', P, 'tenant', 'user')
            if not f[1] then return false end
            redis.call('DEL', P)
            return {f[1], f[2]}
            """)
    /// KEYS: 1 user prefix. ARGV: ids of sessions found gone. Removes them and the entries past their absolute
    /// deadline; reply `[entries removed, entries left]`.
    static let prune = RedisScript(
        "local P = KEYS[1]\n" + now + """
            local removed = redis.call('ZREMRANGEBYSCORE', P .. 'index', '-inf', now)
            for i = 1, #ARGV do removed = removed + redis.call('ZREM', P .. 'index', ARGV[i]) end
            return {removed, redis.call('ZCARD', P .. 'index')}
            """)
}

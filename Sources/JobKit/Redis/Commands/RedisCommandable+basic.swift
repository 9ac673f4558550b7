import NIOCore

extension RedisCommandable {
    /// Sends a command built from its word and string arguments.
    @discardableResult
    public func send(_ name: String, _ arguments: String...) async throws -> RESPValue {
        try await send(RedisCommand(name, strings: arguments))
    }

    /// `PING`.
    public func ping() async throws {
        _ = try await send(RedisCommand("PING"))
    }

    /// `GET key`.
    public func get(_ key: String) async throws -> ByteBuffer? {
        try await send(RedisCommand("GET", key)).buffer
    }

    /// `SET key value`.
    public func set(_ key: String, _ value: some RESPArgument) async throws {
        _ = try await send(RedisCommand("SET", key, value))
    }

    /// `DEL key...`; returns how many keys were removed.
    @discardableResult
    public func del(_ keys: [String]) async throws -> Int {
        try await send(RedisCommand("DEL", strings: keys)).int ?? 0
    }

    /// `PUBLISH channel message`; returns how many subscribers received it.
    @discardableResult
    public func publish(_ channel: String, _ message: some RESPArgument) async throws -> Int {
        try await send(RedisCommand("PUBLISH", channel, message)).int ?? 0
    }

    /// The server's clock (`TIME`) in milliseconds since the Unix epoch.
    public func timeMilliseconds() async throws -> Int64 {
        let reply = try await send(RedisCommand("TIME"))
        guard let parts = reply.array, parts.count == 2, let s = parts[0].int, let us = parts[1].int else {
            throw RedisError(.unexpectedReply, "TIME did not return two integers")
        }
        return Int64(s) * 1000 + Int64(us) / 1000
    }

    /// Deletes every key that matches `pattern`, by `SCAN` (never `KEYS`); returns how many were deleted.
    /// On a cluster pool, every primary is scanned, and keys are deleted one `UNLINK` each (a multi-key `DEL`
    /// would cross slots).
    @discardableResult
    public func deleteKeys(matching pattern: String) async throws -> Int {
        let pool = self as? RedisPool
        let servers = try await pool?.keyServers() ?? [self]
        let cluster = pool?.isCluster ?? false
        var deleted = 0
        for server in servers {
            var cursor = "0"
            repeat {
                let reply = try await server.send(RedisCommand("SCAN", strings: [cursor, "MATCH", pattern, "COUNT", "1000"]))
                guard let parts = reply.array, parts.count == 2, let next = parts[0].string, let keys = parts[1].array
                else { throw RedisError(.unexpectedReply, "SCAN reply malformed") }
                cursor = next
                let names = keys.compactMap(\.string)
                if names.isEmpty { continue }
                if cluster {
                    let replies = try await server.pipeline(names.map { RedisCommand("UNLINK", $0) })
                    if let failure = replies.first(where: { if case .error = $0 { true } else { false } }), case .error(let text) = failure {
                        // A key that moved (MOVED after a resharding or failover) is not silently left behind.
                        throw RedisError(.serverError, "UNLINK: \(String(buffer: text))")
                    }
                    deleted += replies.reduce(0) { $0 + ($1.int ?? 0) }
                } else {
                    deleted += try await del(names)
                }
            } while cursor != "0"
        }
        return deleted
    }
}

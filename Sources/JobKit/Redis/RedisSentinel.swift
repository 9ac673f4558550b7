import NIOCore

/// Asks Redis Sentinel where the primary of a `redis+sentinel://` URL is. A ``RedisConnection`` does so before every
/// connect, and checks with `ROLE` that the node it reached is still a primary, so after a failover (`+switch-master`)
/// its next reconnect lands on the new primary; a connection that meets `READONLY` (it still talks to the demoted
/// primary) closes its channel so that the next command reconnects.
enum RedisSentinel {
    /// The primary's address from the first sentinel that answers, starting with sentinel `attempt` (mod their
    /// number), so consecutive failed connects ask different sentinels.
    ///
    /// - Throws: `RedisError` `connectionClosed` when no sentinel names a primary.
    static func primary(
        of configuration: RedisConfiguration, attempt: Int, eventLoop: any EventLoop
    ) async throws -> RedisURL.Endpoint {
        let url = configuration.url
        let master = url.sentinelMaster ?? ""
        var lastError: (any Error)?
        for i in 0..<url.sentinels.count {
            let sentinel = url.sentinels[(attempt + i) % url.sentinels.count]
            var config = RedisConfiguration(
                url: RedisURL(
                    endpoint: sentinel, username: url.sentinelUsername, password: url.sentinelPassword, database: 0, tls: url.tls),
                logger: configuration.logger)
            config.connectTimeout = configuration.connectTimeout
            config.commandTimeout = configuration.connectTimeout
            config.tcpKeepAlive = nil
            let connection = RedisConnection(configuration: config, eventLoop: eventLoop)
            defer { connection.closeNow() }
            do {
                let reply = try await connection.send(RedisCommand("SENTINEL", "get-master-addr-by-name", master))
                guard let parts = reply.array, parts.count == 2, let host = parts[0].string,
                    let port = parts[1].string.flatMap(Int.init) ?? parts[1].int
                else {
                    lastError = RedisError(.unexpectedReply, "sentinel \(sentinel) does not know master '\(master)'")
                    continue
                }
                return .tcp(host: host, port: port)
            } catch {
                lastError = error
            }
        }
        throw RedisError(
            .connectionClosed, "no sentinel named a primary for '\(master)' (\(url.sentinels.count) asked)", underlying: lastError)
    }
}

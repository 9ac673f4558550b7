/// Anything that can send Redis commands: a ``RedisConnection`` or a ``RedisPool``.
public protocol RedisCommandable: Sendable {
    /// Sends one command; an error reply is thrown as `RedisError` with code `serverError`.
    func send(_ command: RedisCommand) async throws -> RESPValue
    /// Sends commands as one batch; error replies come back in place as `.error` values.
    func pipeline(_ commands: [RedisCommand]) async throws -> [RESPValue]
}

/// The result of a health check: round-trip latency and what the server says about itself.
public struct RedisHealth: Sendable {
    /// Time for one `PING` round trip.
    public var latency: Duration
    /// `redis_version` from `INFO server`.
    public var version: String
    /// `role` from `INFO replication`: `master` or `slave`.
    public var role: String
    /// `used_memory` from `INFO memory`, in bytes.
    public var usedMemoryBytes: Int
    /// `maxmemory_policy` from `INFO memory` (`noeviction` is the only safe policy for a job queue).
    public var maxMemoryPolicy: String
}

extension RedisCommandable {
    /// Measures a `PING` round trip and reads version, role and memory from `INFO`.
    ///
    /// - Throws: `RedisError` when the server can't be reached or answers with an error.
    public func healthCheck() async throws -> RedisHealth {
        let clock = ContinuousClock()
        let start = clock.now
        try await ping()
        let latency = clock.now - start
        let info = try await send(RedisCommand("INFO", strings: ["server", "replication", "memory"])).string ?? ""
        var fields: [Substring: Substring] = [:]
        for line in info.split(whereSeparator: { $0 == "\r\n" || $0 == "\n" || $0 == "\r" }) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon]] = line[line.index(after: colon)...]
        }
        return RedisHealth(
            latency: latency,
            version: String(fields["redis_version"] ?? "unknown"),
            role: String(fields["role"] ?? "unknown"),
            usedMemoryBytes: Int(fields["used_memory"] ?? "") ?? 0,
            maxMemoryPolicy: String(fields["maxmemory_policy"] ?? "unknown"))
    }
}

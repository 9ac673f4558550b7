/// What JobKit needs of its Redis server, and the check that a node and the CLI run at start.
///
/// The oldest supported version is 7.0. The queue scripts alone need 5.0 (`ZPOPMIN`, streams with
/// `XADD … MAXLEN ~`, and writes after `TIME`, which needs script effects replication, the default from
/// 5.0); the worker's `BLPOP` with a fractional timeout needs 6.0; the node's health check reads
/// `INFO server replication memory`, several sections in one call, which needs 7.0.
public enum RedisRequirements {
    /// The oldest Redis version JobKit runs on, as (major, minor, patch).
    public static let minimumVersion = (major: 7, minor: 0, patch: 0)

    /// ``minimumVersion`` as text, `7.0.0`.
    public static var minimumVersionText: String {
        "\(minimumVersion.major).\(minimumVersion.minor).\(minimumVersion.patch)"
    }

    /// Reads `redis_version` from `INFO server` and checks it against ``minimumVersion``.
    ///
    /// Call it once when a process starts, before it relies on the scripts: on an older server a script
    /// fails only when it first runs, with an error that does not say why.
    ///
    /// - Parameter redis: the pool or connection to check.
    /// - Returns: the server's version text, for example `7.2.4`.
    /// - Throws: `QueueError` with code `unsupportedRedis` when the server is older than 7.0.0 or its
    ///   `INFO server` reply carries no `redis_version`; `RedisError` when it can't be reached.
    @discardableResult
    public static func check(_ redis: some RedisCommandable) async throws -> String {
        let info = try await redis.send(RedisCommand("INFO", "server")).string ?? ""
        let version = Self.version(fromInfo: info)
        if let problem = Self.problem(version: version) { throw QueueError(.unsupportedRedis, problem) }
        return version ?? ""
    }

    /// The `redis_version` field of an `INFO` reply.
    static func version(fromInfo info: String) -> String? {
        for line in info.split(whereSeparator: { $0 == "\r\n" || $0 == "\n" || $0 == "\r" })
        where line.hasPrefix("redis_version:") {
            return String(line.dropFirst("redis_version:".count))
        }
        return nil
    }

    /// Why `version` is not supported, or `nil` when it is.
    static func problem(version: String?) -> String? {
        guard let version else {
            return "Redis did not report its version (INFO server has no redis_version); JobKit needs Redis \(minimumVersionText) or newer"
        }
        let parts = version.split(separator: ".").map { Int($0.prefix { $0.isNumber }) }
        guard parts.count >= 2, let major = parts[0], let minor = parts[1] else {
            return "cannot read Redis version '\(version)'; JobKit needs Redis \(minimumVersionText) or newer"
        }
        let patch = parts.count > 2 ? parts[2] ?? 0 : 0
        let m = minimumVersion
        if (major, minor, patch) < (m.major, m.minor, m.patch) {
            return "Redis \(version) is too old: JobKit needs Redis \(minimumVersionText) or newer"
        }
        return nil
    }
}

/// A queue's counts and the age of its oldest ready job, by Redis time: what the health report, `jobnode top`
/// and the dashboard show per queue, read for every queue in one pipeline (``JobQueue/snapshots(_:)``).
public struct QueueSnapshot: Sendable, Equatable {
    public var counts: QueueCounts
    /// How long the oldest ready job (over every priority band) has waited, in ms; `nil` with none ready.
    public var oldestReadyAgeMs: Int64?

    /// How many commands ``commands(_:)`` makes per queue.
    public static let commandCount = QueueCounts.commandCount + 1

    /// The commands that read one queue's snapshot (the counts, then ``QueueScripts/oldestReady``), for callers
    /// that send them inside a larger pipeline; send with `pipeline(_:loading: [QueueSnapshot.script])`.
    public static func commands(_ keys: QueueKeys) -> [RedisCommand] {
        QueueCounts.commands(keys) + [QueueScripts.oldestReady.evalsha(keys: [keys.prefix], arguments: [])]
    }

    /// The script the commands use (for `pipeline(_:loading:)`).
    public static var script: RedisScript { QueueScripts.oldestReady }

    /// Parses the replies of ``commands(_:)`` for queue `name`.
    ///
    /// - Throws: `RedisError` for an error reply.
    public init(name: String, replies: ArraySlice<RESPValue>) throws {
        let start = replies.startIndex
        counts = try QueueCounts(name: name, replies: replies[start..<(start + QueueCounts.commandCount)])
        let age = replies[start + QueueCounts.commandCount]
        if case .error(let text) = age { throw RedisError(.serverError, String(buffer: text)) }
        oldestReadyAgeMs = (age.int ?? -1) >= 0 ? Int64(age.int!) : nil
    }
}

extension QueueCounts {
    /// How many commands ``commands(_:)`` makes.
    public static let commandCount = 9

    /// The commands that read one queue's counts (one pipeline). They may be read from a replica
    /// (``RedisURL/readFromReplicas``): counts are a moment's view anyway.
    public static func commands(_ k: QueueKeys) -> [RedisCommand] {
        [
            RedisCommand("ZCARD", k.scheduled), RedisCommand("ZCARD", k.ready), RedisCommand("ZCARD", k.active),
            RedisCommand("ZCARD", k.retrying), RedisCommand("ZCARD", k.dead), RedisCommand("ZCARD", k.canceled),
            RedisCommand("EXISTS", k.paused), RedisCommand("HGET", k.stats, "completed"), RedisCommand("ZCARD", k.completed),
        ].map { $0.allowingReplica() }
    }

    /// Parses the replies of ``commands(_:)`` for queue `name`.
    ///
    /// - Throws: `RedisError` for an error reply.
    public init(name: String, replies r: ArraySlice<RESPValue>) throws {
        for reply in r { if case .error(let text) = reply { throw RedisError(.serverError, String(buffer: text)) } }
        let v = Array(r)
        self.init(
            name: name, scheduled: v[0].int ?? 0, ready: v[1].int ?? 0, active: v[2].int ?? 0, retrying: v[3].int ?? 0,
            dead: v[4].int ?? 0, canceled: v[5].int ?? 0, paused: v[6].int == 1, completed: v[7].int ?? 0,
            completedRetained: v[8].int ?? 0)
    }
}

extension JobQueue {
    /// The snapshot of each of `names` (every known queue when `nil`), in one pipeline.
    public func snapshots(_ given: [String]? = nil) async throws -> [QueueSnapshot] {
        let names: [String]
        if let given { names = given } else { names = try await queueNames() }
        guard !names.isEmpty else { return [] }
        let replies = try await redis.pipeline(names.flatMap { QueueSnapshot.commands(keys($0)) }, loading: [QueueSnapshot.script])
        let n = QueueSnapshot.commandCount
        return try names.enumerated().map { i, name in try QueueSnapshot(name: name, replies: replies[(i * n)..<(i * n + n)]) }
    }
}

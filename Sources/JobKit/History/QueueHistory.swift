/// Reads the metrics history the nodes write with their heartbeats: per queue and job name, per minute
/// for 48 hours and per hour for 30 days. It survives restarts of every node (it lives in Redis).
public struct QueueHistory: Sendable {
    public let redis: RedisPool
    public let keys: HistoryKeys

    public init(redis: RedisPool, namespace: String = "jobkit") {
        self.redis = redis
        self.keys = HistoryKeys(namespace: namespace)
    }

    /// The span of a bucket.
    public enum Resolution: String, Sendable {
        case minute = "m"
        case hour = "h"

        /// How many buckets are kept.
        public var retained: Int { self == .minute ? 48 * 60 : 30 * 24 }
    }

    /// One bucket: its start (Redis time, ms) and its tallies by series.
    public struct Bucket: Sendable, Equatable {
        public var startMs: Int64
        public var series: [HistoryRecorder.Series: HistoryTally]

        /// The tallies of one queue (every job name), or of everything when `queue` is `nil`.
        public func total(queue: String?) -> HistoryTally {
            var out = HistoryTally()
            for (s, t) in series where queue == nil || s.queue == queue { out.merge(t) }
            return out
        }
    }

    /// The last `count` buckets of `resolution`, oldest first, ending with the current one; and Redis's time.
    ///
    /// - Throws: `RedisError`.
    public func buckets(_ resolution: Resolution, count: Int) async throws -> (nowMs: Int64, buckets: [Bucket]) {
        let n = max(1, min(count, resolution.retained))
        let reply = try await redis.run(HistoryScripts.read, keys: [keys.prefix], arguments: [resolution.rawValue, n])
        guard let v = reply.array, let now = v.first?.int else { throw RedisError(.unexpectedReply, "history reply malformed") }
        var out: [Bucket] = []
        out.reserveCapacity(n)
        var i = 1
        while i + 1 < v.count {
            var bucket = Bucket(startMs: Int64(v[i].int ?? 0), series: [:])
            let fields = v[i + 1].array ?? []
            var j = 0
            while j + 1 < fields.count {
                if let name = fields[j].string, let value = fields[j + 1].string.flatMap({ Int64($0) }) {
                    let parts = name.split(separator: Character(HistoryScripts.separator), maxSplits: 2, omittingEmptySubsequences: false)
                    if parts.count == 3 {
                        let s = HistoryRecorder.Series(queue: String(parts[0]), job: String(parts[1]))
                        bucket.series[s, default: HistoryTally()].add(suffix: parts[2], value)
                    }
                }
                j += 2
            }
            out.append(bucket)
            i += 2
        }
        return (Int64(now), out)
    }
}

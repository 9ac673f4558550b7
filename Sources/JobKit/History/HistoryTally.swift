/// What one queue and job name did in a span of time: completions, failures, and how long the jobs ran
/// and waited, as sums and as log₂ histograms (bucket `b` holds durations in `[2^(b-1), 2^b)` ms, bucket 0
/// holds 0 ms), from which percentiles are estimated to within a factor of two.
public struct HistoryTally: Sendable, Equatable {
    /// Attempts that completed.
    public var completed = 0
    /// Attempts that failed (thrown or timed out), whether they were retried or went dead.
    public var failed = 0
    /// Sum of the run times of completed and failed attempts (ms).
    public var runMsSum: Int64 = 0
    /// Sum of the enqueue→start waits of first attempts (ms).
    public var waitMsSum: Int64 = 0
    /// How many waits ``waitMsSum`` sums.
    public var waits = 0
    /// Run-time histogram, ``bucketCount`` buckets.
    public var runBuckets = [Int](repeating: 0, count: HistoryTally.bucketCount)
    /// Wait histogram, ``bucketCount`` buckets.
    public var waitBuckets = [Int](repeating: 0, count: HistoryTally.bucketCount)

    /// 24 buckets: the last holds everything from 2^22 ms (70 minutes) up.
    public static let bucketCount = 24

    public init() {}

    /// Attempts that ended (completed + failed).
    public var finished: Int { completed + failed }

    /// The bucket of a duration in ms.
    public static func bucket(_ ms: Int64) -> Int {
        guard ms > 0 else { return 0 }
        return min(bucketCount - 1, 64 - ms.leadingZeroBitCount)
    }

    /// The upper bound (ms) of bucket `b`.
    public static func upperBound(_ b: Int) -> Int64 { b == 0 ? 0 : Int64(1) << b }

    /// Adds another tally.
    public mutating func merge(_ other: HistoryTally) {
        completed += other.completed
        failed += other.failed
        runMsSum += other.runMsSum
        waitMsSum += other.waitMsSum
        waits += other.waits
        for b in 0..<Self.bucketCount {
            runBuckets[b] += other.runBuckets[b]
            waitBuckets[b] += other.waitBuckets[b]
        }
    }

    /// The run-time percentile `p` (0…1) as a bucket's upper bound in ms; `nil` with no runs.
    public func runPercentile(_ p: Double) -> Int64? { Self.percentile(runBuckets, p) }
    /// The wait percentile `p` (0…1) as a bucket's upper bound in ms; `nil` with no waits.
    public func waitPercentile(_ p: Double) -> Int64? { Self.percentile(waitBuckets, p) }

    static func percentile(_ buckets: [Int], _ p: Double) -> Int64? {
        let total = buckets.reduce(0, +)
        guard total > 0 else { return nil }
        let rank = max(1, Int((Double(total) * p).rounded(.up)))
        var seen = 0
        for (b, n) in buckets.enumerated() {
            seen += n
            if seen >= rank { return upperBound(b) }
        }
        return upperBound(bucketCount - 1)
    }

    /// The tally as hash fields and increments (`<prefix>d`, `f`, `r`, `w`, `wn`, `r<b>`, `w<b>`), zeros left out.
    func fields(prefix: String) -> [(String, Int64)] {
        var out: [(String, Int64)] = []
        if completed != 0 { out.append((prefix + "d", Int64(completed))) }
        if failed != 0 { out.append((prefix + "f", Int64(failed))) }
        if runMsSum != 0 { out.append((prefix + "r", runMsSum)) }
        if waitMsSum != 0 { out.append((prefix + "w", waitMsSum)) }
        if waits != 0 { out.append((prefix + "wn", Int64(waits))) }
        for b in 0..<Self.bucketCount {
            if runBuckets[b] != 0 { out.append((prefix + "r\(b)", Int64(runBuckets[b]))) }
            if waitBuckets[b] != 0 { out.append((prefix + "w\(b)", Int64(waitBuckets[b]))) }
        }
        return out
    }

    /// Adds one stored field (`suffix` as written by ``fields(prefix:)``).
    mutating func add(suffix: Substring, _ value: Int64) {
        switch suffix {
        case "d": completed += Int(value)
        case "f": failed += Int(value)
        case "r": runMsSum += value
        case "w": waitMsSum += value
        case "wn": waits += Int(value)
        default:
            guard let kind = suffix.first, let b = Int(suffix.dropFirst()), b >= 0, b < Self.bucketCount else { return }
            if kind == "r" { runBuckets[b] += Int(value) } else if kind == "w" { waitBuckets[b] += Int(value) }
        }
    }
}

import Synchronization

/// A node's tallies since its last heartbeat, by queue and job name. The worker adds to it as attempts
/// end (one lock, no I/O); the heartbeat takes it and writes it to Redis in its own round trip
/// (``HistoryScripts/record``), so the history costs no round trip per job.
public final class HistoryRecorder: Sendable {
    /// A queue and a job name (`unregistered` for names no handler has, so the set stays bounded).
    public struct Series: Sendable, Hashable {
        public var queue: String
        public var job: String
        public init(queue: String, job: String) {
            self.queue = queue
            self.job = job
        }
    }

    private let tallies = Mutex<[Series: HistoryTally]>([:])

    public init() {}

    /// Records one ended attempt: completed or failed, its run time, and its wait when it was a first attempt.
    func record(_ series: Series, completed: Bool, runMs: Int64, waitMs: Int64?) {
        tallies.withLock { t in
            var tally = t[series] ?? HistoryTally()
            if completed { tally.completed += 1 } else { tally.failed += 1 }
            tally.runMsSum += runMs
            tally.runBuckets[HistoryTally.bucket(runMs)] += 1
            if let waitMs {
                tally.waitMsSum += waitMs
                tally.waits += 1
                tally.waitBuckets[HistoryTally.bucket(waitMs)] += 1
            }
            t[series] = tally
        }
    }

    /// Takes every tally (leaving none).
    func take() -> [Series: HistoryTally] {
        tallies.withLock { t in
            defer { t = [:] }
            return t
        }
    }

    /// Puts back tallies whose write failed, so the next heartbeat writes them.
    func putBack(_ taken: [Series: HistoryTally]) {
        guard !taken.isEmpty else { return }
        tallies.withLock { t in
            for (series, tally) in taken { t[series, default: HistoryTally()].merge(tally) }
        }
    }
}

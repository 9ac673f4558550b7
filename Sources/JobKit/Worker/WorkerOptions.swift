/// How a ``Worker`` claims and runs jobs.
public struct WorkerOptions: Sendable {
    /// One queue and its weight.
    public struct QueueWeight: Sendable, Hashable {
        public var name: String
        public var weight: Int
        public init(_ name: String, weight: Int = 1) {
            self.name = name
            self.weight = max(1, weight)
        }
    }

    /// The queues to claim from.
    public var queues: [QueueWeight]
    /// Claim in the listed order (a queue runs only when those before it are empty) instead of by weight.
    public var strict: Bool = false
    /// Jobs run at once.
    public var concurrency: Int = 10
    /// This node's id: unique per process start. Written into each claimed job.
    public var nodeID: String
    /// How long a claim holds a job before another node may take it over (renewed every ``renewInterval``).
    public var leaseDuration: Duration = .seconds(30)
    /// How often held leases are renewed: a third of ``leaseDuration`` unless set (a node agent that
    /// renews with its heartbeat sets it to the heartbeat interval). It must be at most a third of the
    /// lease, so that a renewal can be late twice, or be held up by a Redis pause of up to two intervals
    /// (which the queue clock absorbs), before a lease runs out; ``validate()`` refuses anything else.
    public var renewInterval: Duration {
        get { renewIntervalOverride ?? leaseDuration / 3 }
        set { renewIntervalOverride = newValue }
    }
    private var renewIntervalOverride: Duration?
    /// How many times a job's lease may be lost (its node died or stopped renewing) before the job is
    /// `dead`. Lost leases do not use up attempts: a job that kills its node every time would otherwise
    /// run forever.
    public var maxLeaseExpiries: Int = 3
    /// Leases are renewed by a ``NodeAgent`` together with its heartbeat (one round trip), not by the
    /// worker's own timer.
    public var leasesRenewedByNode: Bool = false
    /// How often a ``JobNode``'s ``Reaper`` looks for expired leases (a bare worker does not reap).
    public var reapInterval: Duration = .seconds(5)
    /// Execution timeout for jobs that set none (enqueue option) and whose registration sets none.
    public var defaultTimeout: Duration = .seconds(300)
    /// On shutdown, how long running jobs may take to finish before they are canceled and handed back.
    public var shutdownGrace: Duration = .seconds(30)
    /// How long a job that ignores cancellation is waited for before its slot is taken back.
    public var cancellationGrace: Duration = .seconds(5)
    /// Exit once the queues are empty and nothing runs (RQ's burst mode). Retries due within a minute are
    /// waited for; jobs scheduled further out are left for a later run.
    public var burst: Bool = false
    /// Longest blocking wait for new work, so that scheduled jobs are seen even without a wake marker.
    public var maxIdleWait: Duration = .seconds(5)

    public init(queues: [QueueWeight], concurrency: Int = 10, nodeID: String) {
        self.queues = queues
        self.concurrency = max(1, concurrency)
        self.nodeID = nodeID
    }

    /// Checks that the options work together.
    ///
    /// - Throws: `QueueError` `.invalidOptions` naming the option: a lease under 100 ms, a renewal interval
    ///   longer than a third of the lease, no queues, non-positive timeouts or expiry cap.
    public func validate() throws {
        guard !queues.isEmpty else { throw QueueError(.invalidOptions, "no queues given") }
        guard leaseDuration >= .milliseconds(100) else {
            throw QueueError(.invalidOptions, "leaseDuration must be at least 100 ms (got \(leaseDuration))")
        }
        guard renewInterval > .zero, renewInterval * 3 <= leaseDuration else {
            throw QueueError(
                .invalidOptions,
                "renewInterval (\(renewInterval)) must be positive and at most a third of leaseDuration (\(leaseDuration))")
        }
        guard reapInterval > .zero, defaultTimeout > .zero, maxIdleWait > .zero else {
            throw QueueError(.invalidOptions, "reapInterval, defaultTimeout and maxIdleWait must be positive")
        }
        guard maxLeaseExpiries >= 1 else { throw QueueError(.invalidOptions, "maxLeaseExpiries must be at least 1") }
    }

    /// Parses `a:5,b:1` (weights default to 1).
    public static func parseQueues(_ text: String) throws -> [QueueWeight] {
        var out: [QueueWeight] = []
        for item in text.split(separator: ",") {
            let parts = item.split(separator: ":")
            let name = String(parts[0]).trimmingCharacters(in: " ")
            guard QueueName.isValid(name) else {
                throw QueueError(.invalidOptions, "invalid queue name '\(name)' in '\(text)'")
            }
            var weight = 1
            if parts.count == 2 {
                guard let w = Int(parts[1]), w >= 1 else {
                    throw QueueError(.invalidOptions, "weight of queue '\(name)' must be a positive integer")
                }
                weight = w
            } else if parts.count > 2 {
                throw QueueError(.invalidOptions, "cannot parse queue '\(item)' (use name or name:weight)")
            }
            out.append(QueueWeight(name, weight: weight))
        }
        guard !out.isEmpty else { throw QueueError(.invalidOptions, "no queues given") }
        return out
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}

/// How long to wait before retrying a Redis write that failed `failures` times in a row: 100 ms doubling to 5 s.
func retryDelay(afterFailures failures: Int) -> Duration {
    .milliseconds(min(5000, 50 << min(max(failures, 1), 7)))
}

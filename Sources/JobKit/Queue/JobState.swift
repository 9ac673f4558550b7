/// Where a job is in its life.
public enum JobState: String, Sendable, Codable, CaseIterable {
    /// Waiting for its run-at time.
    case scheduled
    /// Waiting for a worker.
    case ready
    /// Claimed by a worker and running under a lease.
    case active
    /// Failed an attempt and waiting out its backoff before the next.
    case retrying
    /// Finished successfully.
    case completed
    /// Failed its last attempt, or could not run at all (unknown name, undecodable payload).
    case dead
    /// Canceled by an operator or a producer.
    case canceled

    /// True for `completed`, `dead` and `canceled`.
    public var isTerminal: Bool { self == .completed || self == .dead || self == .canceled }
}

import Logging

/// What a job handler knows about the job it runs.
public struct JobContext: Sendable {
    /// The job's id.
    public let id: String
    /// The job's name.
    public let name: String
    /// The queue it came from.
    public let queue: String
    /// This attempt's number, from 1.
    public let attempt: Int
    /// Attempts allowed in total.
    public let maxAttempts: Int
    public let tenantID: String?
    public let correlationID: String?
    /// When the job was enqueued (Redis time, ms since the Unix epoch).
    public let enqueuedAtMs: Int64
    /// A logger that already carries `job.id`, `job.name`, `job.attempt`, `queue.name`, `tenant.id` and
    /// `correlation.id` (built on first use, so that jobs that never log don't pay for it).
    public var logger: Logger {
        var l = baseLogger
        l[metadataKey: "job.id"] = "\(id)"
        l[metadataKey: "job.name"] = "\(name)"
        l[metadataKey: "job.attempt"] = "\(attempt)"
        l[metadataKey: "queue.name"] = "\(queue)"
        if let tenantID { l[metadataKey: "tenant.id"] = "\(tenantID)" }
        if let correlationID { l[metadataKey: "correlation.id"] = "\(correlationID)" }
        return l
    }
    let baseLogger: Logger
    /// The node's namespace (for jobs that write their own keys).
    public let namespace: String
    /// The node's Redis pool (for diagnostic jobs; domain jobs keep their own clients).
    public let redis: RedisPool
}

/// Throw from a handler to run the job again after `delay` without using up an attempt (rate limits,
/// `Retry-After`).
public struct JobRetryLater: Error, Sendable {
    public var delay: Duration
    public var reason: String
    public init(after delay: Duration, reason: String = "retry later") {
        self.delay = delay
        self.reason = reason
    }
}

/// Thrown by a handler wrapper when the payload does not decode: the job goes to `dead` without retries.
public struct JobPayloadError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

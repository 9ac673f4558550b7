import Logging
import NIOPosix

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
    /// A logger that already carries `job.id`, `job.name`, `attempt`, `queue`, `tenant`, `correlation.id`
    /// and the worker's `node.id` (built on first use, so that jobs that never log don't pay for it). The
    /// worker's own line about the attempt's outcome adds `duration_ms`.
    public var logger: Logger {
        var l = baseLogger
        l[metadataKey: "job.id"] = "\(id)"
        l[metadataKey: "job.name"] = "\(name)"
        l[metadataKey: "attempt"] = "\(attempt)"
        l[metadataKey: "queue"] = "\(queue)"
        if let tenantID { l[metadataKey: "tenant"] = "\(tenantID)" }
        if let correlationID { l[metadataKey: "correlation.id"] = "\(correlationID)" }
        return l
    }
    let baseLogger: Logger
    /// The node's namespace (for jobs that write their own keys).
    public let namespace: String
    /// The node's Redis pool (for diagnostic jobs; domain jobs keep their own clients).
    public let redis: RedisPool
    /// The worker's handle of this attempt (nil for contexts made outside a worker).
    let control: JobControl?

    /// Tells the worker that the job's work is done. A handler that returns normally after the worker
    /// asked it to stop (timeout, cancel, shutdown) is recorded with that outcome — timed out, canceled or
    /// handed back — not as completed, because a `for await` loop or a `try? await Task.sleep` ends
    /// normally on cancellation. Call this before returning when the work really finished anyway.
    public func markFinished() { control?.markFinished() }

    /// True once the worker asked this attempt to stop (timeout, cancel, shutdown, lost lease).
    public var isStopRequested: Bool { control?.reason != nil || Task.isCancelled }

    /// Runs blocking code (file I/O, a C library, a synchronous client) on NIO's thread pool, never on
    /// the cooperative pool or an event loop that also carries heartbeats, lease renewals and Redis I/O.
    ///
    /// > Important: a handler that blocks its thread without this stalls other jobs' tasks; JobKit keeps
    /// > the node's heartbeats and lease renewals on a thread of their own, but throughput suffers.
    public func runBlocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(body)
    }
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

/// Throw from a handler when running the job again cannot succeed (revoked credentials, a request the provider
/// refuses as such): the job goes to `dead` at once with `reason`, without using its remaining attempts.
public struct JobFatalError: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// Thrown by a handler wrapper when the payload does not decode: the job goes to `dead` without retries.
public struct JobPayloadError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

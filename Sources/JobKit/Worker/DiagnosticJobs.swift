import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// Jobs every node registers, for operators, tests and benchmarks.
public enum DiagnosticJobs {
    /// `jobkit.noop`: does nothing.
    public struct Noop: JobPayload {
        public static let jobName = "jobkit.noop"
        public init() {}
    }
    /// `jobkit.sleep {"ms": N, "mode": M}`: sleeps N ms. Modes, for testing how a node treats handlers:
    /// `cancellable` (default: throws when stopped), `ignore` (returns normally when stopped, like a
    /// `try? await Task.sleep`), `uncancellable` (sleeps the whole time whatever happens), `block` (blocks
    /// its thread, like blocking I/O would), `pool` (blocks a thread of ``JobContext/runBlocking(_:)``).
    public struct Sleep: JobPayload {
        public static let jobName = "jobkit.sleep"
        public var ms: Int
        public var mode: String?
        public init(ms: Int, mode: String? = nil) {
            self.ms = ms
            self.mode = mode
        }
    }
    /// `jobkit.fail {"times": N}`: fails the first N attempts, then succeeds; N < 0 always fails.
    public struct Fail: JobPayload {
        public static let jobName = "jobkit.fail"
        public var times: Int
        public init(times: Int) { self.times = times }
    }
    /// `jobkit.record {"key": K, "fail": N}`: appends `"<job id>:<attempt>"` to the list `<namespace>:diag:<K>`
    /// (at most 1,000,000 entries, expiring 24 h after the last append); then, when `fail` is given, fails
    /// attempts up to N (each recorded first), so that a soak counts a job's runs, failed ones included.
    public struct Record: JobPayload {
        public static let jobName = "jobkit.record"
        public var key: String
        public var fail: Int?
        public init(key: String, fail: Int? = nil) {
            self.key = key
            self.fail = fail
        }
    }

    /// The error `jobkit.fail` throws.
    public struct DeliberateFailure: Error, CustomStringConvertible {
        public var attempt: Int
        public var description: String { "jobkit.fail: deliberate failure on attempt \(attempt)" }
    }

    /// Registers the four diagnostic jobs.
    public static func register(in registry: JobRegistry) {
        // noop and record skip JSON decoding: they sit on the benchmark's hot path.
        registry.registerRaw(Noop.jobName) { _, _ in ByteBuffer() }
        registry.register(Sleep.self) { job, context in
            switch job.mode ?? "cancellable" {
            case "ignore":
                try? await Task.sleep(for: .milliseconds(job.ms))
            case "uncancellable":
                let end = ContinuousClock.now + .milliseconds(job.ms)
                while ContinuousClock.now < end {
                    // A detached sleep does not see this task's cancellation.
                    await Task.detached { try? await Task.sleep(until: end, clock: .continuous) }.value
                }
            case "block":
                usleep(UInt32(min(job.ms, 600_000)) * 1000)
            case "pool":
                _ = try await context.runBlocking { usleep(UInt32(min(job.ms, 600_000)) * 1000) }
            default:
                try await Task.sleep(for: .milliseconds(job.ms))
            }
        }
        registry.register(Fail.self) { job, context in
            if job.times < 0 || context.attempt <= job.times { throw DeliberateFailure(attempt: context.attempt) }
        }
        registry.register(Record.self) { job, context in
            // Bounded like every key JobKit writes: at most 1,000,000 entries, kept 24 h after the last one.
            let key = QueueKeys.diagnostics(namespace: context.namespace, key: job.key)
            let replies = try await context.redis.pipeline([
                RedisCommand("RPUSH", key, "\(context.id):\(context.attempt)"),
                RedisCommand("LTRIM", key, -1_000_000, -1),
                RedisCommand("PEXPIRE", key, 86_400_000),
            ])
            if case .error(let text) = replies[0] { throw RedisError(.serverError, String(buffer: text)) }
            if let fail = job.fail, context.attempt <= fail { throw DeliberateFailure(attempt: context.attempt) }
        }
    }
}

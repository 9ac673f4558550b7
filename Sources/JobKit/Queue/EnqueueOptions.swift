/// How to enqueue one job. Every field has a default; set only what you need.
public struct EnqueueOptions: Sendable {
    /// The queue (default `default`).
    public var queue: String = "default"
    /// Higher runs first; FIFO among equals. Range -999...999, default 0.
    public var priority: Int = 0
    /// Run no earlier than this long after enqueue (Redis time).
    public var delay: Duration?
    /// Run no earlier than this moment, in ms since the Unix epoch (Redis time). Wins over `delay`.
    public var runAtMilliseconds: Int64?
    /// Attempts in total, including the first (default 5). 1 means no retry.
    public var maxAttempts: Int = 5
    /// Wait between attempts (default exponential with full jitter, 1 s base, 1 h cap).
    public var backoff: Backoff = .default
    /// Execution timeout of one attempt; `nil` uses the worker's default for the job name.
    public var timeout: Duration?
    /// Deduplicates enqueues: while the key lives, enqueuing with it returns the first job's id.
    public var idempotencyKey: String?
    /// How long this job's idempotency key lives (default 24 h; at least 1 ms). Each job of a bulk enqueue
    /// keeps its own.
    public var idempotencyTTL: Duration = .seconds(86_400)
    /// The tenant the job belongs to (logs, cancellation by tenant).
    public var tenantID: String?
    /// Ties the job to a request or a workflow (logs).
    public var correlationID: String?

    public init(
        queue: String = "default", priority: Int = 0, delay: Duration? = nil, maxAttempts: Int = 5,
        backoff: Backoff = .default, timeout: Duration? = nil, idempotencyKey: String? = nil,
        tenantID: String? = nil, correlationID: String? = nil
    ) {
        self.queue = queue
        self.priority = priority
        self.delay = delay
        self.maxAttempts = maxAttempts
        self.backoff = backoff
        self.timeout = timeout
        self.idempotencyKey = idempotencyKey
        self.tenantID = tenantID
        self.correlationID = correlationID
    }

    /// Checks every option; throws `QueueError.invalidOptions` naming the bad one. The enqueue script checks
    /// the same again before its first write, so that no call can fail after writing part of its jobs.
    func validate() throws {
        guard (-999...999).contains(priority) else {
            throw QueueError(.invalidOptions, "priority \(priority) is out of range -999...999")
        }
        guard maxAttempts >= 1 else { throw QueueError(.invalidOptions, "maxAttempts must be at least 1") }
        guard QueueName.isValid(queue) else {
            throw QueueError(.invalidOptions, "queue name '\(queue)' must be 1-100 characters of a-z A-Z 0-9 . _ -")
        }
        if let delay, delay < .zero { throw QueueError(.invalidOptions, "delay \(delay) is negative") }
        if let runAtMilliseconds, runAtMilliseconds < 0 {
            throw QueueError(.invalidOptions, "runAtMilliseconds \(runAtMilliseconds) is negative")
        }
        if let timeout, timeout.milliseconds < 1 {
            throw QueueError(.invalidOptions, "timeout \(timeout) is under 1 ms (leave it nil for the worker's default)")
        }
        if let idempotencyKey, idempotencyKey.isEmpty {
            throw QueueError(.invalidOptions, "idempotencyKey is empty (leave it nil for none)")
        }
        guard idempotencyTTL.milliseconds >= 1 else {
            throw QueueError(.invalidOptions, "idempotencyTTL \(idempotencyTTL) is under 1 ms")
        }
        try backoff.validate()
    }
}

extension Backoff {
    /// Throws `QueueError.invalidOptions` for negative delays.
    func validate() throws {
        let delays: [Duration]
        switch kind {
        case .exponential(let base, let maximum): delays = [base, maximum]
        case .fixed(let delay): delays = [delay]
        case .none: delays = []
        }
        if let bad = delays.first(where: { $0 < .zero }) {
            throw QueueError(.invalidOptions, "backoff \(encoded) has a negative delay \(bad)")
        }
    }
}

/// Queue name rules: they appear inside Redis keys and hash tags.
enum QueueName {
    static func isValid(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 100
            && name.utf8.allSatisfy { c in
                (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
                    || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: ".")
                    || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
            }
    }
}

/// How long finished jobs are kept, per queue.
public struct RetentionPolicy: Sendable, Hashable {
    /// Keep at most this many records (0: delete at once).
    public var count: Int
    /// Keep each record at most this long.
    public var age: Duration

    public init(count: Int, age: Duration) {
        self.count = count
        self.age = age
    }

    /// Completed jobs: 10,000 records, 24 h.
    public static let completedDefault = RetentionPolicy(count: 10_000, age: .seconds(86_400))
    /// Dead jobs: 10,000 records, 7 days.
    public static let deadDefault = RetentionPolicy(count: 10_000, age: .seconds(7 * 86_400))
    /// Canceled jobs: 10,000 records, 24 h.
    public static let canceledDefault = RetentionPolicy(count: 10_000, age: .seconds(86_400))
    /// Keep nothing (fire-and-forget).
    public static let keepNothing = RetentionPolicy(count: 0, age: .zero)
}

/// A limit attached to work: on a queue, or on one job name in a queue, optionally per key (a template over
/// the job's tenant and payload), with a rate, a concurrency cap, or both. It is checked **inside the claim
/// script**: a job a limit denies never occupies a slot and is not counted as an attempt; a rate-limited job
/// goes to `scheduled` for the time the limiter gives (no spin), a job over a concurrency cap waits for a
/// permit (it is moved back to `ready` the moment one is released: on completion, failure, hand-back, lease
/// expiry or node death). All limits that apply to a job are checked first and spent only when all allow it.
///
/// Counters live under the queue's hash tag (`<ns>:{q}:rl:<name>:<key>:…`), so a limit on a job name counts per
/// queue that runs it. Definitions are stored in Redis (`<ns>:{q}:limits`), read by every claim: a change takes
/// effect on every node at its next claim.
public struct QueueLimit: Sendable, Hashable, Codable {
    /// Unique across the namespace.
    public var name: String
    public var queue: String
    /// Only jobs of this name (nil: every job of the queue).
    public var job: String?
    /// Key template: `{tenant}` is the job's tenant, `{field}` a top-level field of its JSON payload (missing: ``),
    /// anything else literal. Nil: one key for all.
    public var key: String?
    /// The rate, if any.
    public var rate: RateLimit?
    /// At most this many jobs running at once per key, if set.
    public var concurrency: Int?

    public init(
        name: String, queue: String, job: String? = nil, key: String? = nil, rate: RateLimit? = nil, concurrency: Int? = nil
    ) {
        self.name = name
        self.queue = queue
        self.job = job
        self.key = key
        self.rate = rate
        self.concurrency = concurrency
    }

    /// - Throws: ``LimitError`` naming what is wrong.
    public func validate() throws {
        guard !name.isEmpty, name.utf8.count <= 200 else { throw LimitError("a limit needs a name of 1 to 200 bytes") }
        guard !queue.isEmpty else { throw LimitError("limit '\(name)' needs a queue") }
        guard rate != nil || concurrency != nil else { throw LimitError("limit '\(name)' needs a rate, a concurrency cap, or both") }
        try rate?.validate()
        if let concurrency, concurrency < 1 { throw LimitError("limit '\(name)': concurrency must be at least 1") }
        if let key, key.isEmpty { throw LimitError("limit '\(name)': an empty key template (leave it out for one key)") }
    }

    /// The definition the claim script reads.
    struct Definition: Codable {
        var name: String
        var job: String?
        var key: String?
        var code: Int
        var limit: Int
        var period: Int64
        var burst: Int
        var concurrency: Int
        var strategy: String?
        var queue: String
    }

    var definition: Definition {
        Definition(
            name: name, job: job, key: key, code: rate?.code ?? 0, limit: rate?.limit ?? 0, period: rate?.periodMs ?? 0,
            burst: rate?.burst ?? 0, concurrency: concurrency ?? 0, strategy: rate?.strategy.rawValue, queue: queue)
    }

    init(_ d: Definition) {
        self.name = d.name
        self.queue = d.queue
        self.job = d.job
        self.key = d.key
        if let strategy = d.strategy.flatMap(RateLimit.Strategy.init(rawValue:)) {
            var rate = RateLimit(strategy, limit: d.limit, per: .milliseconds(d.period))
            rate.burst = d.burst > 0 ? d.burst : nil
            self.rate = rate
        }
        self.concurrency = d.concurrency > 0 ? d.concurrency : nil
    }
}

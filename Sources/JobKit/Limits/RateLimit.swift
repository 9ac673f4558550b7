/// A rate limit: how many units of cost a key may spend per period, and how that is judged.
///
/// - ``Strategy/fixedWindow``: at most `limit` per aligned window of `period` (windows start at multiples of
///   `period` since the Unix epoch, Redis time). Exact per window; up to 2 × `limit` can pass in a `period`
///   that straddles two windows.
/// - ``Strategy/slidingWindow``: at most `limit` in *any* interval of length `period`. Limits up to
///   ``slidingLogMaximum`` use a sliding log (one sorted-set entry per unit spent, exact); larger limits use a
///   weighted two-window counter (constant memory, approximate: see ``SlidingVariant/counter``).
/// - ``Strategy/tokenBucket``: GCRA with a bucket of `burst` (default `limit`) refilled at `limit` per
///   `period`: over any interval of length `t`, at most `burst + limit × t / period` pass.
public struct RateLimit: Sendable, Hashable, Codable {
    public enum Strategy: String, Sendable, Hashable, Codable, CaseIterable {
        case fixedWindow = "fixed-window"
        case slidingWindow = "sliding-window"
        case tokenBucket = "token-bucket"
    }

    /// Which sliding-window implementation a limit gets.
    public enum SlidingVariant: String, Sendable {
        /// One sorted-set entry per unit spent, expired by score: exact, memory `limit` entries per key.
        case log
        /// The previous and current fixed windows, the previous weighted by the part of it still inside the
        /// sliding interval: two counters per key. It assumes the previous window's units were spread evenly;
        /// when they bunched at its end, up to `limit × (1 + f)` can pass in one sliding interval, where `f` is
        /// the fraction of the previous window still inside the interval (so less than 2 × `limit`, and the
        /// long-run rate never exceeds `limit` per `period`).
        case counter
    }

    /// Sliding-window limits up to this use the exact log; larger ones the counter.
    public static let slidingLogMaximum = 1_000

    public var strategy: Strategy
    /// Units per period (for the token bucket: the refill rate).
    public var limit: Int
    /// The period, in ms.
    public var periodMs: Int64
    /// Token bucket only: the bucket's size (default `limit`).
    public var burst: Int?

    public init(_ strategy: Strategy, limit: Int, per period: Duration, burst: Int? = nil) {
        self.strategy = strategy
        self.limit = limit
        self.periodMs = period.milliseconds
        self.burst = burst
    }

    /// `limit` per `period` in a fixed window.
    public static func fixedWindow(_ limit: Int, per period: Duration) -> RateLimit { .init(.fixedWindow, limit: limit, per: period) }
    /// `limit` per `period` in any sliding interval.
    public static func slidingWindow(_ limit: Int, per period: Duration) -> RateLimit { .init(.slidingWindow, limit: limit, per: period) }
    /// `rate` per `period` with bursts of `burst`.
    public static func tokenBucket(_ rate: Int, per period: Duration, burst: Int? = nil) -> RateLimit {
        .init(.tokenBucket, limit: rate, per: period, burst: burst)
    }

    /// The sliding-window implementation this limit gets.
    public var slidingVariant: SlidingVariant { limit <= Self.slidingLogMaximum ? .log : .counter }

    /// Checks the values: limit ≥ 1, period ≥ 1 ms, burst ≥ 1 when set.
    ///
    /// - Throws: ``LimitError`` naming the bad value.
    public func validate() throws {
        guard limit >= 1 else { throw LimitError("the limit must be at least 1 (got \(limit))") }
        guard periodMs >= 1 else { throw LimitError("the period must be at least 1 ms") }
        if let burst, burst < 1 { throw LimitError("the burst must be at least 1 (got \(burst))") }
    }

    /// The strategy's code in the Lua scripts.
    var code: Int {
        switch strategy {
        case .fixedWindow: 1
        case .slidingWindow: slidingVariant == .log ? 2 : 3
        case .tokenBucket: 4
        }
    }
}

/// A limiter's answer.
public struct RateLimitDecision: Sendable, Equatable {
    /// The units were spent (``RateLimiter/acquire(_:cost:)``) or would be (``RateLimiter/peek(_:cost:)``).
    public var allowed: Bool
    /// Units left in the current window or bucket after this decision (0 when denied).
    public var remaining: Int
    /// When denied: how long until the same request would be allowed (Redis time). Zero when allowed.
    public var retryAfter: Duration
    /// When the decision was made (Redis time, ms since the Unix epoch).
    public var atMs: Int64
}

/// A limit, breaker, cache or session call that can't be made as asked.
public struct LimitError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

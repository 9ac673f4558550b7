/// A named rate limit shared by every node and caller through Redis: each decision is one script call that
/// reads Redis `TIME`, checks and (for ``acquire(_:cost:)``) spends atomically, so the limit holds exactly
/// however many processes ask at once. Keys are `<namespace>:{rl:<name>:<key>}:…`, one hash tag per limiter
/// key (see `docs/limits.md` for each strategy's keys and memory).
///
/// ```swift
/// let perItem = RateLimiter(redis: pool, name: "plaid.balances", limit: .tokenBucket(5, per: .seconds(60)))
/// let decision = try await perItem.acquire("item_42")
/// if !decision.allowed { throw JobRetryLater(after: decision.retryAfter, reason: "Plaid per-item limit") }
/// ```
public struct RateLimiter: Sendable {
    public let redis: RedisPool
    public let namespace: String
    /// The limit's name: one counter space per name.
    public let name: String
    public let limit: RateLimit

    public init(redis: RedisPool, namespace: String = "jobkit", name: String, limit: RateLimit) {
        self.redis = redis
        self.namespace = namespace
        self.name = name
        self.limit = limit
    }

    /// Spends `cost` units of `key` if the limit allows it; otherwise spends nothing and says when to retry.
    ///
    /// - Throws: ``LimitError`` when `cost` < 1 or can never pass (more than the limit or burst);
    ///   `RedisError` when Redis can't be reached.
    public func acquire(_ key: String, cost: Int = 1) async throws -> RateLimitDecision {
        try await decide(key, cost: cost, spend: true)
    }

    /// What ``acquire(_:cost:)`` would answer now, without spending.
    public func peek(_ key: String, cost: Int = 1) async throws -> RateLimitDecision {
        try await decide(key, cost: cost, spend: false)
    }

    /// The prefix of every Redis key of `key` under this limit.
    public func prefix(for key: String) -> String { LimitKeys(namespace: namespace).limiter(name, key: key) }

    private func decide(_ key: String, cost: Int, spend: Bool) async throws -> RateLimitDecision {
        guard cost >= 1 else { throw LimitError("cost must be at least 1 (got \(cost))") }
        try limit.validate()
        let reply = try await redis.run(
            LimitScripts.acquire, keys: [prefix(for: key)],
            arguments: [limit.code, limit.limit, Int(limit.periodMs), limit.burst ?? 0, cost, spend ? 1 : 0])
        guard let values = reply.array, values.count == 4, let allowed = values[0].int, let remaining = values[1].int,
            let retryMs = values[2].int, let at = values[3].int
        else { throw RedisError(.unexpectedReply, "rate limiter reply \(reply)") }
        if retryMs < 0 {
            throw LimitError("cost \(cost) can never pass limit '\(name)' (\(limit.burst ?? limit.limit) at most)")
        }
        return RateLimitDecision(allowed: allowed == 1, remaining: remaining, retryAfter: .milliseconds(retryMs), atMs: Int64(at))
    }
}

import JobKit
import JobKitTestSupport
import Testing

/// The three strategies against the shared Redis, from many concurrent callers on several connections (as
/// several nodes would be): each decision carries its Redis time, and the admitted ones are checked against the
/// strategy's guarantee.
@Suite("Rate limiters", .serialized)
struct RateLimiterTests {
    /// `callers` tasks over `pools` pools call `acquire` on one key until `duration` has passed; returns the
    /// Redis times (ms) of the admitted calls, sorted, and the number of calls.
    static func hammer(
        _ limit: RateLimit, namespace: String, callers: Int = 32, pools: Int = 4, duration: Duration
    ) async throws -> (admitted: [Int64], calls: Int) {
        var limiters: [RateLimiter] = []
        var opened: [RedisPool] = []
        for _ in 0..<pools {
            let pool = RedisPool(configuration: try TestEnvironment.redisConfiguration(), size: 1)
            // Connected (and on a cluster, the slot map read) before the clock starts.
            try await pool.warmUp()
            opened.append(pool)
            limiters.append(RateLimiter(redis: pool, namespace: namespace, name: "hammer", limit: limit))
        }
        let end = ContinuousClock.now + duration
        let results = try await withThrowingTaskGroup(of: ([Int64], Int).self) { group in
            for i in 0..<callers {
                let limiter = limiters[i % pools]
                group.addTask {
                    var admitted: [Int64] = []
                    var calls = 0
                    while ContinuousClock.now < end {
                        let d = try await limiter.acquire("item:1")
                        calls += 1
                        if d.allowed { admitted.append(d.atMs) }
                    }
                    return (admitted, calls)
                }
            }
            var all: [([Int64], Int)] = []
            for try await r in group { all.append(r) }
            return all
        }
        for pool in opened { await pool.close() }
        return (results.flatMap(\.0).sorted(), results.map(\.1).reduce(0, +))
    }

    @Test("fixed window: no window admits more than the limit, and a saturated window admits close to it")
    func fixedWindow() async throws {
        try await withTestNamespace { ns in
            let limit = RateLimit.fixedWindow(20, per: .milliseconds(200))
            let (admitted, calls) = try await Self.hammer(limit, namespace: ns, duration: .milliseconds(1300))
            #expect(calls > admitted.count, "demand must exceed the limit for the test to mean anything")
            let byWindow = Dictionary(grouping: admitted) { $0 / 200 }
            #expect(byWindow.values.allSatisfy { $0.count <= 20 }, "\(byWindow.mapValues(\.count))")
            // Inner windows (not the first and last, which the run only partly covers) are saturated.
            let windows = byWindow.keys.sorted().dropFirst().dropLast()
            #expect(windows.count >= 3)
            for w in windows { #expect(byWindow[w]!.count >= 19, "window \(w): \(byWindow[w]!.count)") }
        }
    }

    @Test("sliding window (log): no interval of the period's length admits more than the limit")
    func slidingLog() async throws {
        try await withTestNamespace { ns in
            let limit = RateLimit.slidingWindow(25, per: .milliseconds(300))
            #expect(limit.slidingVariant == .log)
            let (admitted, calls) = try await Self.hammer(limit, namespace: ns, duration: .milliseconds(1500))
            #expect(calls > admitted.count)
            // Every interval (t - 300, t] ending at an admission holds at most 25 admissions.
            var start = 0
            var worst = 0
            for (i, t) in admitted.enumerated() {
                while admitted[start] <= t - 300 { start += 1 }
                worst = max(worst, i - start + 1)
            }
            #expect(worst <= 25, "an interval of 300 ms admitted \(worst)")
            // Demand exceeds the limit: over the run, admissions come within a few percent of 25 per 300 ms.
            let span = Double(admitted.last! - admitted.first!)
            let expected = 25 * (span / 300 + 1)
            // (The lower bound is loose: under a loaded machine the hammering callers themselves fall behind.)
            #expect(Double(admitted.count) >= 0.75 * expected && Double(admitted.count) <= expected + 1, "\(admitted.count) vs \(expected)")
        }
    }

    @Test("token bucket: over any interval at most burst + rate × elapsed pass")
    func tokenBucket() async throws {
        try await withTestNamespace { ns in
            let limit = RateLimit.tokenBucket(50, per: .seconds(1), burst: 10)
            let (admitted, _) = try await Self.hammer(limit, namespace: ns, duration: .milliseconds(1200))
            // The bucket starts full: the first burst passes at once, then one per 20 ms.
            #expect(admitted.count >= 10 + 50 - 5 && admitted.count <= 10 + 60 + 1, "\(admitted.count)")
            for i in admitted.indices {
                for j in i..<admitted.count {
                    let allowed = 10 + Double(admitted[j] - admitted[i]) * 50 / 1000 + 1  // +1: ms rounding of Redis time
                    if Double(j - i + 1) > allowed {
                        Issue.record("\(j - i + 1) passed in \(admitted[j] - admitted[i]) ms")
                        return
                    }
                }
            }
        }
    }

    @Test("sliding window above the log's maximum uses the counter, whose long-run rate stays at the limit")
    func slidingCounter() async throws {
        try await withTestNamespace { ns in
            let limit = RateLimit.slidingWindow(2_000, per: .milliseconds(500))
            #expect(limit.slidingVariant == .counter)
            let (admitted, calls) = try await Self.hammer(limit, namespace: ns, duration: .milliseconds(1600))
            #expect(calls > admitted.count)
            // The counter's bound: never more than 2 × limit in one interval; over the whole run, the rate.
            let span = Double(admitted.last! - admitted.first!)
            #expect(Double(admitted.count) <= 2_000 * (span / 500 + 1) + 1, "\(admitted.count) in \(span) ms")
            var start = 0
            for (i, t) in admitted.enumerated() {
                while admitted[start] <= t - 500 { start += 1 }
                #expect(i - start + 1 < 4_000)
            }
        }
    }

    @Test("peek never spends; a denial says when to retry; a cost that can never pass is refused")
    func peekAndRetry() async throws {
        try await withTestNamespace { ns in
            let pool = RedisPool(configuration: try TestEnvironment.redisConfiguration(), size: 1)
            for strategy in RateLimit.Strategy.allCases {
                let limiter = RateLimiter(redis: pool, namespace: ns, name: "peek-\(strategy.rawValue)", limit: .init(strategy, limit: 3, per: .seconds(60)))
                for _ in 0..<5 { #expect(try await limiter.peek("k").allowed) }
                #expect(try await limiter.acquire("k", cost: 2).allowed)
                let last = try await limiter.acquire("k")
                #expect(last.allowed && last.remaining == 0, "\(strategy): \(last)")
                let denied = try await limiter.acquire("k")
                #expect(!denied.allowed)
                #expect(denied.retryAfter > .zero && denied.retryAfter <= .seconds(60), "\(strategy): \(denied)")
                #expect(try await limiter.peek("k").allowed == false)
                // Another key of the same limit is untouched; so is the same key string under another name.
                #expect(try await limiter.acquire("k2").allowed)
                await #expect(throws: LimitError.self) { try await limiter.acquire("k", cost: 4) }
                await #expect(throws: LimitError.self) { try await limiter.acquire("k", cost: 0) }
            }
            // Hostile keys: "a:b" under name "x" and "b" under name "x:a" stay apart.
            let a = RateLimiter(redis: pool, namespace: ns, name: "x", limit: .fixedWindow(1, per: .seconds(10)))
            let b = RateLimiter(redis: pool, namespace: ns, name: "x:a", limit: .fixedWindow(1, per: .seconds(10)))
            #expect(a.prefix(for: "a:b") != b.prefix(for: "b"))
            #expect(try await a.acquire("a:b").allowed)
            #expect(try await b.acquire("b").allowed)
            await pool.close()
        }
    }
}

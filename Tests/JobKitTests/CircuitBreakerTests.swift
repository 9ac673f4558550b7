import Foundation
import JobKit
import JobKitTestSupport
import Synchronization
import Testing

/// Circuit breakers driven by a fake dependency that fails on command and counts the calls that reach it.
@Suite("Circuit breakers")
struct CircuitBreakerTests {
    /// The fake dependency: answers, fails, or answers slowly, as told; counts calls.
    final class FakeService: Sendable {
        enum Mode: Sendable { case ok, fail, slow }
        struct Down: Error {}
        private let state = Mutex<(mode: Mode, calls: Int)>((.ok, 0))
        var calls: Int { state.withLock { $0.calls } }
        func set(_ mode: Mode) { state.withLock { $0.mode = mode } }
        func call() async throws -> String {
            let mode = state.withLock { s -> Mode in
                s.calls += 1
                return s.mode
            }
            switch mode {
            case .ok: return "ok"
            case .fail: throw Down()
            case .slow:
                try await Task.sleep(for: .milliseconds(60))
                return "slow"
            }
        }
    }

    static func policy(_ whenOpen: CircuitBreaker.Policy.WhenOpen = .failClosed) -> CircuitBreaker.Policy {
        var p = CircuitBreaker.Policy(whenOpen: whenOpen)
        p.windowSize = 10
        p.minimumCalls = 4
        p.openDuration = .milliseconds(300)
        p.halfOpenTrials = 2
        p.slowCallThreshold = .milliseconds(40)
        return p
    }

    @Test("closed → open after the failure rate over the minimum calls; refused at once while open; half-open trials → closed; a failed trial → open")
    func transitions() async throws {
        let fake = FakeService()
        let transitions = Locked<[CircuitBreaker.State]>([])
        let breaker = try CircuitBreaker(service: "fake", policy: Self.policy(), logger: TestEnvironment.logger)
        await breaker.setOnTransition { snap in transitions.withLock { $0.append(snap.state) } }

        // Three failures in three calls: under the minimum, still closed.
        fake.set(.fail)
        for _ in 0..<3 { await #expect(throws: FakeService.Down.self) { try await breaker.run { try await fake.call() } } }
        #expect(await breaker.snapshot().state == .closed)
        await #expect(throws: FakeService.Down.self) { try await breaker.run { try await fake.call() } }
        let open = await breaker.snapshot()
        #expect(open.state == .open && open.failureRate == 1 && open.calls == 4)
        #expect(open.nextAttemptAtMs != nil && open.openedAtMs != nil)

        // Open: refused at once, the dependency is not called.
        fake.set(.ok)
        let before = fake.calls
        let clock = ContinuousClock()
        let start = clock.now
        do {
            _ = try await breaker.run { try await fake.call() }
            Issue.record("an open breaker let a call through")
        } catch let error as CircuitOpenError {
            #expect(error.service == "fake" && error.retryAfter <= .milliseconds(300))
            #expect("\(error)".contains("serviceUnavailable"))
        }
        #expect(clock.now - start < .milliseconds(50))
        #expect(fake.calls == before)

        // After the open time (the cool-down is the subject here): two good trials close it.
        try await Task.sleep(for: .milliseconds(320))
        #expect(await breaker.snapshot().state == .halfOpen)
        #expect(try await breaker.run { try await fake.call() } == "ok")
        #expect(try await breaker.run { try await fake.call() } == "ok")
        #expect(await breaker.snapshot().state == .closed)

        // Slow calls count as failures: open again; a failed trial re-opens.
        fake.set(.slow)
        for _ in 0..<4 { _ = try? await breaker.run { try await fake.call() } }
        #expect(await breaker.snapshot().state == .open)
        try await Task.sleep(for: .milliseconds(320))
        fake.set(.fail)
        await #expect(throws: FakeService.Down.self) { try await breaker.run { try await fake.call() } }
        #expect(await breaker.snapshot().state == .open)
        #expect(transitions.withLock { $0 } == [.open, .halfOpen, .closed, .open, .halfOpen, .open])
    }

    @Test("policies: fail closed with retry throws JobRetryLater for the open time; fail open answers the fallback without calling")
    func policies() async throws {
        let fake = FakeService()
        fake.set(.fail)
        let plaid = try CircuitBreaker(service: "plaid", policy: Self.policy(.retryLater), logger: TestEnvironment.logger)
        for _ in 0..<4 { _ = try? await plaid.run { try await fake.call() } }
        do {
            _ = try await plaid.run { try await fake.call() }
            Issue.record("not refused")
        } catch let later as JobRetryLater {
            #expect(later.delay > .zero && later.delay <= .milliseconds(300))
        }

        let cache = try CircuitBreaker(service: "redis-cache", policy: Self.policy(.failOpen), logger: TestEnvironment.logger)
        for _ in 0..<4 { #expect(await cache.run({ try await fake.call() }, fallback: { "computed" }) == "computed") }
        #expect(await cache.snapshot().state == .open)
        let calls = fake.calls
        #expect(await cache.run({ try await fake.call() }, fallback: { "computed" }) == "computed")
        #expect(fake.calls == calls, "an open fail-open breaker still called the dependency")

        // Errors the caller does not count (a card decline) leave the breaker closed.
        let stripe = try CircuitBreaker(service: "stripe", policy: Self.policy(), logger: TestEnvironment.logger)
        for _ in 0..<6 {
            _ = try? await stripe.run(isFailure: { !($0 is FakeService.Down) }) { try await fake.call() }
        }
        #expect(await stripe.snapshot().state == .closed)
    }

    @Test("a node's board publishes each transition to Redis; jobnode breakers --json lists every node's breakers")
    func published() async throws {
        try await withTestNamespace { ns in
            let pool = RedisPool(configuration: try TestEnvironment.redisConfiguration(), size: 1)
            let board = BreakerBoard(redis: pool, namespace: ns, nodeID: "node-a", logger: TestEnvironment.logger)
            let other = BreakerBoard(redis: pool, namespace: ns, nodeID: "node-b", logger: TestEnvironment.logger)
            let plaid = await board.breaker("plaid", policy: Self.policy(.retryLater))
            #expect(await board.breaker("plaid", policy: .plaid) === plaid)
            _ = await other.breaker("plaid", policy: Self.policy(.retryLater))
            try await other.publishAll()
            let fake = FakeService()
            fake.set(.fail)
            for _ in 0..<4 { _ = try? await plaid.run { try await fake.call() } }
            // The transition is published without waiting for the periodic publication.
            try await waitUntil {
                try await BreakerBoard.read(redis: pool, namespace: ns).contains { $0.node == "node-a" && $0.snapshot.state == .open }
            }
            let all = try await BreakerBoard.read(redis: pool, namespace: ns)
            #expect(all.map(\.node) == ["node-a", "node-b"])
            #expect(all.last?.snapshot.state == .closed)

            let dir = try TestEnvironment.makeTemporaryDirectory("breakers")
            let cli = try JobNodeProcess(["breakers", "--json", "--namespace", ns], logPath: "\(dir)/breakers.log")
            #expect(await cli.process.wait() == 0)
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(cli.log.utf8)) as? [[String: Any]], "\(cli.log)")
            #expect(rows.count == 2)
            let open = try #require(rows.first { $0["node"] as? String == "node-a" })
            #expect(Set(open.keys) == ["service", "state", "failureRate", "calls", "openedAtMs", "nextAttemptAtMs", "node"])
            #expect(open["service"] as? String == "plaid" && open["state"] as? String == "open")
            #expect(open["failureRate"] as? Double == 1 && open["calls"] as? Int == 4)
            #expect(open["nextAttemptAtMs"] is Int)
            await pool.close()
        }
    }
}


import Foundation
import HTTPTypes
import JobKit
import JobKitHTTP
import JobKitTestSupport
import Jobs
import ServiceLifecycle
import Testing

@Suite("Health", .serialized)
struct HealthTests {
    @Test("/health/detailed reports every part, ok on a persistent noeviction Redis, degraded without persistence")
    func detailed() async throws {
        try await RedisServerProcess.with(["--appendonly", "yes", "--maxmemory-policy", "noeviction"]) { (redis: RedisServerProcess) async throws in
            try await HTTPHarness.with(redisURL: redis.url) { (h: HTTPHarness) async throws in
                _ = try await h.request(.post, "/v1/jobs", body: #"{"name":"jobkit.noop","queue":"q1"}"#)
                let reply = try await h.request(.get, "/health/detailed")
                #expect(reply.status == 200)
                let json = reply.json
                #expect(json["status"] as? String == "ok", "\(reply.body)")
                let redisPart = try #require(json["redis"] as? [String: Any])
                #expect(redisPart["version"] as? String == "7.0.15" || (redisPart["version"] as? String)?.isEmpty == false)
                #expect(redisPart["maxmemoryPolicy"] as? String == "noeviction")
                #expect((redisPart["persistence"] as? [String: Any])?["aof"] as? Bool == true)
                #expect((redisPart["pool"] as? [String: Any])?["size"] as? Int == 2)
                #expect(redisPart["latencyMs"] is Double)
                #expect((json["postgres"] as? [String: Any])?["status"] as? String == "not configured")
                #expect((json["circuits"] as? [String: Any])?.isEmpty == true)
                #expect(json["scheduler"] is [String: Any])
                #expect((json["nodes"] as? [String: Any])?["live"] as? Int == 0)
                let queues = try #require((json["queues"] as? [String: Any])?["queues"] as? [[String: Any]])
                #expect(queues.count == 1)
                #expect(queues.first?["ready"] as? Int == 1)
                #expect((queues.first?["oldestReadyAgeMs"] as? Int).map { $0 >= 0 } == true)
            }
        }
        try await RedisServerProcess.with { (redis: RedisServerProcess) async throws in  // --save "" --appendonly no: persistence off
            try await HTTPHarness.with(redisURL: redis.url) { (h: HTTPHarness) async throws in
                let reply = try await h.request(.get, "/health/detailed")
                #expect(reply.status == 200)
                #expect(reply.json["status"] as? String == "degraded")
            }
        }
    }

    @Test("with Redis stopped (SIGSTOP) health is down with 503 within 2 s, liveness stays ok, and it comes back")
    func redisHung() async throws {
        try await RedisServerProcess.with(["--appendonly", "yes"]) { (redis: RedisServerProcess) async throws in
            try await HTTPHarness.with(redisURL: redis.url) { (h: HTTPHarness) async throws in
                #expect(try await h.request(.get, "/health/ready").status == 200)
                redis.signal(SIGSTOP)
                do {
                    let clock = ContinuousClock()
                    let start = clock.now
                    let detailed = try await h.request(.get, "/health/detailed")
                    let elapsed = clock.now - start
                    #expect(detailed.status == 503)
                    #expect(detailed.json["status"] as? String == "down")
                    #expect(elapsed < .seconds(2), "took \(elapsed)")
                    let ready = try await h.request(.get, "/health/ready")
                    #expect(ready.status == 503)
                    #expect(ready.errorCode == "redis_unavailable")
                    #expect(clock.now - start < .seconds(4))
                    #expect(try await h.request(.get, "/health").status == 200)
                } catch {
                    redis.signal(SIGCONT)
                    throw error
                }
                redis.signal(SIGCONT)
                // Back to ok once Redis answers again (the health pool reconnects on its own).
                let deadline = ContinuousClock.now + .seconds(10)
                var status = ""
                while ContinuousClock.now < deadline {
                    status = try await h.request(.get, "/health/detailed").json["status"] as? String ?? ""
                    if status == "ok" { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(status == "ok")
            }
        }
    }

    @Test("with PostgreSQL stopped (SIGSTOP) /health/detailed answers within 2 s, degraded with postgres down; ready is 503; both recover")
    func postgresHung() async throws {
        try await PostgresServerProcess.with { (pg: PostgresServerProcess) async throws in
            let database = try StoreDatabase(url: pg.url, maxConnections: 2, logger: TestEnvironment.logger)
            let group = ServiceGroup(configuration: .init(services: [database], logger: TestEnvironment.logger))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                defer { tasks.cancelAll() }
                try await HTTPHarness.with(configure: { $0.dependencies = [database] }) { (h: HTTPHarness) async throws in
                    let up = try await h.request(.get, "/health/detailed")
                    let postgres = try #require(up.json["postgres"] as? [String: Any], "\(up.body)")
                    #expect(postgres["status"] as? String == "ok", "\(up.body)")
                    #expect(postgres["latencyMs"] is Double)
                    #expect((postgres["pool"] as? [String: Any])?["maxConnections"] as? Int == 2)
                    #expect(try await h.request(.get, "/health/ready").status == 200)

                    pg.signal(SIGSTOP)
                    do {
                        let clock = ContinuousClock()
                        let start = clock.now
                        let detailed = try await h.request(.get, "/health/detailed")
                        let elapsed = clock.now - start
                        #expect(elapsed < .seconds(2), "took \(elapsed)")
                        #expect(detailed.status == 200)
                        #expect(detailed.json["status"] as? String == "degraded", "\(detailed.body)")
                        #expect((detailed.json["postgres"] as? [String: Any])?["status"] as? String == "down")
                        #expect((detailed.json["redis"] as? [String: Any])?["status"] as? String != "down")
                        let ready = try await h.request(.get, "/health/ready")
                        #expect(ready.status == 503)
                        #expect(ready.errorCode == "postgres_unavailable")
                        #expect(try await h.request(.get, "/health").status == 200)
                    } catch {
                        pg.signal(SIGCONT)
                        throw error
                    }
                    pg.signal(SIGCONT)
                    let deadline = ContinuousClock.now + .seconds(15)
                    var status = ""
                    while ContinuousClock.now < deadline {
                        status = (try await h.request(.get, "/health/detailed").json["postgres"] as? [String: Any])?["status"] as? String ?? ""
                        if status == "ok" { break }
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    #expect(status == "ok")
                    #expect(try await h.request(.get, "/health/ready").status == 200)
                }
                await group.triggerGracefulShutdown()
            }
        }
    }

    @Test("/health/detailed shows every node's circuit breakers by service; an open one makes the report degraded")
    func circuits() async throws {
        try await RedisServerProcess.with(["--appendonly", "yes"]) { (redis: RedisServerProcess) async throws in
            try await HTTPHarness.with(redisURL: redis.url) { (h: HTTPHarness) async throws in
                let board = BreakerBoard(redis: h.queue.redis, namespace: h.namespace, nodeID: "n1", logger: TestEnvironment.logger)
                var policy = CircuitBreaker.Policy.stripe
                policy.minimumCalls = 2
                let stripe = await board.breaker("stripe", policy: policy)
                _ = await board.breaker("plaid", policy: .plaid)
                try await board.publishAll()
                let closed = try await h.request(.get, "/health/detailed")
                #expect(closed.json["status"] as? String == "ok", "\(closed.body)")
                let plaid = try #require((closed.json["circuits"] as? [String: Any])?["plaid"] as? [String: Any])
                #expect(plaid["state"] as? String == "closed")
                #expect((plaid["nodes"] as? [String: String]) == ["n1": "closed"])
                struct Down: Error {}
                for _ in 0..<2 { _ = try? await stripe.run { () async throws -> Int in throw Down() } }
                try await board.publishAll()
                let open = try await h.request(.get, "/health/detailed")
                #expect(open.status == 200)
                #expect(open.json["status"] as? String == "degraded")
                let part = try #require((open.json["circuits"] as? [String: Any])?["stripe"] as? [String: Any])
                #expect(part["state"] as? String == "open" && part["calls"] as? Int == 2 && part["nextAttemptAtMs"] is Int)
            }
        }
    }

    @Test("the webhook ledger counts deliveries per provider in TTL'd minute buckets; /webhooks/health reports them")
    func webhookLedger() async throws {
        try await HTTPHarness.with { (h: HTTPHarness) async throws in
            let empty = try await h.request(.get, "/webhooks/health")
            #expect(empty.status == 200)
            let stripe0 = try #require((empty.json["providers"] as? [String: Any])?["stripe"] as? [String: Any])
            #expect(stripe0["received"] as? Int == 0)
            #expect(stripe0["successRate"] is NSNull)

            let ledger = WebhookLedger(redis: h.queue.redis, namespace: h.namespace)
            try await ledger.record(provider: .stripe, outcome: .accepted)
            try await ledger.record(provider: .stripe, outcome: .accepted)
            try await ledger.record(provider: .stripe, outcome: .accepted)
            try await ledger.record(provider: .stripe, outcome: .rejectedSignature)
            try await ledger.record(provider: .plaid, outcome: .rejectedDuplicate)
            let summary = try await ledger.summary(provider: .stripe)
            #expect(summary.received == 4)
            #expect(summary.accepted == 3)
            #expect(summary.rejected.signature == 1)
            #expect(summary.successRate == 0.75)
            #expect(summary.lastAcceptedAtMs != nil)

            let report = try await h.request(.get, "/webhooks/health")
            let plaid = try #require((report.json["providers"] as? [String: Any])?["plaid"] as? [String: Any])
            #expect((plaid["rejected"] as? [String: Any])?["duplicate"] as? Int == 1)
            #expect(plaid["accepted"] as? Int == 0)

            // The endpoints' tally: counts in memory, one script call per provider per flush, nothing lost on a
            // failed flush.
            let tally = WebhookTally(ledger: ledger, interval: .seconds(3600))
            for _ in 0..<5 { tally.count(.stripe, .accepted) }
            tally.count(.stripe, .rejectedAge)
            #expect(try await ledger.summary(provider: .stripe).received == 4, "nothing is written before a flush")
            await tally.flush()
            let flushed = try await ledger.summary(provider: .stripe)
            #expect(flushed.received == 10 && flushed.accepted == 8 && flushed.rejected.age == 1)
            await tally.flush()
            #expect(try await ledger.summary(provider: .stripe).received == 10, "a flush with nothing counted writes nothing")

            let keys = WebhookKeys(namespace: h.namespace)
            let buckets = try await h.queue.redis.send(RedisCommand("KEYS", keys.prefix + "stripe:m:*")).array ?? []
            #expect(buckets.count >= 1)
            for bucket in buckets.compactMap(\.string) {
                let ttl = try await h.queue.redis.send(RedisCommand("PTTL", bucket)).int ?? -1
                #expect(ttl > 0 && ttl <= 2 * 3_600_000)
            }
        }
    }
}

import Foundation
import JobKitTestSupport
import Logging
import NIOCore
import Synchronization
import Testing

@testable import JobKit

#if canImport(Glibc)
import Glibc
#endif

private func sleepJob(_ ms: Int, mode: String? = nil, queue: String = "default", options: EnqueueOptions? = nil) -> JobQueue.Job {
    var o = options ?? EnqueueOptions()
    o.queue = queue
    let modeField = mode.map { ", \"mode\": \"\($0)\"" } ?? ""
    return JobQueue.Job(name: "jobkit.sleep", payload: ByteBuffer(string: "{\"ms\": \(ms)\(modeField)}"), options: o)
}

/// A one-shot event a test can await (bounded).
final class TestSignal: Sendable {
    private let state = Mutex<(fired: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
    func fire() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.fired = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }
    var fired: Bool { state.withLock { $0.fired } }
    func wait(timeout: Duration = .seconds(10)) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { c in
                    let now = self.state.withLock { s -> Bool in
                        if s.fired { return true }
                        s.waiters.append(c)
                        return false
                    }
                    if now { c.resume() }
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw TestEnvironment.Missing(description: "signal not fired within \(timeout)")
            }
            try await group.next()
            group.cancelAll()
        }
    }
}

/// The `{nodes}` registry events (`dead`, `pause`) of a namespace.
private func registryEvents(_ redis: RedisPool, namespace: String) async throws -> [[String: String]] {
    let reply = try await redis.send(RedisCommand("XRANGE", NodeKeys(namespace: namespace).events, "-", "+"))
    return (reply.array ?? []).map { entry in
        var out: [String: String] = [:]
        for pair in (entry.array?.last ?? .null).pairs { out[pair.key] = pair.value.string ?? "" }
        return out
    }
}

@Suite("Engine hardening: pauses, lost replies, stops")
struct HardeningTests {
    @Test("a Redis pause longer than the dead-node timeout and the lease declares nobody dead and re-runs nothing")
    func redisPause() async throws {
        try await RedisServerProcess.with { server in
            let namespace = "pause-\(UUID().uuidString.prefix(8))"
            let redis = RedisPool(configuration: try RedisConfiguration(url: server.url, logger: TestEnvironment.logger), size: 1)
            let queue = JobQueue(redis: redis, namespace: namespace, logger: TestEnvironment.logger)
            let dir = try TestEnvironment.makeTemporaryDirectory("pause")
            let timings = ["--heartbeat", "500ms", "--dead-node-timeout", "2s", "--lease", "4s", "--reap-interval", "500ms"]
            let nodes = try (0..<3).map { i in
                try JobNodeProcess(
                    ["run", "--redis", server.url, "--namespace", namespace, "--concurrency", "2", "--name", "n\(i)"] + timings,
                    logPath: "\(dir)/n\(i).log")
            }
            let handles = try await queue.enqueueBulk((0..<6).map { _ in sleepJob(9000, options: EnqueueOptions(maxAttempts: 1)) })
            try await waitUntil { try await queue.counts("default").active == 6 }
            // The scenario itself: Redis frozen for 7 s (> the 2 s dead-node timeout and the 4 s lease).
            server.signal(SIGSTOP)
            try await Task.sleep(for: .seconds(7))
            server.signal(SIGCONT)
            for handle in handles { _ = try await handle.result(timeout: .seconds(40)) }
            for handle in handles {
                let record = try #require(try await queue.job(handle.id))
                #expect(record.state == .completed)
                #expect(record.attempts == 1)
                #expect(record.history.isEmpty, "no lease was lost: \(record.history)")
            }
            let events = try await registryEvents(redis, namespace: namespace)
            #expect(!events.contains { $0["type"] == "dead" }, "nobody declared dead: \(events)")
            #expect(events.contains { $0["type"] == "pause" }, "the pause was seen: \(events)")
            for node in nodes {
                node.process.signal(SIGTERM)
                #expect(await node.process.wait() == 0)
            }
            await redis.close()
        }
    }

    @Test("a Redis restart with AOF mid-run loses nothing and runs nothing twice")
    func aofRestart() async throws {
        try await RedisServerProcess.with(["--appendonly", "yes", "--appendfsync", "everysec"]) { server in
            let namespace = "aof-\(UUID().uuidString.prefix(8))"
            let redis = RedisPool(configuration: try RedisConfiguration(url: server.url, logger: TestEnvironment.logger), size: 1)
            let queue = JobQueue(redis: redis, namespace: namespace, logger: TestEnvironment.logger)
            let dir = try TestEnvironment.makeTemporaryDirectory("aof")
            let timings = ["--heartbeat", "500ms", "--dead-node-timeout", "2s", "--lease", "5s", "--reap-interval", "500ms"]
            let nodes = try (0..<2).map { i in
                try JobNodeProcess(
                    ["run", "--redis", server.url, "--namespace", namespace, "--concurrency", "8", "--name", "a\(i)"] + timings,
                    logPath: "\(dir)/a\(i).log")
            }
            // Retries absorb the record job's own Redis write failing while Redis restarts.
            let options = EnqueueOptions(maxAttempts: 10, backoff: .fixed(.milliseconds(50)))
            let jobs = (0..<5000).map { _ in
                JobQueue.Job(name: "jobkit.record", payload: ByteBuffer(string: "{\"key\": \"aof\"}"), options: options)
            }
            let handles = try await queue.enqueueBulk(jobs)
            try await waitUntil { try await queue.counts("default").completed >= 500 }
            try await server.restart()
            try await waitUntil(timeout: .seconds(60)) { try await queue.counts("default").completed == 5000 }
            let recorded = try await (redis.send(RedisCommand("LRANGE", "\(namespace):diag:aof", 0, -1)).array ?? []).compactMap(\.string)
            let ids = Set(handles.map(\.id))
            let ran = recorded.map { String($0.split(separator: ":")[0]) }
            #expect(ids.subtracting(ran).isEmpty, "\(ids.subtracting(ran).count) jobs never ran")
            var interrupted = 0
            var notCompleted = 0
            for handle in handles {
                let record = try #require(try await queue.job(handle.id))
                if record.state != .completed { notCompleted += 1 }
                // An attempt cut by the restart (its own write failed, or its lease was lost) may run twice.
                if !record.history.isEmpty { interrupted += 1 }
            }
            #expect(notCompleted == 0)
            #expect(ran.count - ids.count <= interrupted, "\(ran.count - ids.count) duplicates, \(interrupted) interrupted attempts")
            for node in nodes {
                node.process.signal(SIGTERM)
                #expect(await node.process.wait() == 0)
            }
            await redis.close()
        }
    }

    @Test("a job reclaimed from a node and claimed again by it is two attempts: the old one's end leaves the new one cancelable")
    func sameNodeReclaim() async throws {
        try await EngineHarness.with { h in
            let runs = Atomic<Int>(0)
            let firstEnded = TestSignal()
            h.registry.registerRaw("test.twice") { _, _ in
                let run = runs.add(1, ordering: .relaxed).newValue
                if run == 1 {
                    defer { firstEnded.fire() }
                    try? await Task.sleep(for: .milliseconds(1500))
                    return ByteBuffer()
                }
                try await Task.sleep(for: .seconds(30))
                return ByteBuffer()
            }
            let worker = try h.worker(concurrency: 2) { $0.leaseDuration = .seconds(30) }
            let agent = try NodeAgent(
                redis: h.redis, worker: worker, options: .init(name: "t", host: "h", pid: 1), namespace: h.namespace,
                logger: TestEnvironment.logger
            ) { _ in }
            let agentTask = Task { try await agent.run() }
            try await h.running(worker) {
                let handle = try await h.queue.enqueue(JobQueue.Job(name: "test.twice", payload: ByteBuffer(string: "{}")))
                try await waitUntil { try await h.queue.counts("default").active == 1 }
                // Take the lease away (as the reaper does when it expires) while the first attempt runs.
                let keys = QueueKeys(namespace: h.namespace, queue: "default")
                _ = try await h.redis.send(RedisCommand("ZADD", keys.active, 0, handle.id))
                _ = try await h.redis.run(LeaseScripts.reap(keys, limit: 100, pauseThresholdMs: 0, maxExpiries: 3))
                try await waitUntil { runs.load(ordering: .relaxed) == 2 }
                try await firstEnded.wait()
                // The first attempt's end (just after its handler returned) leaves the second one tracked.
                try await waitUntil { worker.leases.controls(id: handle.id).count == 1 }
                #expect(worker.leases.controls(id: handle.id).count == 1, "the second attempt is still tracked")
                #expect(try await h.queue.cancel(handle.id) == .requested)
                try await waitUntil { try await h.queue.job(handle.id)?.state == .canceled }
            }
            agentTask.cancel()
            _ = try? await agentTask.value
        }
    }

    @Test("a lost lease gives its attempt back: a job on its last attempt is not dead, until the expiry cap")
    func leaseExpiryIsNotAnAttempt() async throws {
        try await EngineHarness.with { h in
            let handle = try await h.queue.enqueue(sleepJob(10, options: EnqueueOptions(maxAttempts: 1)))
            let keys = QueueKeys(namespace: h.namespace, queue: "default")
            for round in 1...3 {
                // A node claims it and vanishes without running it; its lease runs out.
                _ = try await h.redis.run(LeaseScripts.claim(keys, count: 1, lease: .milliseconds(1), node: "ghost"))
                try await waitUntil {
                    let reply = try await h.redis.run(LeaseScripts.reap(keys, limit: 100, pauseThresholdMs: 0, maxExpiries: 3))
                    return (reply.array?.compactMap(\.int).reduce(0, +) ?? 0) == 1
                }
                let record = try #require(try await h.queue.job(handle.id))
                if round < 3 {
                    #expect(record.state == .ready, "round \(round): back to ready, not dead")
                    #expect(record.attempts == 0)
                } else {
                    #expect(record.state == .dead)
                    #expect(record.lastError?.contains("lease lost 3 times") == true, "\(record.lastError ?? "")")
                }
            }
        }
    }

    @Test("a lease recorded as a node's that the node does not hold (a lost claim reply) is handed back at once")
    func unheldLeaseHandedBack() async throws {
        try await EngineHarness.with { h in
            let handle = try await h.queue.enqueue(sleepJob(10, options: EnqueueOptions(maxAttempts: 1)))
            let keys = QueueKeys(namespace: h.namespace, queue: "default")
            // The claim ran in Redis for node "lost-reply", but the node never saw its reply.
            _ = try await h.redis.run(LeaseScripts.claim(keys, count: 1, lease: .seconds(60), node: "lost-reply"))
            var options = WorkerOptions(queues: [.init("default")], concurrency: 2, nodeID: "lost-reply")
            options.leaseDuration = .seconds(60)
            options.renewInterval = .milliseconds(300)
            let worker = try Worker(redis: h.redis, registry: h.registry, options: options, namespace: h.namespace, logger: TestEnvironment.logger)
            try await h.running(worker) {
                // Far sooner than the 60 s lease: handed back after ~1.5 renewals, then claimed and run.
                _ = try await handle.result(timeout: .seconds(10))
            }
            let record = try #require(try await h.queue.job(handle.id))
            #expect(record.state == .completed)
            #expect(record.attempts == 1)
        }
    }

    @Test("a finished job whose completion cannot be written yet keeps its lease: it is not handed back and runs once")
    func lateCompletionKeepsLease() async throws {
        try await EngineHarness.with { h in
            // Completions go through a proxy that the handler cuts off; the node's heartbeats and renewals go
            // straight to Redis, so they keep running while the completion waits.
            let proxy = try await FaultProxy(upstream: try TestEnvironment.redisURL())
            var configuration = try RedisConfiguration(url: proxy.url, logger: TestEnvironment.logger)
            configuration.commandTimeout = .milliseconds(500)
            let through = RedisPool(configuration: configuration, size: 2)
            let runs = Atomic<Int>(0)
            h.registry.registerRaw("test.late-ack") { _, _ in
                runs.add(1, ordering: .relaxed)
                await proxy.blackhole(true)
                return ByteBuffer()
            }
            var options = WorkerOptions(queues: [.init("default")], concurrency: 2, nodeID: "late-ack-\(Int.random(in: 1000...9999))")
            options.leaseDuration = .seconds(10)
            options.leasesRenewedByNode = true
            options.renewInterval = .milliseconds(200)
            let worker = try Worker(redis: through, registry: h.registry, options: options, namespace: h.namespace, logger: TestEnvironment.logger)
            var agentOptions = NodeAgent.Options(name: "late-ack", host: "h", pid: 1)
            agentOptions.heartbeatInterval = .milliseconds(200)
            let agent = try NodeAgent(
                redis: h.redis, worker: worker, options: agentOptions, namespace: h.namespace, logger: TestEnvironment.logger
            ) { _ in }
            let agentTask = Task { try await agent.run() }
            let keys = QueueKeys(namespace: h.namespace, queue: "default")
            try await h.running(worker) {
                let handle = try await h.queue.enqueue(JobQueue.Job(name: "test.late-ack", payload: ByteBuffer(string: "{}")))
                try await waitUntil { runs.load(ordering: .relaxed) == 1 }
                let first = try #require(try await h.redis.send(RedisCommand("ZSCORE", keys.active, handle.id)).double)
                // Renewed well past the 300 ms after which an unheld lease is handed back, and never handed back.
                try await waitUntil(timeout: .seconds(10)) {
                    let score = try await h.redis.send(RedisCommand("ZSCORE", keys.active, handle.id)).double
                    return (score ?? 0) >= first + 1_000 || score == nil
                }
                #expect(try await h.redis.send(RedisCommand("ZSCORE", keys.active, handle.id)).double != nil, "handed back while its completion waited")
                #expect(try await h.queue.job(handle.id)?.state == .active)
                await proxy.blackhole(false)
                _ = try await handle.result(timeout: .seconds(15))
                #expect(runs.load(ordering: .relaxed) == 1, "the job ran again")
                #expect(try await h.queue.job(handle.id)?.attempts == 1)
            }
            agentTask.cancel()
            _ = try? await agentTask.value
            await through.close()
            await proxy.close()
        }
    }

    @Test("a claim whose reply is lost (connection cut after Redis ran it) burns no attempt: the job is handed back and runs")
    func lostClaimReply() async throws {
        try await EngineHarness.with { h in
            let proxy = try await FaultProxy(upstream: try TestEnvironment.redisURL())
            // Loaded first, so the claim really runs in Redis (no NOSCRIPT round).
            _ = try await h.redis.send(RedisCommand("SCRIPT", "LOAD", LeaseScripts.claim.source))
            let handle = try await h.queue.enqueue(sleepJob(10, options: EnqueueOptions(maxAttempts: 1)))
            await proxy.dropReply(ofCommandMatching: "EVALSHA", argumentContaining: LeaseScripts.claim.sha1, fault: .cutAfterForwarding)
            let through = RedisPool(configuration: try RedisConfiguration(url: proxy.url, logger: TestEnvironment.logger), size: 2)
            var options = WorkerOptions(queues: [.init("default")], concurrency: 2, nodeID: "cut-\(Int.random(in: 1000...9999))")
            options.leaseDuration = .seconds(60)
            options.renewInterval = .milliseconds(300)
            let worker = try Worker(redis: through, registry: h.registry, options: options, namespace: h.namespace, logger: TestEnvironment.logger)
            try await h.running(worker) {
                try await proxy.waitUntilFired()
                // Far sooner than the 60 s lease, and without using the only attempt.
                _ = try await handle.result(timeout: .seconds(10))
            }
            let record = try #require(try await h.queue.job(handle.id))
            #expect(record.state == .completed)
            #expect(record.attempts == 1)
            await through.close()
            await proxy.close()
        }
    }

    @Test("a handler that returns normally after a timeout is recorded as timed out, unless it says it finished")
    func normalReturnAfterStop() async throws {
        try await EngineHarness.with { h in
            h.registry.registerRaw("test.finishes-anyway") { _, context in
                try? await Task.sleep(for: .seconds(5))
                context.markFinished()
                return ByteBuffer(string: "done")
            }
            let worker = try h.worker()
            try await h.running(worker) {
                let ignoring = try await h.queue.enqueue(
                    sleepJob(5000, mode: "ignore", options: EnqueueOptions(maxAttempts: 1, timeout: .milliseconds(200))))
                let finishing = try await h.queue.enqueue(
                    JobQueue.Job(
                        name: "test.finishes-anyway", payload: ByteBuffer(string: "{}"),
                        options: EnqueueOptions(maxAttempts: 1, timeout: .milliseconds(200))))
                await #expect(throws: QueueError.self) { _ = try await ignoring.result(timeout: .seconds(10)) }
                let record = try #require(try await h.queue.job(ignoring.id))
                #expect(record.state == .dead)
                #expect(record.lastError?.contains("timed out") == true)
                #expect(String(buffer: try await finishing.result(timeout: .seconds(10))) == "done")
            }
        }
    }

    @Test("a cancel request is honoured when the handler throws and when the job is handed back; requeue clears it")
    func cancelMarkInEveryPath() async throws {
        try await EngineHarness.with { h in
            let proceed = TestSignal()
            h.registry.registerRaw("test.throws-later") { _, _ in
                try await proceed.wait(timeout: .seconds(30))
                throw DiagnosticJobs.DeliberateFailure(attempt: 1)
            }
            let keys = QueueKeys(namespace: h.namespace, queue: "default")
            let worker = try h.worker(concurrency: 2)
            try await h.running(worker) {
                let throwing = try await h.queue.enqueue(
                    JobQueue.Job(name: "test.throws-later", payload: ByteBuffer(string: "{}"), options: EnqueueOptions(maxAttempts: 5)))
                try await waitUntil { try await h.queue.counts("default").active == 1 }
                // The cancel is marked, but its message has not reached the node yet.
                _ = try await h.redis.send(RedisCommand("HSET", keys.job(throwing.id), "cancelRequested", "1"))
                proceed.fire()
                try await waitUntil { try await h.queue.job(throwing.id)?.state == .canceled }
            }
            // Hand-back at shutdown: a job marked for cancel ends canceled, not ready.
            let worker2 = try h.worker(concurrency: 1) { $0.shutdownGrace = .zero }
            let handedBack = try await h.queue.enqueue(sleepJob(30_000))
            try await h.running(worker2) {
                try await waitUntil { try await h.queue.counts("default").active == 1 }
                _ = try await h.redis.send(RedisCommand("HSET", keys.job(handedBack.id), "cancelRequested", "1"))
            }
            #expect(try await h.queue.job(handedBack.id)?.state == .canceled)
            // A canceled job requeued by an operator runs again normally.
            #expect(try await h.queue.requeue([handedBack.id], queue: "default") == 1)
            let fields = try await h.redis.send(RedisCommand("HEXISTS", keys.job(handedBack.id), "cancelRequested"))
            #expect(fields.int == 0, "requeue clears the cancel mark")
        }
    }

    @Test("the renewal interval follows the lease, and combinations that reap live jobs are refused")
    func renewIntervalDerived() throws {
        var options = WorkerOptions(queues: [.init("default")], nodeID: "x")
        options.leaseDuration = .seconds(6)
        #expect(options.renewInterval == .seconds(2))
        options.leaseDuration = .seconds(5)
        options.renewInterval = .seconds(10)
        #expect(throws: QueueError.self) { try options.validate() }
        var node = NodeAgent.Options(name: "n", host: "h", pid: 1)
        node.heartbeatInterval = .seconds(1)
        node.deadNodeTimeout = .seconds(2)
        #expect(throws: QueueError.self) { try node.validate() }
    }

    @Test("one bulk enqueue wakes every idle node, not one")
    func wakePassedOn() async throws {
        try await EngineHarness.with { h in
            let workers = try (0..<4).map { _ in try h.worker(concurrency: 4) }
            let tasks = workers.map { w in Task { try await w.run() } }
            // Let every fetcher block on the wake marker first.
            try await waitUntil {
                let clients = try await h.redis.send(RedisCommand("CLIENT", "LIST")).string ?? ""
                let ours = workers.map { "name=jobkit-fetch-\($0.options.nodeID)-" }
                return clients.split(separator: "\n").filter { line in
                    line.contains("cmd=blpop") && ours.contains { line.contains($0) }
                }.count >= workers.count * 2
            }
            _ = try await h.queue.enqueueBulk((0..<400).map { _ in sleepJob(300) })
            let started = ContinuousClock.now
            try await waitUntil(timeout: .seconds(4)) { workers.allSatisfy { $0.busy > 0 } }
            let took = ContinuousClock.now - started
            #expect(took < .seconds(1), "all four busy after \(took) (the idle wait is 5 s)")
            for w in workers { w.beginShutdown(grace: .zero) }
            for t in tasks { _ = try? await t.value }
        }
    }

    @Test("a handler that ignores cancellation after its timeout keeps its slot until it really returns")
    func slotHeldUntilReturn() async throws {
        try await EngineHarness.with { h in
            let worker = try h.worker(concurrency: 1) { $0.cancellationGrace = .milliseconds(200) }
            try await h.running(worker) {
                let stuck = try await h.queue.enqueue(
                    sleepJob(2500, mode: "uncancellable", options: EnqueueOptions(maxAttempts: 1, timeout: .milliseconds(200))))
                try await waitUntil { try await h.queue.counts("default").active == 1 }
                let next = try await h.queue.enqueue(JobQueue.Job(name: "jobkit.noop", payload: ByteBuffer()))
                _ = try await next.result(timeout: .seconds(15))
                let a = try #require(try await h.queue.job(stuck.id))
                let b = try #require(try await h.queue.job(next.id))
                #expect(a.state == .dead)
                let aStart = try #require(a.startedAtMs)
                let bStart = try #require(b.startedAtMs)
                #expect(bStart - aStart >= 2400, "the next job started only after the stuck handler returned")
                #expect(worker.ignoredCancellations == 1)
            }
        }
    }

    @Test("handlers that block their threads do not stop their node's heartbeats")
    func blockingHandlersKeepHeartbeats() async throws {
        try await EngineHarness.with { h in
            let dir = try TestEnvironment.makeTemporaryDirectory("block")
            let timings = ["--heartbeat", "300ms", "--dead-node-timeout", "1500ms", "--lease", "3s", "--reap-interval", "500ms"]
            let blocker = try JobNodeProcess(
                ["run", "--namespace", h.namespace, "--concurrency", "4", "--name", "blocker"] + timings, logPath: "\(dir)/b.log")
            let watcher = try JobNodeProcess(
                ["run", "--namespace", h.namespace, "--queues", "other", "--name", "watcher"] + timings, logPath: "\(dir)/w.log")
            let handles = try await h.queue.enqueueBulk((0..<4).map { _ in sleepJob(3000, mode: "block", options: EnqueueOptions(maxAttempts: 1)) })
            for handle in handles { _ = try await handle.result(timeout: .seconds(30)) }
            for handle in handles {
                let record = try #require(try await h.queue.job(handle.id))
                #expect(record.history.isEmpty, "not re-run: \(record.history)")
            }
            let events = try await registryEvents(h.redis, namespace: h.namespace)
            #expect(!events.contains { $0["type"] == "dead" }, "\(events)")
            for node in [blocker, watcher] {
                node.process.signal(SIGTERM)
                #expect(await node.process.wait() == 0)
            }
        }
    }
}

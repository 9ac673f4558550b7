@testable import JobKit
import JobKitTestSupport
import NIOCore
import Testing

struct Record: JobPayload {
    static let jobName = "jobkit.record"
    var key: String
}

@Suite("Engine on a real Redis")
struct EngineTests {
    @Test("higher priority runs first, FIFO within a priority")
    func priorityOrder() async throws {
        try await EngineHarness.with { h in
            var handles: [(JobHandle, Int)] = []
            for (i, p) in [0, 5, 0, -3, 5, 10, 0].enumerated() {
                let handle = try await h.queue.enqueue(
                    JobQueue.Job(name: "jobkit.record", payload: ByteBuffer(string: #"{"key":"order"}"#),
                                 options: EnqueueOptions(priority: p)))
                handles.append((handle, i))
            }
            let worker = try h.worker(concurrency: 1)
            try await h.running(worker) {
                for (handle, _) in handles { _ = try await handle.result(timeout: .seconds(10)) }
            }
            let ran = try await h.recorded("order").map { String($0.split(separator: ":")[0]) }
            // Expected: priority 10 (i=5), then 5 (i=1, i=4), then 0 (i=0, 2, 6), then -3 (i=3).
            let expected = [5, 1, 4, 0, 2, 6, 3].map { handles[$0].0.id }
            #expect(ran == expected)
        }
    }

    @Test("a delayed job stays scheduled until it is due, by Redis time")
    func delayed() async throws {
        try await EngineHarness.with { h in
            let handle = try await h.queue.enqueue(Record(key: "delay"), options: EnqueueOptions(delay: .milliseconds(1200)))
            #expect(try await h.queue.counts("default").scheduled == 1)
            #expect(try await h.queue.counts("default").ready == 0)
            let worker = try h.worker()
            try await h.running(worker) {
                _ = try await handle.result(timeout: .seconds(10))
            }
            let record = try #require(try await h.queue.job(handle.id))
            #expect(record.state == .completed)
            #expect(record.startedAtMs! - record.enqueuedAtMs! >= 1200)
        }
    }

    @Test("a job that fails twice then succeeds completes on its third attempt")
    func retryThenSucceed() async throws {
        try await EngineHarness.with { h in
            let handle = try await h.queue.enqueue(
                JobQueue.Job(name: "jobkit.fail", payload: ByteBuffer(string: #"{"times":2}"#),
                             options: EnqueueOptions(maxAttempts: 5, backoff: .fixed(.milliseconds(50)))))
            try await h.running(try h.worker()) {
                _ = try await handle.result(timeout: .seconds(10))
            }
            let record = try #require(try await h.queue.job(handle.id))
            #expect(record.state == .completed)
            #expect(record.attempts == 3)
            #expect(record.history.count == 2)
        }
    }

    @Test("retries with backoff, then dead with the error and the attempt history")
    func retriesThenDead() async throws {
        try await EngineHarness.with { h in
            let handle = try await h.queue.enqueue(
                JobQueue.Job(name: "jobkit.fail", payload: ByteBuffer(string: #"{"times":-1}"#),
                             options: EnqueueOptions(maxAttempts: 3, backoff: .exponential(base: .milliseconds(40), maximum: .seconds(1)))))
            try await h.running(try h.worker()) {
                await #expect {
                    _ = try await handle.result(timeout: .seconds(10))
                } throws: { ($0 as? QueueError)?.code == .jobFailed }
            }
            let record = try #require(try await h.queue.job(handle.id))
            #expect(record.state == .dead)
            #expect(record.attempts == 3)
            #expect(record.history.map(\.attempt) == [1, 2, 3])
            #expect(record.history.map(\.kind) == ["error", "error", "error"])
            #expect(record.lastError?.contains("deliberate failure on attempt 3") == true)
            let counts = try await h.queue.counts("default")
            #expect(counts.dead == 1 && counts.retrying == 0 && counts.active == 0)
            // Each retry waited its backoff: the `retrying` events carry a delay within the exponential
            // ceiling (40 ms, then 80 ms), and the next attempt failed no earlier than that delay later.
            let events = try await h.redis.send(RedisCommand("XRANGE", h.queue.keys("default").events, "-", "+"))
            let retries = (events.array ?? []).compactMap { entry -> (attempt: Int, delayMs: Int)? in
                let fields = (entry.array?.last ?? .null).fields
                guard fields["type"]?.string == "retrying", fields["id"]?.string == handle.id else { return nil }
                return (fields["attempt"]?.int ?? -1, fields["delayMs"]?.int ?? -1)
            }
            #expect(retries.map(\.attempt) == [1, 2])
            for (n, retry) in retries.enumerated() {
                #expect((0..<(40 << n)).contains(retry.delayMs), "attempt \(retry.attempt) waited \(retry.delayMs) ms")
                #expect(record.history[n + 1].at - record.history[n].at >= Int64(retry.delayMs))
            }
            // An operator requeues it with its attempts reset; it fails three more times and is dead again.
            #expect(try await h.queue.requeueAllDead(queue: "default") == 1)
            let requeued = try #require(try await h.queue.job(handle.id))
            #expect(requeued.state == .ready && requeued.attempts == 0)
            try await h.running(try h.worker()) {
                await #expect {
                    _ = try await handle.result(timeout: .seconds(10))
                } throws: { ($0 as? QueueError)?.code == .jobFailed }
            }
            let again = try #require(try await h.queue.job(handle.id))
            #expect(again.state == .dead && again.attempts == 3)
            #expect(again.history.map(\.attempt) == [1, 2, 3, 1, 2, 3])
            #expect(try await h.queue.counts("default").dead == 1)
        }
    }

    @Test("an idempotency key returns the first job's id and enqueues nothing more")
    func idempotency() async throws {
        try await EngineHarness.with { h in
            let a = try await h.queue.enqueue(Record(key: "idem"), options: EnqueueOptions(idempotencyKey: "evt_123"))
            let b = try await h.queue.enqueue(Record(key: "idem"), options: EnqueueOptions(idempotencyKey: "evt_123"))
            let c = try await h.queue.enqueue(Record(key: "idem"), options: EnqueueOptions(idempotencyKey: "evt_456"))
            #expect(a.id == b.id)
            #expect(a.id != c.id)
            #expect(try await h.queue.counts("default").ready == 2)
        }
    }

    @Test("unknown job names and undecodable payloads go straight to dead with the reason")
    func poison() async throws {
        try await EngineHarness.with { h in
            let unknown = try await h.queue.enqueue(JobQueue.Job(name: "no.such.job", payload: ByteBuffer(string: "{}")))
            let malformed = try await h.queue.enqueue(
                JobQueue.Job(name: "jobkit.sleep", payload: ByteBuffer(string: #"{"milliseconds": 5}"#)))
            let notJSON = try await h.queue.enqueue(JobQueue.Job(name: "jobkit.fail", payload: ByteBuffer(string: "{oops")))
            try await h.running(try h.worker()) {
                for handle in [unknown, malformed, notJSON] {
                    await #expect { _ = try await handle.result(timeout: .seconds(10)) } throws: {
                        ($0 as? QueueError)?.code == .jobFailed
                    }
                }
            }
            let u = try #require(try await h.queue.job(unknown.id))
            #expect(u.state == .dead && u.attempts == 1 && u.lastError == "unknown job name 'no.such.job'")
            let m = try #require(try await h.queue.job(malformed.id))
            #expect(m.state == .dead && m.attempts == 1 && m.lastError == "payload: missing key 'ms'")
            let n = try #require(try await h.queue.job(notJSON.id))
            #expect(n.state == .dead && n.lastError?.hasPrefix("payload: not valid JSON") == true)
            #expect(n.payload == "{oops")
        }
    }

    @Test("payloads over the size limit are refused at enqueue")
    func oversized() async throws {
        try await EngineHarness.with { h in
            let big = ByteBuffer(repeating: UInt8(ascii: "a"), count: 512 * 1024 + 1)
            await #expect { try await h.queue.enqueue(JobQueue.Job(name: "jobkit.noop", payload: big)) } throws: {
                ($0 as? QueueError)?.code == .payloadTooLarge
            }
            let counts = try await h.queue.counts("default")
            #expect(counts.ready == 0)
        }
    }

    @Test("a worker whose lease was reclaimed cannot complete the job")
    func fencing() async throws {
        try await EngineHarness.with { h in
            let handle = try await h.queue.enqueue(Record(key: "fence"))
            let keys = h.queue.keys("default")
            // Node A claims with a 1 ms lease and "stalls".
            let claimA = try await h.redis.run(LeaseScripts.claim(keys, count: 1, lease: .milliseconds(1), node: "node-a"))
            let tokenA = try #require(claimA.array?[3].string)
            try await Task.sleep(for: .milliseconds(20))  // let the 1 ms lease pass (Redis time)
            // Any node's reaper returns the job; node B claims it.
            _ = try await h.redis.run(LeaseScripts.reap(keys, limit: 100, pauseThresholdMs: 0, maxExpiries: 3))
            let claimB = try await h.redis.run(LeaseScripts.claim(keys, count: 1, lease: .seconds(30), node: "node-b"))
            let tokenB = try #require(claimB.array?[3].string)
            #expect(tokenA != tokenB)
            // A's late completion is refused; B's is accepted.
            let refused = try await h.redis.run(
                LeaseScripts.complete(keys, [.init(id: handle.id, token: tokenA, result: ByteBuffer(string: "late"))]))
            #expect(refused.array?.compactMap(\.string) == [handle.id])
            let accepted = try await h.redis.run(
                LeaseScripts.complete(keys, [.init(id: handle.id, token: tokenB, result: ByteBuffer(string: "ok"))]))
            #expect(accepted.array?.isEmpty == true)
            let record = try #require(try await h.queue.job(handle.id))
            #expect(record.state == .completed && record.result == "ok" && record.node == "node-b")
        }
    }

    @Test("graceful shutdown hands unfinished jobs back to ready at once")
    func shutdownHandsBack() async throws {
        try await EngineHarness.with { h in
            let handles = try await h.queue.enqueueBulk((0..<3).map { _ in
                JobQueue.Job(name: "jobkit.sleep", payload: ByteBuffer(string: #"{"ms": 60000}"#))
            })
            let worker = try h.worker(concurrency: 3) { $0.shutdownGrace = .milliseconds(200) }
            let task = Task { try await worker.run() }
            // Wait until all three are active (the events of claiming are the job records).
            try await waitUntil { try await h.queue.counts("default").active == 3 }
            let started = ContinuousClock.now
            worker.beginShutdown()
            try await task.value
            #expect(ContinuousClock.now - started < .seconds(10))
            let counts = try await h.queue.counts("default")
            #expect(counts.ready == 3 && counts.active == 0)
            for handle in handles {
                let record = try #require(try await h.queue.job(handle.id))
                #expect(record.state == .ready && record.attempts == 0)
            }
        }
    }
}

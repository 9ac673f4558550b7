import Foundation
import JobKit
import JobKitTestSupport
import NIOCore
import Testing

/// Limits attached to queues and job names, checked inside the claim, against real `jobnode` processes.
@Suite("Queue limits in the claim", .serialized)
struct QueueLimitTests {
    static func node(_ h: EngineHarness, _ queue: String, _ name: String, dir: String, concurrency: Int = 8) throws -> JobNodeProcess {
        try JobNodeProcess(
            ["run", "--namespace", h.namespace, "--queues", queue, "--concurrency", "\(concurrency)", "--lease", "2s",
             "--heartbeat", "300ms", "--dead-node-timeout", "1s", "--reap-interval", "300ms", "--no-scheduler", "--name", name],
            logPath: "\(dir)/\(name).log")
    }

    static func stop(_ nodes: [JobNodeProcess]) async {
        for n in nodes { n.process.signal(SIGTERM) }
        for n in nodes { await n.process.wait(timeout: .seconds(20)) }
    }

    @Test("four nodes under a fixed-window queue limit: no window starts more than the limit, none is an attempt spent, denials counted")
    func fixedWindowAcrossNodes() async throws {
        try await EngineHarness.with { h in
            let dir = try TestEnvironment.makeTemporaryDirectory("qlimit")
            let store = LimitStore(redis: h.queue.redis, namespace: h.namespace)
            // Set with the CLI, as an operator would; read back through the library.
            let set = try JobNodeProcess(
                ["limits", "set", "lim-fw", "--namespace", h.namespace, "--queue", "lim", "--strategy", "fixed-window", "--rate", "15/500ms"],
                logPath: "\(dir)/set.log")
            #expect(await set.process.wait() == 0, "\(set.log)")
            let limits = try await store.list()
            #expect(limits.map(\.limit.name) == ["lim-fw"])
            #expect(limits.first?.limit.rate == RateLimit.fixedWindow(15, per: .milliseconds(500)))

            let total = 90
            let handles = try await h.queue.enqueueBulk(
                (0..<total).map { _ in JobQueue.Job(name: "jobkit.noop", payload: ByteBuffer(string: "{}"), options: EnqueueOptions(queue: "lim")) })
            let nodes = try (0..<4).map { try Self.node(h, "lim", "lim-\($0)", dir: dir) }
            try await waitUntil(timeout: .seconds(60)) { try await h.queue.counts("lim").completed == total }
            await Self.stop(nodes)
            var starts: [Int64] = []
            for handle in handles {
                let record = try #require(try await h.queue.job(handle.id, queue: "lim"))
                #expect(record.attempts == 1, "a limited claim spent an attempt: \(record.attempts)")
                #expect(record.history.isEmpty)
                starts.append(try #require(record.startedAtMs))
            }
            let byWindow = Dictionary(grouping: starts) { $0 / 500 }
            #expect(byWindow.values.allSatisfy { $0.count <= 15 }, "\(byWindow.mapValues(\.count).sorted { $0.key < $1.key })")
            // 90 jobs at 15 per window: at least six windows.
            #expect(byWindow.count >= 6)
            let denied = try await store.list().first?.deniedTotal ?? 0
            #expect(denied > 0)

            // `limits list --json` carries the contract's fields.
            let list = try JobNodeProcess(["limits", "list", "--json", "--namespace", h.namespace], logPath: "\(dir)/list.log")
            #expect(await list.process.wait() == 0)
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(list.log.utf8)) as? [[String: Any]])
            #expect(Set(rows.first?.keys.map { $0 } ?? []) == [
                "name", "queue", "job", "key", "strategy", "rate", "periodMs", "burst", "concurrency", "deniedTotal",
            ])
            #expect(rows.first?["periodMs"] as? Int == 500 && rows.first?["strategy"] as? String == "fixed-window")
            #expect(try await store.remove("lim-fw"))
            #expect(try await store.list().isEmpty)
        }
    }

    @Test("a limit's use, read without spending, is what the claims spent (the dashboard's limits page)")
    func useOfALimit() async throws {
        try await EngineHarness.with { h in
            let dir = try TestEnvironment.makeTemporaryDirectory("qlimit-use")
            let store = LimitStore(redis: h.queue.redis, namespace: h.namespace)
            // A sliding log (no window boundary to straddle) of 5 an hour, named with characters the keys escape.
            let limit = QueueLimit(name: "use:{a}%", queue: "limuse", rate: .slidingWindow(5, per: .seconds(3600)))
            try await store.set(limit)
            #expect(try await store.use(of: limit) == 0)
            _ = try await h.queue.enqueueBulk(
                (0..<3).map { _ in JobQueue.Job(name: "jobkit.noop", payload: ByteBuffer(string: "{}"), options: EnqueueOptions(queue: "limuse")) })
            let node = try Self.node(h, "limuse", "limuse", dir: dir)
            try await waitUntil(timeout: .seconds(30)) { try await h.queue.counts("limuse").completed == 3 }
            await Self.stop([node])
            #expect(try await store.use(of: limit) == 3)
            #expect(try await store.use(of: limit) == 3, "a peek spends nothing")
            #expect(try await store.use(of: QueueLimit(name: "k", queue: "limuse", key: "{tenant}", rate: .fixedWindow(5, per: .seconds(1)))) == nil)
        }
    }

    @Test("two nodes under a token-bucket queue limit: starts never exceed burst + rate × elapsed, so every claim spent its tokens (one read and one write of the bucket per claim)")
    func tokenBucketAcrossNodes() async throws {
        try await EngineHarness.with { h in
            let dir = try TestEnvironment.makeTemporaryDirectory("qlimit-tb")
            let store = LimitStore(redis: h.queue.redis, namespace: h.namespace)
            try await store.set(QueueLimit(name: "lim-tb", queue: "limtb", rate: .tokenBucket(20, per: .seconds(1), burst: 5)))
            let total = 60
            _ = try await h.queue.enqueueBulk(
                (0..<total).map { _ in JobQueue.Job(name: "jobkit.noop", payload: ByteBuffer(string: "{}"), options: EnqueueOptions(queue: "limtb")) })
            let nodes = try (0..<2).map { try Self.node(h, "limtb", "limtb-\($0)", dir: dir, concurrency: 16) }
            try await waitUntil(timeout: .seconds(60)) { try await h.queue.counts("limtb").completed == total }
            await Self.stop(nodes)
            let records = try await h.queue.list("limtb", state: .completed, limit: 1_000)
            let starts = records.compactMap(\.startedAtMs).sorted()
            #expect(starts.count == total)
            for (i, start) in starts.enumerated() {
                // i + 1 starts by `start`: at most the burst plus 20 a second since the first (1 ms of rounding).
                let allowed = 5.0 + 20.0 * Double(start - starts[0] + 1) / 1000
                #expect(Double(i + 1) <= allowed + 1e-9, "start \(i + 1) at +\(start - starts[0]) ms: more than \(allowed)")
            }
            // 60 jobs at 20 a second after a burst of 5: at least 2.7 s.
            #expect(starts.last! - starts[0] >= 2_700)
        }
    }

    @Test("two limits on one job (a queue's fixed window and a job name's token bucket), two nodes of 16 slots: both hold for every start, so each claim saw its own pending spends")
    func twoLimitsInOneClaim() async throws {
        try await EngineHarness.with { h in
            let dir = try TestEnvironment.makeTemporaryDirectory("qlimit-two")
            let store = LimitStore(redis: h.queue.redis, namespace: h.namespace)
            try await store.set(QueueLimit(name: "two-fw", queue: "limtwo", rate: .fixedWindow(6, per: .milliseconds(400))))
            try await store.set(QueueLimit(name: "two-tb", queue: "limtwo", job: "jobkit.noop", rate: .tokenBucket(20, per: .seconds(1), burst: 10)))
            let total = 48
            _ = try await h.queue.enqueueBulk(
                (0..<total).map { _ in JobQueue.Job(name: "jobkit.noop", payload: ByteBuffer(string: "{}"), options: EnqueueOptions(queue: "limtwo")) })
            let nodes = try (0..<2).map { try Self.node(h, "limtwo", "limtwo-\($0)", dir: dir, concurrency: 16) }
            try await waitUntil(timeout: .seconds(60)) { try await h.queue.counts("limtwo").completed == total }
            await Self.stop(nodes)
            let starts = try await h.queue.list("limtwo", state: .completed, limit: 1_000).compactMap(\.startedAtMs).sorted()
            #expect(starts.count == total)
            let byWindow = Dictionary(grouping: starts) { $0 / 400 }
            #expect(byWindow.values.allSatisfy { $0.count <= 6 }, "\(byWindow.mapValues(\.count).sorted { $0.key < $1.key })")
            for (i, start) in starts.enumerated() {
                let allowed = 10.0 + 20.0 * Double(start - starts[0] + 1) / 1000
                #expect(Double(i + 1) <= allowed + 1e-9, "start \(i + 1) at +\(start - starts[0]) ms: more than \(allowed)")
            }
        }
    }

    @Test("a job-name limit per {k} with concurrency 1: jobs of one key never overlap, keys run side by side; kill -9 releases the permit")
    func concurrencyPerKey() async throws {
        try await EngineHarness.with { h in
            let dir = try TestEnvironment.makeTemporaryDirectory("qcap")
            let store = LimitStore(redis: h.queue.redis, namespace: h.namespace)
            try await store.set(QueueLimit(name: "one-per-k", queue: "cap", job: "jobkit.sleep", key: "{k}", concurrency: 1))
            var handles: [(String, JobHandle)] = []
            for i in 0..<12 {
                let k = i % 2 == 0 ? "a" : "b"
                handles.append((k, try await h.queue.enqueue(
                    JobQueue.Job(name: "jobkit.sleep", payload: ByteBuffer(string: #"{"ms":120,"k":"\#(k)"}"#), options: EnqueueOptions(queue: "cap")))))
            }
            // Other jobs of the queue are not limited.
            let free = try await h.queue.enqueueBulk(
                (0..<10).map { _ in JobQueue.Job(name: "jobkit.noop", payload: ByteBuffer(string: "{}"), options: EnqueueOptions(queue: "cap")) })
            let nodes = try (0..<2).map { try Self.node(h, "cap", "cap-\($0)", dir: dir) }
            try await waitUntil(timeout: .seconds(60)) { try await h.queue.counts("cap").completed == 22 }
            await Self.stop(nodes)
            var intervals: [String: [(Int64, Int64)]] = [:]
            for (k, handle) in handles {
                let r = try #require(try await h.queue.job(handle.id, queue: "cap"))
                #expect(r.attempts == 1)
                intervals[k, default: []].append((try #require(r.startedAtMs), try #require(r.finishedAtMs)))
            }
            for (k, list) in intervals {
                let sorted = list.sorted { $0.0 < $1.0 }
                for (x, y) in zip(sorted, sorted.dropFirst()) { #expect(y.0 >= x.1, "two '\(k)' jobs overlapped: \(x) \(y)") }
            }
            // The two keys did run side by side at some point.
            let a = intervals["a"]!, b = intervals["b"]!
            #expect(a.contains { x in b.contains { y in x.0 < y.1 && y.0 < x.1 } })
            for f in free { #expect(try await h.queue.job(f.id, queue: "cap")?.state == .completed) }

            // kill -9 of the node holding key c's permit: the reaper takes the lease back, and with it the permit.
            let victim = try Self.node(h, "cap", "victim", dir: dir)
            let long = try await h.queue.enqueue(
                JobQueue.Job(name: "jobkit.sleep", payload: ByteBuffer(string: #"{"ms":60000,"k":"c"}"#), options: EnqueueOptions(queue: "cap")))
            try await waitUntil(timeout: .seconds(20)) { try await h.queue.job(long.id, queue: "cap")?.state == .active }
            let next = try await h.queue.enqueue(
                JobQueue.Job(name: "jobkit.sleep", payload: ByteBuffer(string: #"{"ms":10,"k":"c"}"#), options: EnqueueOptions(queue: "cap")))
            try await waitUntil(timeout: .seconds(20)) { try await h.queue.job(next.id, queue: "cap")?.state == .scheduled }
            victim.process.signal(SIGKILL)
            await victim.process.wait(timeout: .seconds(10))
            let survivor = try Self.node(h, "cap", "survivor", dir: dir)
            // The waiting job runs once the dead node's permit is back; the long one is reclaimed and runs again.
            try await waitUntil(timeout: .seconds(30)) {
                let n = try await h.queue.job(next.id, queue: "cap")
                let l = try await h.queue.job(long.id, queue: "cap")
                return n?.state == .completed || (l?.state == .active && l?.history.isEmpty == false)
            }
            let holders = try await h.queue.redis.send(
                RedisCommand("SMEMBERS", QueueKeys(namespace: h.namespace, queue: "cap").prefix + "rl:one-per-k:c:cc")).array?.compactMap(\.string) ?? []
            #expect(holders.count <= 1, "two permits of key c are held: \(holders)")
            _ = try await h.queue.cancel(long.id, queue: "cap")
            try await waitUntil(timeout: .seconds(30)) { try await h.queue.job(next.id, queue: "cap")?.state == .completed }
            await Self.stop([survivor])
        }
    }
}

import Foundation
import JobKitTestSupport
import NIOCore
import Testing

@testable import JobKit

private func noop(queue: String = "default", _ configure: (inout EnqueueOptions) -> Void = { _ in }) -> JobQueue.Job {
    var options = EnqueueOptions(queue: queue)
    configure(&options)
    return JobQueue.Job(name: "jobkit.noop", payload: ByteBuffer(string: "{}"), options: options)
}

/// Every key of the test's namespace (SCAN), to show that a refused call wrote nothing.
private func keys(of h: EngineHarness) async throws -> [String] {
    var out: [String] = []
    for server in try await h.redis.keyServers() {
        var cursor = "0"
        repeat {
            let reply = try await server.send(RedisCommand("SCAN", strings: [cursor, "MATCH", "\(h.namespace):*", "COUNT", "1000"]))
            let parts = try #require(reply.array)
            cursor = parts[0].string ?? "0"
            out += (parts[1].array ?? []).compactMap(\.string)
        } while cursor != "0"
    }
    return out.sorted()
}

/// Claims `count` ready jobs of `queue` as node `node`; returns (id, token) of each.
private func claim(_ h: EngineHarness, _ count: Int, queue: String = "default", node: String = "node-t") async throws
    -> [(id: String, token: String)]
{
    let k = h.queue.keys(queue)
    let reply = try await h.redis.run(LeaseScripts.claim(k, count: count, lease: .seconds(600), node: node))
    let parts = try #require(reply.array)
    var out: [(String, String)] = []
    var i = 2
    while i + ClaimedJob.fieldsPerJob <= parts.count {
        out.append((parts[i].string ?? "", parts[i + 1].string ?? ""))
        i += ClaimedJob.fieldsPerJob
    }
    return out
}

@Suite("Queue scripts: bounded chunks, per-job options, validation before writing")
struct QueueScriptTests {
    // MARK: Whole-set scripts in chunks

    @Test("purge deletes 20,000 waiting jobs in calls of at most one chunk each, with the right total")
    func purgeInChunks() async throws {
        try await EngineHarness.with { h in
            _ = try await h.queue.enqueueBulk((0..<20_000).map { i in noop { if i % 10 == 0 { $0.idempotencyKey = "k\(i)" } } })
            _ = try await h.queue.enqueueBulk((0..<300).map { _ in noop { $0.delay = .seconds(3600) } })
            let kept = try await h.queue.enqueue(noop(queue: "other"))
            let running = try await claim(h, 5)
            let chunk = 2500
            let (deleted, walk) = try await h.queue.purge(queue: "default", chunk: chunk)
            #expect(deleted == 20_295)
            #expect(walk.largestCall <= chunk, "one call visited \(walk.largestCall) entries")
            #expect(walk.calls == 20_295 / chunk + 1)
            let counts = try await h.queue.counts("default")
            #expect(counts.ready == 0 && counts.scheduled == 0 && counts.retrying == 0)
            #expect(counts.active == 5, "running jobs stay")
            for job in running { #expect(try await h.queue.job(job.id)?.state == .active) }
            #expect(try await h.queue.job(kept.id)?.state == .ready, "other queues stay")
            // Records and idempotency keys of purged jobs are gone: left are the 5 running jobs' records and the
            // key of the first of them (job 0 has idempotency key k0).
            let all = try await keys(of: h)
            #expect(all.filter { $0.contains(":{default}:job:") }.sorted() == running.map { h.queue.keys("default").job($0.id) }.sorted())
            #expect(all.filter { $0.contains(":{default}:idem:") } == [h.queue.keys("default").idempotency("k0")])
            // The public API gives the same total.
            _ = try await h.queue.enqueueBulk((0..<7).map { _ in noop() })
            #expect(try await h.queue.purge(queue: "default") == 7)
        }
    }

    @Test("cancel by queue cancels 20,000 waiting jobs in calls of at most one chunk each")
    func cancelWaitingInChunks() async throws {
        try await EngineHarness.with { h in
            let handles = try await h.queue.enqueueBulk((0..<20_000).map { _ in noop() })
            let chunk = 1000
            let (canceled, walk) = try await h.queue.cancelWaiting(queue: "default", chunk: chunk)
            #expect(canceled == 20_000)
            #expect(walk.largestCall <= chunk)
            #expect(walk.calls == 20_000 / chunk + 1)
            let counts = try await h.queue.counts("default")
            #expect(counts.ready == 0)
            // Retention keeps at most 10,000 (+10 %) canceled records; the newest are kept.
            #expect(counts.canceled >= 10_000 && counts.canceled <= 11_000)
            #expect(try await h.queue.job(handles.last!.id)?.state == .canceled)
        }
    }

    @Test("cancel by tenant goes in chunks and misses no job while the sets change between calls")
    func cancelTenantWhileQueueMoves() async throws {
        try await EngineHarness.with { h in
            let k = h.queue.keys("default")
            // 3,000 jobs, tenants alternating a, b; 20 delayed jobs of tenant a.
            let jobs = try await h.queue.enqueueBulk((0..<3000).map { i in noop { $0.tenantID = i % 2 == 0 ? "a" : "b" } })
            let delayed = try await h.queue.enqueueBulk((0..<20).map { _ in noop { $0.tenantID = "a"; $0.delay = .seconds(3600) } })
            let tenantA = Set(jobs.enumerated().filter { $0.offset % 2 == 0 }.map(\.element.id) + delayed.map(\.id))
            // The first chunk: 500 entries of `ready` (250 of tenant a canceled).
            var cursor: [any RESPArgument] = [1, "", ""]
            var canceled = 0
            var running = Set<String>()
            var calls = 0
            func step() async throws -> Bool {
                let reply = try await h.redis.run(
                    QueueScripts.cancelMany, keys: [k.prefix], arguments: ["a", 500] + cursor)
                let parts = try #require(reply.array)
                #expect(parts.count == 6)
                #expect((parts[5].int ?? .max) <= 500, "a call visited \(parts[5].int ?? -1) entries")
                canceled += parts[0].int ?? 0
                for pair in parts[1].pairs { running.insert(pair.key) }
                calls += 1
                cursor = [parts[2].int ?? 0, parts[3].string ?? "", parts[4].string ?? ""]
                return parts[2].int == 0
            }
            #expect(try await step() == false)
            // Between calls a node claims 300 jobs from the front: the 250 of tenant b left there (among them the
            // cursor's member, so the walk resumes by score) and 50 not visited yet, 25 of them tenant a's.
            let claimed = try await claim(h, 300)
            #expect(claimed.count == 300)
            // And producers add more jobs of both tenants.
            let late = try await h.queue.enqueueBulk((0..<100).map { i in noop { $0.tenantID = i % 2 == 0 ? "a" : "b" } })
            while try await step() == false {}
            let lateA = Set(late.enumerated().filter { $0.offset % 2 == 0 }.map(\.element.id))
            for id in tenantA.union(lateA) {
                let record = try #require(try await h.queue.job(id))
                if record.state == .active {
                    #expect(running.contains(id), "running job \(id) of tenant a was not asked to cancel")
                } else {
                    #expect(record.state == .canceled, "job \(id) of tenant a is \(record.state)")
                }
            }
            #expect(canceled + running.count == tenantA.count + lateA.count)
            #expect(running.count == 25)
            let bIDs = jobs.enumerated().filter { $0.offset % 2 == 1 }.map(\.element.id)
            for id in bIDs.prefix(300) + bIDs.suffix(300) {
                let state = try await h.queue.job(id)?.state
                #expect(state == .ready || state == .active, "tenant b's job \(id) is \(String(describing: state))")
            }
            // After the first call: 2,450 + 100 entries of ready, 20 of scheduled, 300 of active, 500 per call.
            #expect(calls == 1 + 2870 / 500 + 1)
        }
    }

    @Test("cancelTenant reports canceled and requested totals across chunks")
    func cancelTenantTotals() async throws {
        try await EngineHarness.with { h in
            _ = try await h.queue.enqueueBulk((0..<1200).map { _ in noop { $0.tenantID = "t1" } })
            _ = try await h.queue.enqueueBulk((0..<50).map { _ in noop(queue: "second") { $0.tenantID = "t1" } })
            let running = try await claim(h, 100)  // t1's: t2 has nothing yet
            // t2's jobs arrive after the claim (with tenant fairness they would otherwise share the first claims).
            _ = try await h.queue.enqueueBulk((0..<800).map { _ in noop { $0.tenantID = "t2" } })
            let result = try await h.queue.cancelTenant("t1", chunk: 300)
            #expect(result.canceled == 1100 + 50)
            #expect(result.requested == 100)
            #expect(try await h.queue.counts("default").ready == 800)
            for job in running {
                let record = try #require(try await h.queue.job(job.id))
                #expect(record.state == .active)
            }
            let flagged = try await h.redis.send(
                RedisCommand("HGET", h.queue.keys("default").job(running[0].id), "cancelRequested"))
            #expect(flagged.string == "1")
            await #expect(throws: QueueError.self) { _ = try await h.queue.cancelTenant("") }
        }
    }

    @Test("requeue of every dead job goes in chunks, and stale entries in dead neither stop nor loop it")
    func requeueDeadInChunks() async throws {
        try await EngineHarness.with { h in
            let k = h.queue.keys("default")
            _ = try await h.queue.enqueueBulk((0..<2500).map { _ in noop() })
            let claimed = try await claim(h, 2500)
            #expect(claimed.count == 2500)
            let replies = try await h.redis.run(
                claimed.map {
                    LeaseScripts.fail(k, id: $0.id, token: $0.token, kind: .poison, error: "bad", delay: .zero, jitter: 0, node: "node-t")
                })
            #expect(replies.allSatisfy { $0.array?.first?.string == "dead" })
            // One carries a cancel request and lease expiries: a requeued job starts over without them.
            _ = try await h.redis.send(RedisCommand("HSET", k.job(claimed[7].id), "cancelRequested", "1", "expiries", 2))
            // Five ids in `dead` whose records are gone, in front of every real one.
            for i in 0..<5 { _ = try await h.redis.send(RedisCommand("ZADD", k.dead, 1, "gone-\(i)")) }
            let chunk = 1000
            let (requeued, walk) = try await h.queue.requeueAllDead(queue: "default", chunk: chunk)
            #expect(requeued == 2500)
            #expect(walk.largestCall <= chunk)
            #expect(walk.calls == 2505 / chunk + 1)
            let counts = try await h.queue.counts("default")
            #expect(counts.ready == 2500 && counts.dead == 5)
            let record = try #require(try await h.queue.job(claimed[1234].id))
            #expect(record.state == .ready && record.attempts == 0)
            let marks = try await h.redis.send(RedisCommand("HMGET", k.job(claimed[7].id), "cancelRequested", "expiries"))
            #expect(marks.array?.allSatisfy(\.isNull) == true, "requeue keeps \(marks)")
            #expect(try await h.queue.requeueAllDead(queue: "default") == 0)
        }
    }

    // MARK: Trimming finished jobs by age

    @Test("trimFinished removes finished jobs older than their retention age, in chunks, and keeps the rest")
    func trimByAge() async throws {
        try await EngineHarness.with { h in
            let k = h.queue.keys("default")
            let now = try await h.redis.timeMilliseconds()
            let hour: Int64 = 3_600_000
            try await h.queue.setRetention(queue: "default", completed: RetentionPolicy(count: 10_000, age: .seconds(3600)))
            // canceled (default age 24 h): 1,500 real ones, 1,000 of them backdated by two days.
            let handles = try await h.queue.enqueueBulk((0..<1500).map { _ in noop() })
            #expect(try await h.queue.cancelWaiting(queue: "default") == 1500)
            let old = handles.prefix(1000).map(\.id)
            var commands = old.map { RedisCommand("ZADD", k.canceled, "XX", now - 48 * hour, $0) }
            // completed (age 1 h, from the queue's config): 700 finished two hours ago, 300 half an hour ago.
            func finished(_ state: String, _ id: String, at: Int64) -> [RedisCommand] {
                [RedisCommand("HSET", k.job(id), "state", state, "name", "jobkit.noop", "payload", "{}", "finishedAt", at),
                 RedisCommand("ZADD", k.prefix + state, at, id)]
            }
            for i in 0..<700 { commands += finished("completed", "c-old-\(i)", at: now - 2 * hour) }
            for i in 0..<300 { commands += finished("completed", "c-new-\(i)", at: now - hour / 2) }
            // dead (default age 7 days): 200 eight days old, 100 two days old.
            for i in 0..<200 { commands += finished("dead", "d-old-\(i)", at: now - 8 * 24 * hour) }
            for i in 0..<100 { commands += finished("dead", "d-new-\(i)", at: now - 2 * 24 * hour) }
            // An old id in `canceled` whose record was requeued meanwhile: its set entry goes, its record stays.
            commands += [RedisCommand("HSET", k.job("moved"), "state", "ready"), RedisCommand("ZADD", k.canceled, 5, "moved")]
            let replies = try await h.redis.pipeline(commands)
            #expect(!replies.contains { if case .error = $0 { true } else { false } })

            let chunk = 400
            let result = try await h.queue.trimFinished(queue: "default", chunk: chunk)
            #expect(result.removed == 1000 + 700 + 200 + 1)
            #expect(result.largestCall <= chunk)
            #expect(result.calls == 1901 / chunk + 1)
            let counts = try await h.queue.counts("default")
            #expect(counts.canceled == 500 && counts.completedRetained == 300 && counts.dead == 100)
            #expect(try await h.queue.job(old[0])?.state == nil, "a trimmed record is deleted")
            #expect(try await h.queue.job(handles[1200].id)?.state == .canceled)
            #expect(try await h.queue.job("c-old-3") == nil)
            #expect(try await h.queue.job("c-new-3")?.state == .completed)
            #expect(try await h.queue.job("d-old-3") == nil)
            #expect(try await h.queue.job("d-new-3")?.state == .dead)
            #expect(try await h.queue.job("moved")?.state == .ready)
            #expect(try await h.queue.trimFinished(queue: "default") == 0)
        }
    }

    // MARK: Enqueue: per-job idempotency TTLs, validation before any write

    @Test("a bulk enqueue keeps each job's own idempotency TTL")
    func perJobIdempotencyTTL() async throws {
        try await EngineHarness.with { h in
            let k = h.queue.keys("default")
            _ = try await h.queue.enqueueBulk([
                noop { $0.idempotencyKey = "short"; $0.idempotencyTTL = .seconds(60) },
                noop(),
                noop { $0.idempotencyKey = "long"; $0.idempotencyTTL = .seconds(7200) },
                noop { $0.idempotencyKey = "default" },
            ])
            let short = try #require(try await h.redis.send(RedisCommand("PTTL", k.idempotency("short"))).int)
            let long = try #require(try await h.redis.send(RedisCommand("PTTL", k.idempotency("long"))).int)
            let standard = try #require(try await h.redis.send(RedisCommand("PTTL", k.idempotency("default"))).int)
            #expect(short > 0 && short <= 60_000, "short key PTTL \(short)")
            #expect(long > 3_600_000 && long <= 7_200_000, "long key PTTL \(long)")
            #expect(standard > 7_200_000 && standard <= 86_400_000, "default key PTTL \(standard)")
        }
    }

    @Test("an invalid idempotency TTL anywhere in a bulk enqueue is refused with a QueueError, and nothing is written")
    func invalidTTLWritesNothing() async throws {
        try await EngineHarness.with { h in
            var jobs = (0..<1500).map { i in noop { $0.idempotencyKey = "ok-\(i)" } }
            jobs.append(noop { $0.idempotencyKey = "bad"; $0.idempotencyTTL = .zero })
            await #expect {
                try await h.queue.enqueueBulk(jobs)
            } throws: { ($0 as? QueueError)?.code == .invalidOptions }
            await #expect {
                try await h.queue.enqueue(noop { $0.idempotencyKey = "neg"; $0.idempotencyTTL = .milliseconds(-5) })
            } throws: { ($0 as? QueueError)?.code == .invalidOptions }
            let written = try await keys(of: h)
            #expect(written == [], "a refused enqueue wrote \(written.prefix(5))")
        }
    }

    static let invalidOptions: [(String, @Sendable (inout EnqueueOptions) -> Void)] = [
        ("priority above 999", { $0.priority = 1000 }),
        ("priority below -999", { $0.priority = -1000 }),
        ("no attempt", { $0.maxAttempts = 0 }),
        ("negative delay", { $0.delay = .milliseconds(-1) }),
        ("negative run-at", { $0.runAtMilliseconds = -1 }),
        ("zero timeout", { $0.timeout = .zero }),
        ("empty idempotency key", { $0.idempotencyKey = "" }),
        ("zero idempotency TTL", { $0.idempotencyTTL = .zero }),
        ("sub-millisecond idempotency TTL", { $0.idempotencyTTL = .microseconds(500) }),
        ("negative backoff", { $0.backoff = .fixed(.milliseconds(-10)) }),
        ("bad queue name", { $0.queue = "no spaces" }),
    ]

    @Test("every enqueue option is validated in Swift before anything is sent", arguments: QueueScriptTests.invalidOptions.indices)
    func swiftValidation(_ index: Int) async throws {
        let (name, configure) = Self.invalidOptions[index]
        try await EngineHarness.with { h in
            await #expect {
                try await h.queue.enqueueBulk([noop(), noop(configure)])
            } throws: { ($0 as? QueueError)?.code == .invalidOptions }
            let written = try await keys(of: h)
            #expect(written.isEmpty, "\(name): something was written")
        }
    }

    /// One job's enqueue values (``QueueScripts/enqueueArgumentsPerJob``), valid unless overridden.
    static func scriptJob(_ id: String, _ overrides: [Int: String] = [:]) -> [String] {
        var v = [id, "jobkit.noop", "{}", "0", "0", "0", "5", "exp:1000:3600000", "0", "", "", "key-\(id)", "60000", ""]
        for (i, value) in overrides { v[i] = value }
        return v
    }

    static let invalidScriptValues: [(String, Int, String)] = [
        ("idempotency TTL 0", 12, "0"),
        ("idempotency TTL negative", 12, "-100"),
        ("idempotency TTL not a number", 12, "1e3"),
        ("priority out of range", 3, "1000"),
        ("priority not whole", 3, "1.5"),
        ("negative delay", 4, "-1"),
        ("maxAttempts 0", 6, "0"),
        ("malformed backoff", 7, "exp:-1:5"),
        ("negative timeout", 8, "-5"),
        ("empty name", 1, ""),
    ]

    @Test("the enqueue script refuses a bad value in any job before its first write", arguments: QueueScriptTests.invalidScriptValues.indices)
    func scriptValidatesBeforeWriting(_ index: Int) async throws {
        let (name, field, value) = Self.invalidScriptValues[index]
        try await EngineHarness.with { h in
            let k = h.queue.keys("default")
            let args: [any RESPArgument] = [3] + Self.scriptJob("j1") + Self.scriptJob("j2", [field: value])
                + Self.scriptJob("j3")
            let reply = try await h.redis.pipeline([QueueScripts.enqueue.evalsha(keys: [k.prefix], arguments: args)], loading: [QueueScripts.enqueue])[0]
            guard case .error(let text) = reply else {
                Issue.record("\(name): the script accepted it: \(reply)")
                return
            }
            #expect(String(buffer: text).hasPrefix("ERR invalid enqueue: job j2"), "\(name): \(String(buffer: text))")
            let written = try await keys(of: h)
            #expect(written.isEmpty, "\(name): the script wrote before refusing")
        }
    }

    @Test("the enqueue script refuses an argument count that does not match the job count")
    func scriptChecksArgumentCount() async throws {
        try await EngineHarness.with { h in
            let k = h.queue.keys("default")
            let args: [any RESPArgument] = [2] + Self.scriptJob("j1")
            let reply = try await h.redis.pipeline([QueueScripts.enqueue.evalsha(keys: [k.prefix], arguments: args)], loading: [QueueScripts.enqueue])[0]
            guard case .error(let text) = reply else {
                Issue.record("the script accepted one job's values for 2 jobs")
                return
            }
            #expect(String(buffer: text).hasPrefix("ERR invalid enqueue"))
            let written = try await keys(of: h)
            #expect(written.isEmpty)
            // The same values with the right count enqueue.
            let ok = try await h.redis.run(QueueScripts.enqueue, keys: [k.prefix], arguments: [1] + Self.scriptJob("j1"))
            #expect(ok.array?.count == 2)
            #expect(try await h.queue.job("j1", queue: "default")?.state == .ready)
        }
    }

    // MARK: Redis requirements

    @Test(
        "the Redis version check accepts 7.0 and newer and names anything older",
        arguments: [
            ("7.0.0", true), ("7.0.15", true), ("7.2.4", true), ("8.0.1", true), ("10.1.0", true),
            ("6.2.14", false), ("6.0.20", false), ("5.0.7", false), ("garbage", false),
        ])
    func versionCheck(_ version: String, _ supported: Bool) {
        let problem = RedisRequirements.problem(version: version)
        #expect((problem == nil) == supported, "\(version): \(problem ?? "supported")")
        if !supported { #expect(problem?.contains("7.0.0") == true) }
    }

    @Test("the check reads the version from INFO server and passes on the test server")
    func requirementsOnServer() async throws {
        try await EngineHarness.with { h in
            let version = try await RedisRequirements.check(h.redis)
            let health = try await h.redis.healthCheck()
            #expect(version == health.version)
            #expect(RedisRequirements.version(fromInfo: "# Server\r\nredis_version:6.2.1\r\nredis_mode:standalone\r\n") == "6.2.1")
            #expect(RedisRequirements.problem(version: nil) != nil)
        }
    }
}

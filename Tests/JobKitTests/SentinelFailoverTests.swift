import Foundation
import JobKitTestSupport
import Logging
import NIOCore
import Testing

@testable import JobKit

/// The engine through Redis Sentinel: a private primary, replica and three sentinels per test.
@Suite("Redis Sentinel", .serialized)
struct SentinelFailoverTests {
    @Test("redis+sentinel:// URLs name the sentinels and the master; the password never shows")
    func url() throws {
        let url = try RedisURL("redis+sentinel://:pw@10.0.0.1:26379,10.0.0.2:26380/orders?db=2&sentinel_password=sp")
        #expect(url.isSentinel && !url.isCluster)
        #expect(url.sentinels == [.tcp(host: "10.0.0.1", port: 26379), .tcp(host: "10.0.0.2", port: 26380)])
        #expect(url.sentinelMaster == "orders" && url.database == 2 && url.password == "pw" && url.sentinelPassword == "sp")
        #expect(url.description == "redis+sentinel://:***@10.0.0.1:26379,10.0.0.2:26380/orders?db=2&sentinel_password=***")
        #expect(throws: RedisError.self) { try RedisURL("redis+sentinel://10.0.0.1:26379") }
    }

    @Test("a replica acknowledgement that does not come: the job is written, the enqueue says notReplicated, a retry under its key makes no second job")
    func replicaAcknowledgement() async throws {
        try await withTestNamespace { ns in
            // The shared test server has no replica: WAIT 1 answers 0.
            let pool = RedisPool(configuration: try TestEnvironment.redisConfiguration(), size: 1)
            let queue = JobQueue(
                redis: pool, namespace: ns, replicaAcknowledgement: .init(replicas: 1, timeout: .milliseconds(20)),
                logger: TestEnvironment.logger)
            let job = JobQueue.Job(name: "jobkit.noop", payload: ByteBuffer(), options: EnqueueOptions(idempotencyKey: "k"))
            for _ in 0..<2 {
                let error = await #expect(throws: QueueError.self) { try await queue.enqueue(job) }
                #expect(error?.code == .notReplicated)
            }
            #expect(try await queue.counts("default").ready == 1, "written once, however often retried")
            let bulkError = await #expect(throws: QueueError.self) { try await queue.enqueueBulk([job]) }
            #expect(bulkError?.code == .notReplicated)
            await pool.close()
        }
    }

    @Test(
        "SENTINEL FAILOVER mid-run: every accepted job runs, enqueues and the worker carry on against the new primary",
        .timeLimit(.minutes(2)))
    func failover() async throws {
        let set = try await RedisSentinelProcess()
        defer { set.stop() }
        let oldPrimary = set.dataPorts[0]
        #expect(try await set.primaryPort() == oldPrimary)
        var config = try RedisConfiguration(url: set.url, logger: TestEnvironment.logger)
        config.commandTimeout = .seconds(5)
        let pool = RedisPool(configuration: config, size: 2)
        let namespace = "sentinel-test"
        // Every enqueue waits for the replica (WAIT 1): an accepted job is on the replica that may take over.
        let queue = JobQueue(
            redis: pool, namespace: namespace, replicaAcknowledgement: .init(replicas: 1, timeout: .milliseconds(500)),
            logger: TestEnvironment.logger)
        // A whole node (heartbeats, lease renewal and reaping), with short timings: a job whose record or completion
        // was refused during the failover goes back to ready when its lease expires, and runs again.
        let configuration = JobNode.Configuration.failoverTest(
            redis: config, namespace: namespace, name: "sentinel", deadNodeTimeout: .seconds(10))
        let jobNode = try JobNode(configuration: configuration, registry: JobRegistry(), logger: TestEnvironment.logger)
        let run = Task { try await jobNode.run() }

        // Jobs are enqueued one by one; a refused enqueue (the failover in progress) is sent again under the same
        // idempotency key, so a retry never makes a second job. The failover starts after 50 accepted jobs; the
        // loop goes on until the sentinels name the new primary and 50 more jobs were accepted after that.
        var accepted: [String] = []
        var refused = 0
        // Each change of the refusal's reason, with its time since the failover started (printed for the notes).
        var refusals: [(String, Duration)] = []
        var failoverStart: ContinuousClock.Instant?
        var firstAcceptedAfterRefusal: Duration?
        var acceptedOnNewPrimary = 0
        var i = 0
        while acceptedOnNewPrimary < 50 {
            if i == 50, failoverStart == nil {
                #expect(try await set.send(set.sentinelPorts[0], RedisCommand("SENTINEL", "FAILOVER", RedisSentinelProcess.master)).string == "OK")
                failoverStart = .now
            }
            let job = JobQueue.Job(
                name: DiagnosticJobs.Record.jobName, payload: ByteBuffer(string: #"{"key":"f"}"#),
                options: EnqueueOptions(maxAttempts: 10, idempotencyKey: "job-\(i)"))
            do {
                accepted.append(try await queue.enqueue(job).id)
                if refused > 0, firstAcceptedAfterRefusal == nil, let failoverStart { firstAcceptedAfterRefusal = .now - failoverStart }
                if failoverStart != nil, let now = try await set.primaryPort(), now != oldPrimary { acceptedOnNewPrimary += 1 }
                i += 1
            } catch {
                let reason = "\(error)".prefix(60)
                if refusals.last?.0 != String(reason) {
                    refusals.append((String(reason), failoverStart.map { ContinuousClock.now - $0 } ?? .zero))
                }
                refused += 1
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(i < 20_000, "the new primary was never used")
            if i >= 20_000 { break }
        }
        let newPrimary = try #require(try await set.primaryPort())
        #expect(newPrimary != oldPrimary)
        #expect(try await set.role(of: newPrimary) == "master")
        #expect(try await set.role(of: oldPrimary) == "slave", "the old primary was demoted")
        // Every accepted job ran (at least once: a job whose completion was refused mid-failover may run again).
        let key = "\(namespace):diag:f"
        func missing() async throws -> [String] {
            let entries = (try await pool.send(RedisCommand("LRANGE", key, 0, -1)).array ?? []).compactMap(\.string)
            let ran = Set(entries.map { String($0.split(separator: ":")[0]) })
            return accepted.filter { !ran.contains($0) }
        }
        do {
            try await waitUntil(timeout: .seconds(60), "every accepted job recorded") { try await missing().isEmpty }
        } catch {
            var states: [String] = []
            for id in try await missing().prefix(10) {
                states.append("\(id) (#\(accepted.firstIndex(of: id) ?? -1)): \(try await queue.job(id).map { "\($0.state)" } ?? "no record")")
            }
            Issue.record("\(try await missing().count) accepted jobs never ran: \(states.joined(separator: ", ")); refusals: \(refusals.map { "\($0.1): \($0.0)" }.joined(separator: " | "))")
            throw error
        }
        let entries = (try await pool.send(RedisCommand("LRANGE", key, 0, -1)).array ?? []).compactMap(\.string)
        #expect(Set(entries.map { String($0.split(separator: ":")[0]) }).count == accepted.count, "no job beyond those accepted")
        await jobNode.triggerGracefulShutdown()
        try await run.value
        // The figure for the notes: how long enqueues were refused.
        print(
            "sentinel failover: \(accepted.count) jobs accepted, \(refused) enqueues refused, first accepted \(firstAcceptedAfterRefusal.map { "\($0)" } ?? "-") after SENTINEL FAILOVER, \(entries.count - accepted.count) runs beyond one per job; refusals: \(refusals.map { "\($0.1): \($0.0)" }.joined(separator: " | "))"
        )
        _ = try? await pool.deleteKeys(matching: "\(namespace):*")
        await pool.close()
    }
}

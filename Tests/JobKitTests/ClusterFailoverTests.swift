import Foundation
import JobKitTestSupport
import Logging
import NIOCore
import Testing

@testable import JobKit

/// The engine on a Redis Cluster whose primary crashes: a private cluster of 3 primaries with one replica each.
@Suite("Redis Cluster failover", .serialized)
struct ClusterFailoverTests {
    @Test(
        "the primary of a queue's slot killed mid-run: its replica takes over, every accepted job runs, enqueues and the worker carry on",
        .timeLimit(.minutes(3)))
    func primaryKilledMidRun() async throws {
        let cluster = try await RedisClusterProcess(primaries: 3, replicas: 1)
        defer { cluster.stop() }
        var config = try RedisConfiguration(url: cluster.url, logger: TestEnvironment.logger)
        config.commandTimeout = .seconds(5)
        config.maximumReconnectDelay = .milliseconds(500)
        let pool = RedisPool(configuration: config, size: 2)
        try await pool.warmUp()
        // The test watches the map through a client of its own: the producer's must find the new primary itself.
        let cc = RedisClusterClient(seeds: cluster.seedNodes, configuration: config)
        let topology = try await cluster.waitForReplicas(cc)
        let namespace = "cluster-failover"
        let victim = try #require(topology.primary(for: HashSlot.of("default")))
        let heir = try #require(topology.replicas(of: victim).first)
        // The record list lives on another shard, so what the jobs record is not itself at the mercy of the crash.
        let recordKey = try #require(
            (0..<1000).map { "r\($0)" }.first { topology.primary(for: HashSlot.of(QueueKeys.diagnostics(namespace: namespace, key: $0))) != victim })
        // Every enqueue waits for the replica (WAIT 1): an accepted job is on the replica that takes over.
        let queue = JobQueue(
            redis: pool, namespace: namespace, replicaAcknowledgement: .init(replicas: 1, timeout: .milliseconds(500)),
            logger: TestEnvironment.logger)
        let configuration = JobNode.Configuration.failoverTest(
            redis: config, namespace: namespace, name: "cluster-failover", deadNodeTimeout: .seconds(15))
        let jobNode = try JobNode(configuration: configuration, registry: JobRegistry(), logger: TestEnvironment.logger)
        let run = Task { try await jobNode.run() }

        func ran() async throws -> [String] {
            (try await pool.send(RedisCommand("LRANGE", QueueKeys.diagnostics(namespace: namespace, key: recordKey), 0, -1)).array ?? [])
                .compactMap(\.string).map { String($0.split(separator: ":")[0]) }
        }

        // Jobs one by one; a refused enqueue is sent again under the same idempotency key (no second job). The
        // primary is killed after 50 accepted jobs; the loop goes on until 50 more were accepted after the kill.
        var accepted: [String] = []
        var refused = 0
        var killedAt: ContinuousClock.Instant?
        var restarted = false
        // When the test's own client first saw the heir promoted, and when the producer first reached the heir
        // (an enqueue accepted, or refused for want of a replica rather than for an unreachable node).
        var promotedAt: ContinuousClock.Instant?
        var reachedHeirAt: ContinuousClock.Instant?
        var firstAcceptedAfterKill: Duration?
        var i = 0
        while accepted.count < 100 {
            if i == 50, killedAt == nil {
                // The kill comes while jobs are running.
                try await waitUntil("the node ran jobs") { try await ran().count >= 10 }
                await cluster.kill(port: victim.port)
                killedAt = .now
            }
            let job = JobQueue.Job(
                name: DiagnosticJobs.Record.jobName, payload: ByteBuffer(string: #"{"key":"\#(recordKey)"}"#),
                options: EnqueueOptions(maxAttempts: 10, idempotencyKey: "job-\(i)"))
            do {
                accepted.append(try await queue.enqueue(job).id)
                if let killedAt, firstAcceptedAfterKill == nil { firstAcceptedAfterKill = .now - killedAt }
                if killedAt != nil, reachedHeirAt == nil { reachedHeirAt = .now }
                i += 1
            } catch {
                refused += 1
                if killedAt != nil, reachedHeirAt == nil, (error as? QueueError)?.code == .notReplicated { reachedHeirAt = .now }
                // The promoted replica has no replica of its own, so WAIT 1 cannot succeed until the crashed node
                // is back: restart it once the map names its heir (earlier, it would come back as an empty primary).
                if !restarted, killedAt != nil, try await cc.refreshTopology().primary(for: HashSlot.of("default")) == heir {
                    promotedAt = .now
                    try await cluster.restart(port: victim.port)
                    restarted = true
                }
                try #require(ContinuousClock.now - (killedAt ?? .now) < .seconds(60), "enqueues never resumed: \(error)")
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        let killedAtValue = try #require(killedAt)
        #expect(refused > 0 && restarted, "enqueues were refused while the slot had no primary")
        // The producer's map follows the failover on its own: the failed enqueues re-read it.
        let lag = try #require(reachedHeirAt) - (try #require(promotedAt))
        #expect(lag < .seconds(5), "the producer reached the new primary \(lag) after the promotion")
        try await waitUntil(timeout: .seconds(30), "the crashed node is back as the heir's replica") {
            try await cc.refreshTopology().replicas(of: heir) == [victim]
        }
        #expect(pool.cluster?.topology?.primary(for: HashSlot.of("default")) == heir, "the producer's map names the promoted replica")

        // Every accepted job ran at least once (one whose claim or completion was lost with the primary runs again
        // when its lease expires), and nothing else ran.
        try await waitUntil(timeout: .seconds(60), "every accepted job recorded") { Set(try await ran()).isSuperset(of: accepted) }
        let recorded = try await ran()
        #expect(Set(recorded) == Set(accepted), "no job beyond those accepted")
        try await waitUntil(timeout: .seconds(30), "nothing left waiting or running") {
            let c = try await queue.counts("default")
            return c.ready == 0 && c.active == 0 && c.scheduled == 0 && c.retrying == 0
        }
        #expect(try await queue.counts("default").dead == 0)
        let workingAgain = ContinuousClock.now - killedAtValue
        print(
            "cluster failover: \(accepted.count) jobs accepted, \(refused) enqueues refused, first accepted \(firstAcceptedAfterKill.map { "\($0)" } ?? "-") after the kill, \(recorded.count - accepted.count) runs beyond one per job, queue empty \(workingAgain) after the kill"
        )
        await jobNode.triggerGracefulShutdown()
        try await run.value
        await pool.close()
        await cc.close()
    }
}

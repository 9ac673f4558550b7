import Foundation
import JobKitTestSupport
import Logging
import NIOCore
import Synchronization
import Testing

@testable import JobKit

/// A queue's hash slot moved to another primary while a node works it and a producer enqueues to it.
@Suite("Resharding a queue's slot mid-run", .serialized)
struct ReshardTests {
    @Test(
        "CLUSTER SETSLOT MIGRATING/IMPORTING + MIGRATE while jobs are enqueued and claimed: every job runs once, the queue ends on the target",
        .timeLimit(.minutes(3)))
    func reshardMidRun() async throws {
        let cluster = try await RedisClusterProcess()
        defer { cluster.stop() }
        let url = cluster.url
        var config = try RedisConfiguration(url: url, logger: TestEnvironment.logger)
        config.commandTimeout = .seconds(5)
        let pool = RedisPool(configuration: config, size: 2)
        try await pool.warmUp()
        let namespace = "reshard"
        let queueName = "moving"
        let keys = QueueKeys(namespace: namespace, queue: queueName)
        let slot = HashSlot.of(keys.prefix)
        // A client of its own for the operator's commands, each sent to one chosen node.
        let admin = RedisClusterClient(seeds: cluster.ports.map { .init(host: "127.0.0.1", port: $0) }, configuration: config, poolSize: 1)
        let topology = try await admin.refreshTopology()
        let source = try #require(topology.primary(for: slot))
        let target = try #require(topology.primaries.first { $0 != source })
        // The record list lives in a slot of its own (no hash tag of the queue): it never moves.
        let recordKey = "\(namespace):diag:r"
        #expect(HashSlot.of(recordKey) != slot)

        let configuration = JobNode.Configuration.inProcessTest(
            redis: config, namespace: namespace, name: "reshard", queues: [queueName], concurrency: 8,
            worker: {
                $0.leaseDuration = .seconds(15)
                $0.shutdownGrace = .seconds(5)
            },
            node: { $0.heartbeatInterval = .milliseconds(500) })
        let jobNode = try JobNode(configuration: configuration, registry: JobRegistry(), logger: TestEnvironment.logger)
        let run = Task { try await jobNode.run() }
        let queue = JobQueue(redis: pool, namespace: namespace, logger: TestEnvironment.logger)

        /// The producer: one job at a time, each awaited, until told to stop; ids in order.
        let enqueued = Mutex<[String]>([])
        let stop = Mutex(false)
        let longestEnqueue = Mutex<Duration>(.zero)
        let producer = Task {
            var i = 0
            while !stop.withLock({ $0 }) {
                let started = ContinuousClock.now
                defer { longestEnqueue.withLock { $0 = max($0, .now - started) } }
                let job = JobQueue.Job(
                    name: DiagnosticJobs.Record.jobName, payload: ByteBuffer(string: #"{"key":"r"}"#),
                    options: EnqueueOptions(queue: queueName, idempotencyKey: "job-\(i)"))
                let id = try await queue.enqueue(job).id
                enqueued.withLock { $0.append(id) }
                i += 1
            }
        }
        defer {
            producer.cancel()
            run.cancel()
        }
        func recorded() async throws -> [String] {
            (try await pool.send(RedisCommand("LRANGE", recordKey, 0, -1)).array ?? []).compactMap(\.string)
        }
        try await waitUntil(timeout: .seconds(60), "300 jobs ran before the migration") { try await recorded().count >= 300 }

        // The migration, as `redis-cli --cluster reshard` does it: IMPORTING on the target, MIGRATING on the source,
        // the keys in batches of 10, then the new owner on every node (target first). A short pause between batches
        // keeps the slot split long enough for enqueues and claims to meet it.
        let id = { (node: ClusterTopology.Node) in try await cluster.cli(node.port, ["cluster", "myid"]) }
        let sourceID = try await id(source)
        let targetID = try await id(target)
        // A backlog for the claims to meet the migration: 1,500 more jobs at once.
        let backlog = try await queue.enqueueBulk(
            (0..<1_500).map { i in
                JobQueue.Job(
                    name: DiagnosticJobs.Record.jobName, payload: ByteBuffer(string: #"{"key":"r"}"#),
                    options: EnqueueOptions(queue: queueName, idempotencyKey: "bulk-\(i)"))
            }
        ).map(\.id)
        let readyAtStart = try await queue.counts(queueName).ready
        let enqueuedAtStart = enqueued.withLock { $0.count }
        let migrationStarted = ContinuousClock.now
        #expect(try await admin.pool(target).send(RedisCommand("CLUSTER", "SETSLOT", slot, "IMPORTING", sourceID)).string == "OK")
        #expect(try await admin.pool(source).send(RedisCommand("CLUSTER", "SETSLOT", slot, "MIGRATING", targetID)).string == "OK")
        var moved = 0
        while true {
            let batch = (try await admin.pool(source).send(RedisCommand("CLUSTER", "GETKEYSINSLOT", slot, 10)).array ?? []).compactMap(\.string)
            if batch.isEmpty { break }
            let reply = try await admin.pool(source).send(
                RedisCommand("MIGRATE", arguments: [target.host, target.port, "", 0, 5000, "KEYS"] + batch.map { $0 as any RESPArgument }))
            try #require(reply.string == "OK", "MIGRATE: \(reply)")
            moved += batch.count
            try await Task.sleep(for: .milliseconds(3))
        }
        let enqueuedDuring = enqueued.withLock { $0.count } - enqueuedAtStart
        for node in [target, source] + topology.primaries.filter({ $0 != source && $0 != target }) {
            #expect(try await admin.pool(node).send(RedisCommand("CLUSTER", "SETSLOT", slot, "NODE", targetID)).string == "OK")
        }
        let migration = ContinuousClock.now - migrationStarted
        let enqueuedAtEnd = enqueued.withLock { $0.count }
        try await waitUntil(timeout: .seconds(60), "200 jobs enqueued after the migration") {
            enqueued.withLock { $0.count } >= enqueuedAtEnd + 200
        }
        stop.withLock { $0 = true }
        try await producer.value
        let all = enqueued.withLock { $0 } + backlog
        try await waitUntil(timeout: .seconds(60), "every enqueued job ran") { try await recorded().count >= all.count }
        await jobNode.triggerGracefulShutdown()
        try await run.value

        // Every job ran exactly once, on its first attempt; no id ran that was not enqueued.
        let entries = try await recorded()
        var runs: [String: Int] = [:]
        for entry in entries { runs[String(entry.split(separator: ":")[0]), default: 0] += 1 }
        #expect(Set(runs.keys) == Set(all), "lost: \(Set(all).subtracting(runs.keys).count), unknown: \(Set(runs.keys).subtracting(all).count)")
        #expect(runs.values.allSatisfy { $0 == 1 }, "ran twice: \(runs.filter { $0.value > 1 }.count)")
        #expect(entries.allSatisfy { $0.hasSuffix(":1") }, "every job on its first attempt")
        let counts = try await queue.counts(queueName)
        #expect(counts.ready == 0 && counts.active == 0 && counts.scheduled == 0 && counts.dead == 0)
        // The slot and every key of the queue are on the target now.
        #expect(try await admin.pool(source).send(RedisCommand("CLUSTER", "COUNTKEYSINSLOT", slot)).int == 0)
        #expect(try await admin.pool(target).send(RedisCommand("CLUSTER", "COUNTKEYSINSLOT", slot)).int ?? 0 > 0)
        #expect(try await admin.refreshTopology().primary(for: slot) == target)
        // The window was real: keys moved while the producer was enqueuing (each enqueue awaited).
        #expect(moved >= 1_500 && readyAtStart >= 500, "moved \(moved) keys; \(readyAtStart) jobs ready when the migration began")
        // An enqueue met the migration and waited for it (TRYAGAIN, retried) instead of failing.
        #expect(longestEnqueue.withLock { $0 } >= .milliseconds(100), "no enqueue waited: \(longestEnqueue.withLock { $0 })")
        print(
            "reshard: \(all.count) jobs, \(moved) keys moved, \(readyAtStart) ready at the start, \(enqueuedDuring) enqueued during the migration (\(migration)), longest enqueue \(longestEnqueue.withLock { $0 }), \(entries.count) runs"
        )
        await admin.close()
        await pool.close()
    }
}

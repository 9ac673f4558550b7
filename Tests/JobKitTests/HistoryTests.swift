import Foundation
import JobKit
import JobKitTestSupport
import NIOCore
import Testing

@testable import JobKit

/// The metrics history: written by nodes with their heartbeats, read per minute and per hour, surviving the
/// node that wrote it.
@Suite struct HistoryTests {
    @Test("percentiles come from log2 buckets and are upper bounds")
    func percentiles() {
        var t = HistoryTally()
        for ms in [0, 1, 3, 3, 3, 100, 100, 100, 100, 5000] as [Int64] {
            t.runBuckets[HistoryTally.bucket(ms)] += 1
        }
        #expect(HistoryTally.bucket(0) == 0 && HistoryTally.bucket(1) == 1 && HistoryTally.bucket(3) == 2 && HistoryTally.bucket(4) == 3)
        #expect(HistoryTally.bucket(Int64.max) == HistoryTally.bucketCount - 1)
        #expect(t.runPercentile(0.5) == 4)  // the 5th of 10 is a 3 ms run: bucket [2, 4)
        #expect(t.runPercentile(0.6) == 128)  // the 6th is a 100 ms run: bucket [64, 128)
        #expect(t.runPercentile(0.2) == 2)
        #expect(t.runPercentile(0.95) == 8192)
        #expect(HistoryTally().runPercentile(0.5) == nil)
    }

    @Test("a node writes its tallies with its heartbeats; they outlive it, per minute and per hour")
    func nodeWritesHistory() async throws {
        try await EngineHarness.with { h in
            let dir = try TestEnvironment.makeTemporaryDirectory("history")
            let queue = JobQueue(redis: h.redis, namespace: h.namespace)
            let history = QueueHistory(redis: h.redis, namespace: h.namespace)
            _ = try await queue.enqueueBulk((0..<20).map { _ in JobQueue.Job(name: "jobkit.noop", payload: ByteBuffer(string: "{}"), options: .init(queue: "hq")) })
            _ = try await queue.enqueueBulk(
                (0..<3).map { _ in JobQueue.Job(name: "jobkit.fail", payload: ByteBuffer(string: #"{"times":-1}"#), options: .init(queue: "hq", maxAttempts: 1)) })
            let node = try JobNodeProcess(
                ["run", "--namespace", h.namespace, "--name", "hist", "--queues", "hq", "--heartbeat", "200ms", "--dead-node-timeout", "2s"],
                logPath: "\(dir)/node.log")
            func hour() async throws -> HistoryTally {
                let (_, buckets) = try await history.buckets(.minute, count: 60)
                var t = HistoryTally()
                for b in buckets { t.merge(b.total(queue: "hq")) }
                return t
            }
            try await waitUntil(timeout: .seconds(20)) { let t = try await hour(); return t.completed == 20 && t.failed == 3 }
            node.process.signal(SIGTERM)
            #expect(await node.process.wait() == 0)
            // After the node is gone: still there, by job name, in both resolutions.
            let (_, minutes) = try await history.buckets(.minute, count: 60)
            var byName: [String: HistoryTally] = [:]
            for b in minutes { for (s, t) in b.series where s.queue == "hq" { byName[s.job, default: HistoryTally()].merge(t) } }
            #expect(byName["jobkit.noop"]?.completed == 20 && byName["jobkit.noop"]?.failed == 0)
            #expect(byName["jobkit.fail"]?.failed == 3)
            #expect(byName["jobkit.noop"]?.waits == 20)
            #expect(byName["jobkit.noop"]?.runBuckets.reduce(0, +) == 20)
            let (_, hours) = try await history.buckets(.hour, count: 2)
            #expect(hours.map { $0.total(queue: "hq").completed }.reduce(0, +) == 20)
            #expect(minutes.count == 60 && hours.count == 2)
            // Every bucket key has a time to live (48 h for minutes, 30 days for hours).
            let keys = HistoryKeys(namespace: h.namespace)
            let last = try #require(minutes.last(where: { !$0.series.isEmpty }))
            let ttl = try await h.redis.send(RedisCommand("PTTL", keys.minute(last.startMs / 60_000))).int ?? -1
            #expect(ttl > 47 * 3_600_000 && ttl <= 48 * 3_600_000)
        }
    }
}

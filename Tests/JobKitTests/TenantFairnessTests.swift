import Foundation
import JobKit
import JobKitTestSupport
import NIOCore
import Testing

/// Round-robin across tenants within a queue: a tenant's long backlog does not hold back another tenant's jobs.
@Suite("Tenant fairness", .serialized)
struct TenantFairnessTests {
    @Test("tenant A enqueues 20,000 jobs while a node drains, then tenant B 10: B's all start before A's 200th from that point")
    func newcomerIsNotStarved() async throws {
        try await EngineHarness.with { h in
            let dir = try TestEnvironment.makeTemporaryDirectory("fair")
            let node = try JobNodeProcess(
                ["run", "--namespace", h.namespace, "--queues", "fair", "--concurrency", "16", "--no-scheduler", "--name", "fair"],
                logPath: "\(dir)/fair.log")
            var a = EnqueueOptions(queue: "fair")
            a.tenantID = "tenant-a"
            let payload = ByteBuffer(string: #"{"key":"fair"}"#)
            for _ in 0..<20 {
                _ = try await h.queue.enqueueBulk((0..<1000).map { _ in JobQueue.Job(name: "jobkit.record", payload: payload, options: a) })
            }
            // The node is busy with A's backlog; B arrives now.
            try await waitUntil(timeout: .seconds(30)) { try await h.recorded("fair").count >= 100 }
            // Pause the queue so that "that point" is exact: nothing runs between reading it and B's arrival.
            try await h.queue.pause(queue: "fair")
            try await waitUntil(timeout: .seconds(10)) { try await h.queue.counts("fair").active == 0 }
            let point = try await h.recorded("fair").count
            var b = EnqueueOptions(queue: "fair")
            b.tenantID = "tenant-b"
            let bJobs = try await h.queue.enqueueBulk((0..<10).map { _ in JobQueue.Job(name: "jobkit.record", payload: payload, options: b) })
            // Priority still orders within a tenant: A's urgent job goes before A's backlog too.
            var urgent = a
            urgent.priority = 10
            let aUrgent = try await h.queue.enqueue(JobQueue.Job(name: "jobkit.record", payload: payload, options: urgent))
            #expect(try await h.recorded("fair").count == point)
            try await h.queue.resume(queue: "fair")
            try await waitUntil(timeout: .seconds(60)) { try await h.queue.counts("fair").completed >= 20_011 }
            node.process.signal(SIGTERM)
            #expect(await node.process.wait(timeout: .seconds(30)) == 0)
            let order = try await h.recorded("fair").map { String($0.split(separator: ":")[0]) }
            #expect(order.count == 20_011)
            let bIDs = Set(bJobs.map(\.id))
            let lastB = try #require(order.lastIndex { bIDs.contains($0) })
            // B's ten interleave one for one with A's backlog (A's urgent job first): all within the first ~21.
            #expect(lastB - point < 200, "B's last job ran \(lastB - point) jobs after it was enqueued")
            let urgentIndex = try #require(order.firstIndex(of: aUrgent.id))
            #expect(urgentIndex - point < 16, "A's urgent job ran \(urgentIndex - point) jobs after the point")
            // Within a tenant, FIFO: A's backlog ran in enqueue order apart from jobs in flight together.
            #expect(order.filter { bIDs.contains($0) }.count == 10)
        }
    }
}

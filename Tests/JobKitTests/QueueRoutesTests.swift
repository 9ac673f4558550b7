import Foundation
import JobKit
import JobKitTestSupport
import NIOCore
import Testing

/// Operators' job-name → queue routes (`JOBKIT_ROUTES`).
@Suite("Queue routes", .serialized)
struct QueueRoutesTests {
    @Test("JOBKIT_ROUTES parses job.name=queue pairs and refuses what is not one, naming the entry")
    func parse() throws {
        let routes = try QueueRoutes.parse(" reports.monthly=reports_bulk , notifications.send=high_priority,")
        #expect(routes.queues == ["reports.monthly": "reports_bulk", "notifications.send": "high_priority"])
        #expect(try QueueRoutes.parse("").queues.isEmpty)
        for (bad, says) in [
            ("reports.monthly", "is not job.name=queue"), ("=q", "has no job name"), ("a=bad queue", "must be 1-100 characters"),
            ("a=q1,a=q2", "routed twice"),
        ] {
            #expect(throws: QueueError.self) { try QueueRoutes.parse(bad) }
            do { _ = try QueueRoutes.parse(bad) } catch { #expect("\(error)".contains(says), "\(bad): \(error)") }
        }
    }

    @Test("a routed job name goes to its route's queue on every enqueue path, whatever queue the caller named; other names are untouched")
    func enqueuePaths() async throws {
        try await EngineHarness.with { h in
            let queue = JobQueue(redis: h.redis, namespace: h.namespace, routes: QueueRoutes(["jobkit.noop": "routed"]))
            let payload = ByteBuffer(string: "{}")
            let one = try await queue.enqueue(JobQueue.Job(name: "jobkit.noop", payload: payload, options: EnqueueOptions(queue: "named")))
            let bulk = try await queue.enqueueBulk([
                JobQueue.Job(name: "jobkit.noop", payload: payload), JobQueue.Job(name: "jobkit.sleep", payload: ByteBuffer(string: #"{"ms":1}"#)),
            ])
            let (handle, record) = try await queue.enqueueReturningRecord(JobQueue.Job(name: "jobkit.noop", payload: payload))
            #expect([one.queue, bulk[0].queue, bulk[1].queue, handle.queue, record?.queue] == ["routed", "routed", "default", "routed", "routed"])
            #expect(try await h.queue.counts("routed").ready == 3)
            #expect(try await h.queue.counts("named").ready == 0)
            #expect(try await h.queue.counts("default").ready == 1)
        }
    }

    @Test("jobnode run: the default schedules take their job's route; routes that do not parse refuse the start with the reason")
    func nodeDefaultSchedules() async throws {
        try await EngineHarness.with { h in
            let dir = try TestEnvironment.makeTemporaryDirectory("routes")
            let bad = try JobNodeProcess(
                ["run", "--namespace", h.namespace, "--queues", "reports_bulk", "--name", "bad"], logPath: "\(dir)/bad.log",
                extraEnvironment: ["JOBKIT_ROUTES": "reports.monthly"])
            let status = await bad.process.wait(timeout: .seconds(30))
            #expect(status != nil && status != 0)
            #expect(bad.log.contains("JOBKIT_ROUTES: 'reports.monthly' is not job.name=queue"), "\(bad.log)")

            let node = try JobNodeProcess(
                ["run", "--namespace", h.namespace, "--queues", "reports_bulk", "--name", "routed"], logPath: "\(dir)/node.log",
                extraEnvironment: ["JOBKIT_ROUTES": "reports.monthly=reports_bulk"])
            let store = ScheduleStore(redis: h.redis, namespace: h.namespace)
            try await waitUntil(timeout: .seconds(30)) { try await store.get("reports.monthly") != nil }
            #expect(try await store.get("reports.monthly")?.schedule.queue == "reports_bulk")
            #expect(try await store.get("maintenance.nightly")?.schedule.queue == "maintenance")
            node.process.signal(SIGTERM)
            #expect(await node.process.wait(timeout: .seconds(20)) == 0)
        }
    }
}

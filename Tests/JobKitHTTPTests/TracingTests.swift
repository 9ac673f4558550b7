import Foundation
import HTTPTypes
import InMemoryTracing
import JobKit
import JobKitHTTP
import JobKitTestSupport
import NIOCore
import Synchronization
import Testing
import Tracing

/// The one tracer of the test process (`InstrumentationSystem` is bootstrapped once per process).
enum TestTracer {
    static let shared: InMemoryTracer = {
        let tracer = InMemoryTracer()
        InstrumentationSystem.bootstrap(tracer)
        return tracer
    }()
}

@Suite("Tracing: HTTP request → enqueue → run", .serialized)
struct TracingTests {
    @Test("a job's run span is a child of the enqueue span, which is a child of the request's span; one trace")
    func parentage() async throws {
        let tracer = TestTracer.shared
        #expect(JobTrace.isActive)
        try await HTTPHarness.with { h in
            let body = #"{"name":"jobkit.noop","queue":"traced","payload":{},"idempotencyKey":"traced-1"}"#
            let reply = try await h.request(.post, "/v1/jobs", body: body)
            #expect(reply.status == 201, "\(reply.body)")
            let id = try #require(reply.json["id"] as? String)
            // The job record carries the enqueue span's context.
            let raw = try await h.queue.redis.send(RedisCommand("HGET", h.queue.keys("traced").job(id), "trace"))
            let trace = try #require(raw.string, "the job record has no trace field")
            #expect(trace.contains(InMemoryTracer.traceIDKey))

            let harness = try EngineHarness(namespace: h.namespace)
            let worker = try harness.worker(queues: "traced", concurrency: 1)
            // The same idempotency key gives a handle on the HTTP job, whose result we await.
            var options = EnqueueOptions(queue: "traced")
            options.idempotencyKey = "traced-1"
            let handle = try await h.queue.enqueue(JobQueue.Job(name: "jobkit.noop", payload: ByteBuffer(string: "{}"), options: options))
            #expect(handle.id == id && !handle.created)
            try await harness.running(worker) { _ = try await handle.result(timeout: .seconds(20)) }
            await harness.redis.close()

            let spans = tracer.finishedSpans
            let run = try #require(spans.first { $0.operationName == "jobkit.run" && $0.attributes["job.id"]?.toSpanAttribute() == .string(id) })
            let enqueue = try #require(spans.first { $0.spanID == run.parentSpanID }, "the run span's parent was not recorded")
            #expect(enqueue.operationName == "jobkit.enqueue")
            #expect(enqueue.kind == .producer && run.kind == .consumer)
            let request = try #require(spans.first { $0.spanID == enqueue.parentSpanID }, "the enqueue span has no recorded parent")
            #expect(request.kind == .server)
            #expect(Set([run.traceID, enqueue.traceID, request.traceID]).count == 1)
        }
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JobKit
import JobKitTestSupport
import NIOCore
import Testing

/// `jobnode run --otlp-endpoint` against a local OTLP/HTTP collector (a Hummingbird app of this test that keeps
/// what it receives): spans of request → enqueue → run and the job metrics arrive, and are flushed on SIGTERM.
@Suite("OTLP export: spans and metrics to a collector", .serialized)
struct OTLPExportTests {
    /// What the collector received, by signal path.
    actor Received {
        var bodies: [String: [Data]] = [:]
        func add(_ path: String, _ body: Data) { bodies[path, default: []].append(body) }
    }

    struct Span {
        var name: String
        var traceID: String
        var spanID: String
        var parentSpanID: String
    }

    /// Every span in OTLP/JSON `ExportTraceServiceRequest` bodies, and the `service.name` of their resources.
    static func spans(_ bodies: [Data]) throws -> (spans: [Span], services: Set<String>) {
        var spans: [Span] = []
        var services: Set<String> = []
        for body in bodies {
            let object = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any])
            for resource in object["resourceSpans"] as? [[String: Any]] ?? [] {
                let attributes = (resource["resource"] as? [String: Any])?["attributes"] as? [[String: Any]] ?? []
                for a in attributes where a["key"] as? String == "service.name" {
                    if let v = (a["value"] as? [String: Any])?["stringValue"] as? String { services.insert(v) }
                }
                for scope in resource["scopeSpans"] as? [[String: Any]] ?? [] {
                    for s in scope["spans"] as? [[String: Any]] ?? [] {
                        spans.append(
                            Span(
                                name: s["name"] as? String ?? "", traceID: s["traceId"] as? String ?? "",
                                spanID: s["spanId"] as? String ?? "", parentSpanID: s["parentSpanId"] as? String ?? ""))
                    }
                }
            }
        }
        return (spans, services)
    }

    /// Every metric name in OTLP/JSON `ExportMetricsServiceRequest` bodies.
    static func metricNames(_ bodies: [Data]) throws -> Set<String> {
        var names: Set<String> = []
        for body in bodies {
            let object = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any])
            for resource in object["resourceMetrics"] as? [[String: Any]] ?? [] {
                for scope in resource["scopeMetrics"] as? [[String: Any]] ?? [] {
                    for m in scope["metrics"] as? [[String: Any]] ?? [] { if let n = m["name"] as? String { names.insert(n) } }
                }
            }
        }
        return names
    }

    @Test("a POST's job is traced request → enqueue → run in one trace at the collector, with the job counters; flushed on SIGTERM")
    func export() async throws {
        let received = Received()
        let router = Router()
        for path in ["/v1/traces", "/v1/metrics"] {
            router.post(RouterPath(path)) { request, _ -> Response in
                let body = try await request.body.collect(upTo: 16 << 20)
                await received.add(path, Data(buffer: body))
                return Response(
                    status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "{}")))
            }
        }
        let collector = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await collector.test(.live) { client in
            let collectorPort = try #require(client.port)
            try await withTestNamespace { ns in
                let dir = try TestEnvironment.makeTemporaryDirectory("otlp")
                let node = try JobNodeProcess(
                    ["run", "--namespace", ns, "--http", "127.0.0.1:0", "--queues", "otlp", "--heartbeat", "200ms",
                     "--lease", "3s", "--dead-node-timeout", "1s", "--no-scheduler",
                     "--otlp-endpoint", "http://127.0.0.1:\(collectorPort)"],
                    logPath: dir + "/node.log",
                    extraEnvironment: [
                        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json", "OTEL_BSP_SCHEDULE_DELAY": "100",
                        "OTEL_METRIC_EXPORT_INTERVAL": "60000",
                    ])
                let port = try await JobNodeHTTPTests.port(of: node)
                let body = #"{"name":"jobkit.noop","queue":"otlp","payload":{},"idempotencyKey":"otlp-1"}"#
                let id = try await TestClient.withClient(host: "127.0.0.1", port: port) { http in
                    let reply = try await http.execute(
                        .init("/v1/jobs", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body)))
                    #expect(reply.status == .created)
                    let json = try JSONSerialization.jsonObject(with: Data(buffer: reply.body ?? ByteBuffer())) as? [String: Any]
                    return try #require(json?["id"] as? String)
                }
                // A handle on the HTTP job (same idempotency key), to await its run.
                let pool = RedisPool(configuration: try TestEnvironment.redisConfiguration(), size: 1)
                let queue = JobQueue(redis: pool, namespace: ns, logger: TestEnvironment.logger)
                var options = EnqueueOptions(queue: "otlp")
                options.idempotencyKey = "otlp-1"
                let handle = try await queue.enqueue(JobQueue.Job(name: "jobkit.noop", payload: ByteBuffer(string: "{}"), options: options))
                #expect(handle.id == id && !handle.created)
                _ = try await handle.result(timeout: .seconds(20))
                await pool.close()
                // The metrics export interval is a minute: what arrives was flushed by the graceful shutdown.
                node.process.signal(SIGTERM)
                #expect(await node.process.wait(timeout: .seconds(30)) == 0, "\(node.log.suffix(2000))")

                let bodies = await received.bodies
                let (spans, services) = try Self.spans(bodies["/v1/traces"] ?? [])
                #expect(services == ["jobnode"])
                let run = try #require(spans.first { $0.name == "jobkit.run" }, "no run span among \(spans.map(\.name))")
                let enqueue = try #require(spans.first { $0.spanID == run.parentSpanID }, "the run span's parent did not arrive")
                #expect(enqueue.name == "jobkit.enqueue")
                let request = try #require(spans.first { $0.spanID == enqueue.parentSpanID }, "the enqueue span's parent did not arrive")
                #expect(request.parentSpanID.isEmpty, "the request span should be the trace's root")
                #expect(Set([run.traceID, enqueue.traceID, request.traceID]).count == 1)

                let names = try Self.metricNames(bodies["/v1/metrics"] ?? [])
                #expect(names.contains("jobkit_jobs_completed_total"), "metrics received: \(names.sorted())")
                #expect(names.contains("jobkit_job_duration_seconds"))
            }
        }
    }
}

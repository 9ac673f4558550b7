import Foundation
import HTTPTypes
import HummingbirdTesting
import JobKit
import JobKitTestSupport
import NIOCore
import Testing

/// `/metrics` of a real `jobnode run --http`, parsed by Prometheus's reference parser (prometheus_client,
/// `scripts/check-prometheus.py`): a format mistake fails here.
@Suite("Metrics: /metrics in Prometheus text format", .serialized)
struct MetricsTests {
    /// The families the reference parser read, by name (counters without `_total`, as the parser names them).
    typealias Families = [String: Family]
    struct Family: Decodable {
        var type: String
        var samples: [Sample]
    }
    struct Sample: Decodable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    static func parse(_ text: String) throws -> Families {
        let script = try TestEnvironment.required("JOBKIT_PROM_CHECK", "scripts/test sets it to scripts/check-prometheus.py")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script]
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let problems = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestEnvironment.Missing(description: "the Prometheus parser refused /metrics: \(problems)\n\(text.prefix(3000))")
        }
        return try JSONDecoder().decode(Families.self, from: data)
    }

    static func value(_ families: Families, _ family: String, _ sample: String? = nil, _ labels: [String: String]) -> Double? {
        families[family]?.samples.first { s in
            s.name == (sample ?? family) && labels.allSatisfy { s.labels[$0.key] == $0.value }
        }?.value
    }

    @Test("metrics parse; job counters, histograms and cluster gauges move after jobs run; the key is needed")
    func countersMove() async throws {
        try await withTestNamespace { ns in
            let dir = try TestEnvironment.makeTemporaryDirectory("metrics")
            let node = try JobNodeProcess(
                ["run", "--namespace", ns, "--http", "127.0.0.1:0", "--queues", "metered", "--heartbeat", "200ms",
                 "--lease", "3s", "--dead-node-timeout", "1s", "--no-scheduler"],
                logPath: dir + "/node.log", extraEnvironment: ["JOBKIT_API_KEYS": "scraper:s3cret-scrape"])
            let port = try await JobNodeHTTPTests.port(of: node)
            let pool = RedisPool(configuration: try TestEnvironment.redisConfiguration(), size: 1)
            let queue = JobQueue(redis: pool, namespace: ns, logger: TestEnvironment.logger)
            let options = EnqueueOptions(queue: "metered", maxAttempts: 1)
            for _ in 0..<3 {
                let ok = try await queue.enqueue(JobQueue.Job(name: "jobkit.noop", payload: ByteBuffer(string: "{}"), options: options))
                _ = try await ok.result(timeout: .seconds(20))
            }
            let failing = try await queue.enqueue(
                JobQueue.Job(name: "jobkit.fail", payload: ByteBuffer(string: #"{"times":-1}"#), options: options))
            await #expect(throws: (any Error).self) { _ = try await failing.result(timeout: .seconds(20)) }
            // Waiting work for the gauges: a delayed job and a paused queue's ready job.
            var later = options
            later.delay = .seconds(600)
            _ = try await queue.enqueue(JobQueue.Job(name: "jobkit.noop", payload: ByteBuffer(string: "{}"), options: later))

            let (refused, text) = try await TestClient.withClient(host: "127.0.0.1", port: port) { client in
                let refused = try await client.get("/metrics").status
                var headers = HTTPFields()
                headers[.authorization] = "Bearer s3cret-scrape"
                #expect(try await client.execute(.init("/health", method: .get, headers: headers)).status == .ok)
                let reply = try await client.execute(.init("/metrics", method: .get, headers: headers))
                #expect(reply.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
                return (refused, reply.body.map { String(buffer: $0) } ?? "")
            }
            #expect(refused == .unauthorized)
            #expect(!text.contains("s3cret"), "a secret reached /metrics")
            let families = try Self.parse(text)

            let noop = ["queue": "metered", "job": "jobkit.noop"]
            let fail = ["queue": "metered", "job": "jobkit.fail"]
            #expect(Self.value(families, "jobkit_jobs_started", "jobkit_jobs_started_total", noop) == 3)
            #expect(Self.value(families, "jobkit_jobs_completed", "jobkit_jobs_completed_total", noop) == 3)
            #expect(Self.value(families, "jobkit_jobs_failed", "jobkit_jobs_failed_total", fail) == 1)
            #expect(Self.value(families, "jobkit_jobs_dead", "jobkit_jobs_dead_total", fail) == 1)
            #expect(families["jobkit_job_duration_seconds"]?.type == "histogram")
            #expect(Self.value(families, "jobkit_job_duration_seconds", "jobkit_job_duration_seconds_count", noop) == 3)
            #expect(Self.value(families, "jobkit_job_wait_seconds", "jobkit_job_wait_seconds_count", noop) == 3)
            #expect((Self.value(families, "jobkit_redis_roundtrip_seconds", "jobkit_redis_roundtrip_seconds_count", [:]) ?? 0) > 0)
            #expect(Self.value(families, "jobkit_queue_jobs", nil, ["queue": "metered", "state": "scheduled"]) == 1)
            #expect(Self.value(families, "jobkit_queue_jobs", nil, ["queue": "metered", "state": "dead"]) == 1)
            #expect(Self.value(families, "jobkit_nodes_live", nil, [:]) == 1)
            #expect(Self.value(families, "jobkit_slots", nil, [:]).map { $0 >= 1 } == true)
            // The refused scrape was counted by route and status (the scrape itself is counted when it ends).
            #expect(
                Self.value(families, "jobkit_http_requests", "jobkit_http_requests_total", ["route": "/metrics", "status": "401", "key": "anonymous"])
                    == 1)
            // Requests made with a key are counted under its name, never its secret.
            #expect((Self.value(families, "jobkit_http_requests", "jobkit_http_requests_total", ["key": "scraper"]) ?? 0) >= 1)
            #expect(!families.values.flatMap(\.samples).flatMap { $0.labels.values }.contains("s3cret-scrape"))
            // No ids as labels: every label value is a queue, a job name, a route, a method, a state or a number.
            let ids = families.values.flatMap(\.samples).flatMap { $0.labels.values }.filter { $0.count == 20 && $0.allSatisfy(\.isLetter) }
            #expect(ids.isEmpty, "job ids used as labels: \(ids.prefix(3))")

            await pool.close()
            node.process.signal(SIGTERM)
            #expect(await node.process.wait(timeout: .seconds(30)) == 0)
        }
    }
}

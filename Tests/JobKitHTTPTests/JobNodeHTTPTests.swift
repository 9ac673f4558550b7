import Foundation
import HTTPTypes
import HummingbirdTesting
import JobKit
import JobKitTestSupport
import NIOCore
import Testing

/// `jobnode serve --http` and `jobnode run --http` as real processes.
@Suite("jobnode HTTP", .serialized)
struct JobNodeHTTPTests {
    /// Waits (bounded, 20 s) for the process to log `http.port=N`; returns N.
    static func port(of node: JobNodeProcess) async throws -> Int {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let range = node.log.range(of: #"http\.port=(\d+)"#, options: .regularExpression) {
                return Int(node.log[range].dropFirst("http.port=".count))!
            }
            guard node.process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestEnvironment.Missing(description: "jobnode did not log its HTTP port:\n\(node.log.suffix(2000))")
    }

    @Test("serve --http answers on its port and exits 0 on SIGTERM; a non-loopback bind without keys is refused")
    func serve() async throws {
        try await withTestNamespace { ns in
            let dir = try TestEnvironment.makeTemporaryDirectory("serve")
            let node = try JobNodeProcess(["serve", "--namespace", ns, "--http", "127.0.0.1:0"], logPath: dir + "/serve.log")
            let port = try await Self.port(of: node)
            let body = try await TestClient.withClient(host: "127.0.0.1", port: port) { client in
                let reply = try await client.post("/v1/jobs", body: ByteBuffer(string: #"{"name":"jobkit.noop"}"#))
                #expect(reply.status == .created)
                return try await client.get("/health").body.map { String(buffer: $0) }
            }
            #expect(body == #"{"status":"ok"}"#)
            node.process.signal(SIGTERM)
            #expect(await node.process.wait(timeout: .seconds(20)) == 0)
            #expect(node.log.contains("HTTP stopped"))

            let refused = try JobNodeProcess(["serve", "--namespace", ns, "--http", "0.0.0.0:0"], logPath: dir + "/refused.log")
            #expect(await refused.process.wait(timeout: .seconds(20)) == 64)
            #expect(refused.log.contains("not a loopback address, without credentials"))
        }
    }

    @Test("run --http serves inside the node: a job enqueued over HTTP runs, and SIGTERM stops both")
    func runWithHTTP() async throws {
        try await withTestNamespace { ns in
            let dir = try TestEnvironment.makeTemporaryDirectory("run-http")
            let node = try JobNodeProcess(
                ["run", "--namespace", ns, "--http", "127.0.0.1:0", "--queues", "web", "--heartbeat", "200ms", "--lease", "3s",
                 "--dead-node-timeout", "1s", "--no-scheduler"],
                logPath: dir + "/run.log")
            let port = try await Self.port(of: node)
            let reply = try await TestClient.withClient(host: "127.0.0.1", port: port) { client in
                try await client.post(
                    "/v1/jobs", body: ByteBuffer(string: #"{"name":"jobkit.noop","queue":"web","idempotencyKey":"http-run-1"}"#))
            }
            #expect(reply.status == .created)
            // The same idempotency key gives a handle on the HTTP job, whose result we can await.
            let pool = RedisPool(configuration: try TestEnvironment.redisConfiguration(), size: 1)
            let queue = JobQueue(redis: pool, namespace: ns, logger: TestEnvironment.logger)
            var options = EnqueueOptions(queue: "web")
            options.idempotencyKey = "http-run-1"
            let handle = try await queue.enqueue(JobQueue.Job(name: "jobkit.noop", payload: ByteBuffer(string: "{}"), options: options))
            #expect(!handle.created)
            _ = try await handle.result(timeout: .seconds(20))
            #expect(try await queue.job(handle.id, queue: "web")?.state == .completed)
            await pool.close()
            node.process.signal(SIGTERM)
            #expect(await node.process.wait(timeout: .seconds(30)) == 0)
            let log = node.log
            let httpStopped = try #require(log.range(of: "HTTP stopped"))
            let nodeStopped = try #require(log.range(of: "Node stopped"))
            #expect(httpStopped.lowerBound < nodeStopped.lowerBound)
        }
    }

    @Test("--log-format json: a job's lines carry job.id, job.name, queue, tenant, correlation.id, attempt, node.id, duration_ms; request lines their request id")
    func jsonLogs() async throws {
        try await withTestNamespace { ns in
            let dir = try TestEnvironment.makeTemporaryDirectory("json-logs")
            let node = try JobNodeProcess(
                ["run", "--namespace", ns, "--http", "127.0.0.1:0", "--queues", "logs", "--heartbeat", "200ms", "--lease", "3s",
                 "--dead-node-timeout", "1s", "--no-scheduler", "--log-format", "json"],
                logPath: dir + "/run.log")
            // Every line is one JSON object; find the HTTP port in them.
            func lines() -> [[String: String]] {
                node.log.split(separator: "\n").compactMap {
                    (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: String]
                }
            }
            let deadline = ContinuousClock.now + .seconds(20)
            var port: Int?
            while port == nil && ContinuousClock.now < deadline && node.process.isRunning {
                port = lines().lazy.compactMap { $0["http.port"].flatMap(Int.init) }.first
                if port == nil { try await Task.sleep(for: .milliseconds(20)) }
            }
            let httpPort = try #require(port, "no http.port in \(node.log.suffix(2000))")
            let body = #"{"name":"jobkit.fail","queue":"logs","payload":{"times":-1},"maxAttempts":1,"tenant":"tenant-7"}"#
            let reply = try await TestClient.withClient(host: "127.0.0.1", port: httpPort) { client in
                try await client.execute(
                    .init("/v1/jobs", method: .post, headers: [.contentType: "application/json", HTTPField.Name("X-Request-Id")!: "req-json-1"],
                          body: ByteBuffer(string: body)))
            }
            #expect(reply.status == .created)
            #expect(reply.headers[HTTPField.Name("X-Request-Id")!] == "req-json-1")
            let id = try #require(
                (try JSONSerialization.jsonObject(with: Data(buffer: reply.body ?? ByteBuffer())) as? [String: Any])?["id"] as? String)
            // The job fails once and is dead: the worker's line about it carries the job's fields.
            var dead: [String: String]?
            let until = ContinuousClock.now + .seconds(20)
            while dead == nil && ContinuousClock.now < until {
                dead = lines().first { $0["msg"] == "Job dead" && $0["job.id"] == id }
                if dead == nil { try await Task.sleep(for: .milliseconds(50)) }
            }
            let line = try #require(dead, "no 'Job dead' line in \(node.log.suffix(3000))")
            #expect(line["job.name"] == "jobkit.fail")
            #expect(line["queue"] == "logs")
            #expect(line["tenant"] == "tenant-7")
            #expect(line["correlation.id"] == "req-json-1")
            #expect(line["attempt"] == "1")
            #expect(line["node.id"].map { !$0.isEmpty } == true)
            #expect(line["duration_ms"].flatMap(Double.init) != nil, "\(line)")
            #expect(line["level"] == "warning")
            let request = try #require(lines().first { $0["msg"] == "HTTP request" && $0["request.id"] == "req-json-1" })
            #expect(request["http.method"] == "POST")
            #expect(request["http.route"] == "/v1/jobs")
            #expect(request["http.status"] == "201")
            #expect(request["duration_ms"].flatMap(Double.init) != nil)
            node.process.signal(SIGTERM)
            #expect(await node.process.wait(timeout: .seconds(30)) == 0)
        }
    }
}

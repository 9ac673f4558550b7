import Foundation
import HTTPTypes
import JobKit
import JobKitHTTP
import JobKitTestSupport
import Testing

@Suite("Job API", .serialized)
struct JobAPITests {
    @Test("POST /v1/jobs answers 201 with the record jobs show --json prints, and stores the request id as correlation id")
    func enqueueReturnsRecord() async throws {
        try await HTTPHarness.with { (h: HTTPHarness) async throws in
            var headers = HTTPFields()
            headers[HTTPField.Name("X-Request-Id")!] = "req-abc-123"
            let reply = try await h.request(
                .post, "/v1/jobs",
                body: #"{"name":"reports.build","payload":{"report":7,"tags":["a"]},"queue":"reports","priority":5,"maxAttempts":3,"tenant":"t_1"}"#,
                headers: headers)
            #expect(reply.status == 201)
            #expect(reply.headers[HTTPField.Name("X-Request-Id")!] == "req-abc-123")
            let record = try reply.decode(JobRecord.self)
            #expect(record.name == "reports.build")
            #expect(record.queue == "reports")
            #expect(record.priority == 5)
            #expect(record.maxAttempts == 3)
            #expect(record.tenant == "t_1")
            #expect(record.correlation == "req-abc-123")
            #expect(record.state == .ready)
            #expect(record.payload == #"{"report":7,"tags":["a"]}"#)
            // The same bytes as the CLI's --json output of the stored record.
            let stored = try #require(try await h.queue.job(record.id, queue: "reports"))
            #expect(reply.body == String(decoding: try JSONOutput.data(stored), as: UTF8.self))
        }
    }

    @Test("a request without X-Request-Id gets a generated one, echoed and used as correlation id")
    func generatedRequestID() async throws {
        try await HTTPHarness.with { (h: HTTPHarness) async throws in
            let reply = try await h.request(.post, "/v1/jobs", body: #"{"name":"jobkit.noop"}"#)
            #expect(reply.status == 201)
            let id = try #require(reply.headers[HTTPField.Name("X-Request-Id")!])
            #expect(id.count == 20)
            #expect(try reply.decode(JobRecord.self).correlation == id)
            // A correlationId in the body wins over the request id.
            let explicit = try await h.request(.post, "/v1/jobs", body: #"{"name":"jobkit.noop","correlationId":"flow-9"}"#)
            #expect(try explicit.decode(JobRecord.self).correlation == "flow-9")
        }
    }

    @Test("an enqueue with a live idempotency key answers 200 with the existing job")
    func idempotency() async throws {
        try await HTTPHarness.with { (h: HTTPHarness) async throws in
            let body = #"{"name":"stripe.event","idempotencyKey":"evt_1"}"#
            let first = try await h.request(.post, "/v1/jobs", body: body)
            let second = try await h.request(.post, "/v1/jobs", body: body)
            #expect(first.status == 201)
            #expect(second.status == 200)
            #expect(try first.decode(JobRecord.self).id == (try second.decode(JobRecord.self).id))
            #expect(try await h.queue.counts("default").ready == 1)
        }
    }

    @Test("delaySeconds schedules the job; runAt takes RFC 3339; both at once is refused")
    func delays() async throws {
        try await HTTPHarness.with { (h: HTTPHarness) async throws in
            let delayed = try await h.request(.post, "/v1/jobs", body: #"{"name":"jobkit.noop","delaySeconds":60}"#)
            #expect(try delayed.decode(JobRecord.self).state == .scheduled)
            let at = try await h.request(.post, "/v1/jobs", body: #"{"name":"jobkit.noop","runAt":"2099-01-01T00:00:00Z"}"#)
            #expect(try at.decode(JobRecord.self).runAtMs == 4_070_908_800_000)
            let both = try await h.request(.post, "/v1/jobs", body: #"{"name":"jobkit.noop","runAt":1,"delaySeconds":1}"#)
            #expect(both.status == 400)
            #expect(both.errorCode == "invalid_field")
        }
    }

    @Test("bad bodies get 400 with a stable code naming the field", arguments: [
        (#"{"name":"x","colour":"red"}"#, "unknown_field", "colour"),
        (#"{"name":"x","priority":"high"}"#, "invalid_field", "priority"),
        (#"{"payload":{}}"#, "missing_field", "name"),
        (#"{"name":"x","priority":5000}"#, "invalid_field", "priority"),
        (#"{"name":"x","timeoutSeconds":-1}"#, "invalid_field", "timeoutSeconds"),
        (#"{"name":"#, "malformed_json", "JSON"),
        (#"[1,2]"#, "malformed_json", "object"),
    ])
    func badBodies(body: String, code: String, mention: String) async throws {
        try await HTTPHarness.with { (h: HTTPHarness) async throws in
            let reply = try await h.request(.post, "/v1/jobs", body: body)
            #expect(reply.status == 400)
            #expect(reply.errorCode == code)
            #expect(reply.errorMessage?.contains(mention) == true, "\(reply.body)")
        }
    }

    @Test("a body over the limit gets 413, and so does a payload over the engine's limit")
    func tooLarge() async throws {
        try await HTTPHarness.with(configure: { $0.maxBodyBytes = 2048 }) { (h: HTTPHarness) async throws in
            let big = String(repeating: "x", count: 4096)
            let reply = try await h.request(.post, "/v1/jobs", body: #"{"name":"x","payload":"\#(big)"}"#)
            #expect(reply.status == 413)
            #expect(reply.errorCode == "payload_too_large")
        }
        try await HTTPHarness.with(configure: { $0.maxBodyBytes = 1 << 20 }) { (h: HTTPHarness) async throws in
            let big = String(repeating: "x", count: 600 * 1024)
            let reply = try await h.request(.post, "/v1/jobs", body: #"{"name":"x","payload":"\#(big)"}"#)
            #expect(reply.status == 413)
            #expect(reply.errorMessage?.contains("limit") == true)
        }
    }

    @Test("POST /v1/jobs:batch enqueues in order, names the bad element, and refuses over 1,000 jobs")
    func batch() async throws {
        try await HTTPHarness.with { (h: HTTPHarness) async throws in
            let reply = try await h.request(
                .post, "/v1/jobs:batch",
                body: #"{"jobs":[{"name":"a"},{"name":"b","queue":"other"},{"name":"c","idempotencyKey":"k"}]}"#)
            #expect(reply.status == 201)
            let jobs = try #require(reply.json["jobs"] as? [[String: Any]])
            #expect(jobs.count == 3)
            #expect(jobs.map { $0["queue"] as? String } == ["default", "other", "default"])
            let first = try #require(jobs[0]["id"] as? String)
            #expect(try await h.queue.job(first)?.name == "a")
            let again = try await h.request(.post, "/v1/jobs:batch", body: #"{"jobs":[{"name":"c","idempotencyKey":"k"}]}"#)
            #expect(again.status == 200)
            #expect(((again.json["jobs"] as? [[String: Any]])?.first?["created"] as? Bool) == false)

            let bad = try await h.request(.post, "/v1/jobs:batch", body: #"{"jobs":[{"name":"a"},{"name":"b","priority":"x"}]}"#)
            #expect(bad.status == 400)
            #expect(bad.errorMessage?.contains("jobs[1].priority") == true, "\(bad.body)")
            #expect(try await h.queue.counts("default").ready == 2)  // nothing of the refused batch

            let many = "{\"jobs\":[" + Array(repeating: #"{"name":"a"}"#, count: 1001).joined(separator: ",") + "]}"
            let tooMany = try await h.request(.post, "/v1/jobs:batch", body: many)
            #expect(tooMany.status == 400)
            #expect(tooMany.errorCode == "batch_too_large")
        }
    }

    @Test("GET, DELETE and retry of one job; unknown ids are 404 job_not_found")
    func showCancelRetry() async throws {
        try await HTTPHarness.with { (h: HTTPHarness) async throws in
            let id = try await h.request(.post, "/v1/jobs", body: #"{"name":"jobkit.noop"}"#).decode(JobRecord.self).id
            let shown = try await h.request(.get, "/v1/jobs/\(id)")
            #expect(shown.status == 200)
            #expect(try shown.decode(JobRecord.self).id == id)

            let early = try await h.request(.post, "/v1/jobs/\(id)/retry")
            #expect(early.status == 409)
            #expect(early.errorCode == "invalid_state")

            let canceled = try await h.request(.delete, "/v1/jobs/\(id)")
            #expect(canceled.status == 200)
            #expect(canceled.json["outcome"] as? String == "canceled")
            #expect(try await h.queue.job(id)?.state == .canceled)
            let twice = try await h.request(.delete, "/v1/jobs/\(id)")
            #expect(twice.json["outcome"] as? String == "alreadyFinished")

            let retried = try await h.request(.post, "/v1/jobs/\(id)/retry")
            #expect(retried.status == 200)
            #expect(try retried.decode(JobRecord.self).state == .ready)

            for (method, path) in [(HTTPRequest.Method.get, "/v1/jobs/nope"), (.delete, "/v1/jobs/nope"), (.post, "/v1/jobs/nope/retry")] {
                let missing = try await h.request(method, path)
                #expect(missing.status == 404)
                #expect(missing.errorCode == "job_not_found")
            }
        }
    }

    @Test("queues, pause/resume, nodes and schedules answer in the CLI's --json shapes")
    func queuesNodesSchedules() async throws {
        try await HTTPHarness.with { (h: HTTPHarness) async throws in
            _ = try await h.request(.post, "/v1/jobs", body: #"{"name":"jobkit.noop","queue":"mail"}"#)
            let paused = try await h.request(.post, "/v1/queues/mail/pause")
            #expect(paused.status == 200)
            #expect(paused.json["paused"] as? Bool == true)
            let queues = try await h.request(.get, "/v1/queues")
            let counts = try queues.decode([QueueCounts].self)
            #expect(counts.map(\.name) == ["mail"])
            #expect(counts[0].paused && counts[0].ready == 1)
            #expect(queues.body == String(decoding: try JSONOutput.data(counts), as: UTF8.self))
            #expect(try await h.request(.post, "/v1/queues/mail/resume").json["paused"] as? Bool == false)
            #expect(try await h.queue.counts("mail").paused == false)
            let unknown = try await h.request(.post, "/v1/queues/ghost/pause")
            #expect(unknown.status == 404)
            #expect(unknown.errorCode == "queue_not_found")

            #expect(try await h.request(.get, "/v1/nodes").body == "[]")

            let store = ScheduleStore(redis: h.queue.redis, namespace: h.namespace)
            _ = try await store.save(.every("tick", .seconds(90), job: "jobkit.noop", queue: "mail"))
            let schedules = try await h.request(.get, "/v1/schedules")
            let rows = schedules.array as? [[String: Any]] ?? []
            #expect(rows.count == 1)
            #expect(rows.first?["trigger"] as? String == "every 90s")
            let keys = Set(rows.first.map { Array($0.keys) } ?? [])
            #expect(keys.isSuperset(of: ["name", "nextRunMs", "lastJobId", "misfire", "overlap"]))
        }
    }

    @Test("an unknown route is 404 not_found in the JSON error shape")
    func notFound() async throws {
        try await HTTPHarness.with { (h: HTTPHarness) async throws in
            let reply = try await h.request(.get, "/v2/whatever")
            #expect(reply.status == 404)
            #expect(reply.errorCode == "not_found")
            #expect(try await h.request(.get, "/metrics").status == 404)
        }
    }
}

import Foundation
import JobKit
import JobKitTestSupport
import Testing

@Suite("Sessions", .serialized)
struct SessionStoreTests {
    @Test("create, get (sliding), update, revoke; ids are 128-bit and distinct; users and tenants are apart")
    func lifecycle() async throws {
        try await withTestNamespace { ns in
            let pool = RedisPool(configuration: try TestEnvironment.redisConfiguration(), size: 1)
            let store = SessionStore(redis: pool, namespace: ns)
            let s = try await store.create(tenant: "t1", user: "alice", data: #"{"role":"operator"}"#)
            #expect(s.id.count == 32)
            #expect(try await store.get(s.id)?.data == #"{"role":"operator"}"#)
            #expect(try await store.update(s.id, data: #"{"role":"admin"}"#))
            #expect(try await store.get(s.id, slide: false)?.data == #"{"role":"admin"}"#)
            #expect(try await store.touch(s.id))
            var ids: Set<String> = [s.id]
            for _ in 0..<200 { ids.insert(try await store.create(tenant: "t1", user: "bob").id) }
            #expect(ids.count == 201)
            let other = try await store.create(tenant: "t2", user: "alice")
            let second = try await store.create(tenant: "t1", user: "alice")
            #expect(try await store.list(tenant: "t1", user: "alice").map(\.id).sorted() == [s.id, second.id].sorted())
            #expect(try await store.revokeAll(tenant: "t1", user: "alice") == 2)
            #expect(try await store.get(s.id) == nil)
            #expect(try await store.get(second.id) == nil)
            #expect(try await store.get(other.id)?.tenant == "t2", "another tenant's alice was logged out")
            #expect(try await store.list(tenant: "t1", user: "bob").count == 200)
            #expect(try await store.revoke(other.id))
            #expect(try await store.revoke(other.id) == false)
            #expect(try await store.get("not-a-session-id") == nil)
            await pool.close()
        }
    }

    @Test("idle and absolute timeouts: an unused session ends after its idle time; a used one at its absolute deadline")
    func timeouts() async throws {
        try await withTestNamespace { ns in
            let pool = RedisPool(configuration: try TestEnvironment.redisConfiguration(), size: 1)
            let store = SessionStore(redis: pool, namespace: ns)
            let idle = try await store.create(tenant: "t", user: "u", ttl: .seconds(10), idle: .milliseconds(150))
            let absolute = try await store.create(tenant: "t", user: "v", ttl: .milliseconds(400), idle: .milliseconds(150))
            // Keep `absolute` in use past its idle time; `idle` is left alone (time passing is the subject).
            var touches = 0
            while try await store.get(absolute.id) != nil {
                touches += 1
                try await Task.sleep(for: .milliseconds(50))
                if touches > 40 { break }
            }
            #expect(touches >= 5 && touches <= 12, "\(touches) touches: the absolute deadline is 400 ms")
            #expect(try await store.get(idle.id) == nil)
            await pool.close()
        }
    }

    @Test("after a mass expiry, cleanup removes every index entry and Redis is back to its baseline")
    func massExpiry() async throws {
        try await RedisServerProcess.with { server in
            let pool = RedisPool(configuration: try RedisConfiguration(url: server.url, logger: TestEnvironment.logger), size: 2)
            let baselineKeys = try await pool.send(RedisCommand("DBSIZE")).int
            #expect(baselineKeys == 0)
            let store = SessionStore(redis: pool, namespace: "mass")
            let lastDeadline = try await withThrowingTaskGroup(of: Int64.self) { group in
                for u in 0..<100 {
                    group.addTask {
                        var last: Int64 = 0
                        for _ in 0..<20 {
                            last = try await store.create(tenant: "t\(u % 5)", user: "u\(u)", ttl: .seconds(2), idle: .seconds(2)).expiresAtMs
                        }
                        return last
                    }
                }
                var latest: Int64 = 0
                for try await d in group { latest = max(latest, d) }
                return latest
            }
            #expect(try await pool.send(RedisCommand("DBSIZE")).int == 2_000 + 100 + 1)
            // Wait out the sessions' lifetime in Redis time (the subject), then let Redis reclaim them (SCAN expires
            // what it visits).
            while true {
                let t = try await pool.send(RedisCommand("TIME")).array ?? []
                let now = Int64(t.first?.string ?? "0")! * 1000 + Int64(t.last?.string ?? "0")! / 1000
                if now > lastDeadline { break }
                try await Task.sleep(for: .milliseconds(min(200, max(1, lastDeadline - now + 1))))
            }
            var cursor = "0"
            repeat {
                let reply = try await pool.send(RedisCommand("SCAN", cursor, "COUNT", "1000")).array ?? []
                cursor = reply.first?.string ?? "0"
            } while cursor != "0"
            // Only the indexes and the users set are left; cleanup removes them.
            #expect(try await pool.send(RedisCommand("DBSIZE")).int == 101)
            var removed = 0
            cursor = "0"
            repeat {
                let step = try await store.cleanup(cursor: cursor, batch: 50)
                removed += step.removed
                cursor = step.cursor
            } while cursor != "0"
            #expect(removed == 2_000)
            #expect(try await pool.send(RedisCommand("DBSIZE")).int == 0)
            await pool.close()
        }
    }

    @Test("maintenance.sessions (a default schedule of every node) cleans the index of expired sessions")
    func cleanupJob() async throws {
        try await EngineHarness.with { h in
            let store = SessionStore(redis: h.queue.redis, namespace: h.namespace)
            let s = try await store.create(tenant: "t", user: "gone", ttl: .milliseconds(50), idle: .milliseconds(50))
            let index = "\(h.namespace):{su:t:gone}:index"
            #expect(try await h.queue.redis.send(RedisCommand("EXISTS", index)).int == 1)
            try await waitUntil { try await store.get(s.id) == nil }
            let dir = try TestEnvironment.makeTemporaryDirectory("sessions-job")
            let node = try JobNodeProcess(["run", "--namespace", h.namespace, "--queues", "maintenance"], logPath: "\(dir)/node.log")
            // The node registers the schedule (every 15 minutes); this run is triggered by hand, as an operator would.
            try await waitUntil(timeout: .seconds(20)) { (try await ScheduleStore(redis: h.queue.redis, namespace: h.namespace).list()).contains { $0.name == "maintenance.sessions" } }
            let run = try JobNodeProcess(
                ["enqueue", "maintenance.sessions", "--queue", "maintenance", "--wait", "--namespace", h.namespace], logPath: "\(dir)/enqueue.log")
            #expect(await run.process.wait(timeout: .seconds(30)) == 0, "\(run.log)")
            #expect(try await h.queue.redis.send(RedisCommand("EXISTS", index)).int == 0)
            #expect(try await h.queue.redis.send(RedisCommand("SCARD", "\(h.namespace):sessions:users")).int == 0)
            node.process.signal(SIGTERM)
            #expect(await node.process.wait(timeout: .seconds(30)) == 0)
        }
    }
}


import JobKitTestSupport
import NIOCore
import Testing

@testable import JobKit

@Suite("Redis connection against a real server")
struct RedisConnectionTests {
    @Test("every RESP2 reply type comes back as the right value")
    func resp2ReplyTypes() async throws {
        try await withTestNamespace { ns in
            let c = RedisConnection(configuration: try TestEnvironment.redisConfiguration())
            defer { Task { await c.close() } }
            #expect(try await c.send("SET", "\(ns):k", "v") == .simple("OK"))
            #expect(try await c.send("GET", "\(ns):k") == .bulk("v"))
            #expect(try await c.send("GET", "\(ns):missing") == .bulkString(nil))
            #expect(try await c.send("INCRBY", "\(ns):n", "5") == .integer(5))
            #expect(try await c.send("RPUSH", "\(ns):l", "a", "b") == .integer(2))
            #expect(try await c.send("LRANGE", "\(ns):l", "0", "-1") == .array([.bulk("a"), .bulk("b")]))
            #expect(try await c.send("LRANGE", "\(ns):none", "0", "-1") == .array([]))
            // A null array: BLPOP that times out (RESP2 `*-1`).
            #expect(try await c.send("BLPOP", "\(ns):empty", "0.01").isNull)
            // Nested arrays and a status inside an array, from Lua.
            let nested = try await c.send("EVAL", "return {1, {'x', {2}}, redis.status_reply('FINE')}", "0")
            #expect(nested == .array([.integer(1), .array([.bulk("x"), .array([.integer(2)])]), .simple("FINE")]))
            // An error reply is thrown with the server's text.
            await #expect {
                _ = try await c.send("INCR", "\(ns):l")
            } throws: { error in
                let e = error as? RedisError
                return e?.code == .serverError && e?.serverErrorPrefix == "WRONGTYPE"
            }
            // The connection is still usable after an error reply.
            try await c.ping()
        }
    }

    @Test("every RESP3 reply type comes back as the right value (HELLO 3)")
    func resp3ReplyTypes() async throws {
        var config = try TestEnvironment.redisConfiguration()
        config.protocolVersion = 3
        let c = RedisConnection(configuration: config)
        defer { Task { await c.close() } }
        #expect(try await c.send("DEBUG", "PROTOCOL", "map") == .map([
            RESPPair(.integer(0), .boolean(false)), RESPPair(.integer(1), .boolean(true)),
            RESPPair(.integer(2), .boolean(false)),
        ]))
        #expect(try await c.send("DEBUG", "PROTOCOL", "set") == .set([.integer(0), .integer(1), .integer(2)]))
        #expect(try await c.send("DEBUG", "PROTOCOL", "double") == .double(3.141))
        #expect(try await c.send("DEBUG", "PROTOCOL", "null") == .null)
        #expect(try await c.send("DEBUG", "PROTOCOL", "true") == .boolean(true))
        #expect(try await c.send("DEBUG", "PROTOCOL", "false") == .boolean(false))
        #expect(
            try await c.send("DEBUG", "PROTOCOL", "bignum")
                == .bigNumber("1234567999999999999999999999999999999"))
        #expect(
            try await c.send("DEBUG", "PROTOCOL", "verbatim")
                == .verbatimString(format: "txt", ByteBuffer(string: "This is a verbatim\nstring")))
        let attrib = try await c.send("DEBUG", "PROTOCOL", "attrib")
        guard case .attributed(let attributes, let value) = attrib else {
            Issue.record("expected an attributed value, got \(attrib)")
            return
        }
        #expect(attributes.first?.key == .bulk("key-popularity"))
        #expect(value.string == "Some real reply following the attribute")
    }

    @Test("thousands of interleaved commands from many tasks each get their own reply")
    func concurrentCallers() async throws {
        try await withTestNamespace { ns in
            let c = RedisConnection(configuration: try TestEnvironment.redisConfiguration())
            defer { Task { await c.close() } }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<64 {
                    group.addTask {
                        for i in 0..<60 {
                            let key = "\(ns):t\(task):\(i)"
                            let value = "v-\(task)-\(i)-" + String(repeating: "x", count: (task * i) % 300)
                            try await c.set(key, value)
                            let back = try await c.get(key)
                            #expect(back.map { String(buffer: $0) } == value)
                            #expect(try await c.send("INCR", "\(ns):count").int != nil)
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await c.send("GET", "\(ns):count").int == 64 * 60)
        }
    }

    @Test("a pipeline returns the replies in order, errors in place")
    func pipeline() async throws {
        try await withTestNamespace { ns in
            let c = RedisConnection(configuration: try TestEnvironment.redisConfiguration())
            defer { Task { await c.close() } }
            var commands = (0..<500).map { RedisCommand("SET", "\(ns):p\($0)", $0) }
            commands.append(RedisCommand("LPUSH", "\(ns):p1", "x"))  // WRONGTYPE
            commands += (0..<500).map { RedisCommand("GET", "\(ns):p\($0)") }
            let replies = try await c.pipeline(commands)
            #expect(replies.count == 1001)
            #expect(replies[0..<500].allSatisfy { $0 == .simple("OK") })
            guard case .error(let text) = replies[500] else {
                Issue.record("expected an error reply in place, got \(replies[500])")
                return
            }
            #expect(String(buffer: text).hasPrefix("WRONGTYPE"))
            for i in 0..<500 { #expect(replies[501 + i].int == i) }
        }
    }

    @Test("a command that gets no reply in time fails with timeout and the connection stays aligned")
    func timeout() async throws {
        try await withTestNamespace { ns in
            var config = try TestEnvironment.redisConfiguration()
            config.commandTimeout = .milliseconds(200)
            let c = RedisConnection(configuration: config)
            defer { Task { await c.close() } }
            await #expect {
                _ = try await c.send("BLPOP", "\(ns):never", "1")
            } throws: { ($0 as? RedisError)?.code == .timeout }
            // The late BLPOP reply (null) must be dropped, not handed to the next caller.
            #expect(try await c.send(RedisCommand("ECHO", "after"), timeout: .seconds(5)) == .bulk("after"))
        }
    }

    @Test("scripts run by EVALSHA and reload themselves after SCRIPT FLUSH")
    func noscriptRecovery() async throws {
        try await RedisServerProcess.with { server in
        let c = RedisConnection(configuration: try RedisConfiguration(url: server.url, logger: TestEnvironment.logger))
        let script = RedisScript("return {KEYS[1], ARGV[1], 7}")
        #expect(try await c.run(script, keys: ["k"], arguments: ["a"]) == .array([.bulk("k"), .bulk("a"), .integer(7)]))
        #expect(try await c.send("SCRIPT", "EXISTS", script.sha1) == .array([.integer(1)]))
        _ = try await c.send("SCRIPT", "FLUSH")
        #expect(try await c.send("SCRIPT", "EXISTS", script.sha1) == .array([.integer(0)]))
        #expect(try await c.run(script, keys: ["k2"], arguments: ["b"]) == .array([.bulk("k2"), .bulk("b"), .integer(7)]))
        #expect(try await c.send("SCRIPT", "EXISTS", script.sha1) == .array([.integer(1)]))
        _ = try await c.send("SCRIPT", "FLUSH")
        let batch = try await c.runBatch(script, calls: (0..<10).map { (keys: ["k\($0)"], arguments: ["\($0)"]) })
        #expect(batch.count == 10)
        #expect(batch[9] == .array([.bulk("k9"), .bulk("9"), .integer(7)]))
        // In a mixed pipeline only the NOSCRIPT call is sent again: the INCR beside it runs once.
        _ = try await c.send("SCRIPT", "FLUSH")
        let mixed = try await c.pipeline(
            [RedisCommand("INCR", "once"), script.evalsha(keys: ["m"], arguments: ["x"])], loading: [script])
        #expect(mixed == [.integer(1), .array([.bulk("m"), .bulk("x"), .integer(7)])])
        #expect(try await c.send("GET", "once") == .bulk("1"))
        await c.close()
        }
    }

    @Test("a restarted server is reconnected to; waiting callers get connectionClosed")
    func reconnectAfterRestart() async throws {
        try await RedisServerProcess.with { server in
        let c = RedisConnection(configuration: try RedisConfiguration(url: server.url, logger: TestEnvironment.logger))
        try await c.set("k", "before")
        // A caller blocked on the server when it goes away gets an error, not a hang.
        let blocked = Task { try await c.send(RedisCommand("BLPOP", "never", "30"), timeout: nil) }
        // Queued behind BLPOP when it was sent second (the tasks race): also waiting, and it must not hang.
        let queued = Task { try await c.send(RedisCommand("PING"), timeout: nil) }
        // Wait until the server is blocked in BLPOP (seen from a second connection).
        let probe = RedisConnection(configuration: try RedisConfiguration(url: server.url, logger: TestEnvironment.logger))
        let blockedBy = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < blockedBy, !((try await probe.send("CLIENT", "LIST").string ?? "").contains("cmd=blpop")) {
            try await Task.sleep(for: .milliseconds(10))
        }
        await probe.close()
        await server.stop()
        await #expect { _ = try await blocked.value } throws: { ($0 as? RedisError)?.code == .connectionClosed }
        switch await queued.result {
        case .success(let reply): #expect(reply == .simple("PONG"), "answered before BLPOP was sent")
        case .failure(let error): #expect((error as? RedisError)?.code == .connectionClosed)
        }
        try await server.start()
        // The next use reconnects (after the connection's backoff if a reconnect already failed).
        var result: RESPValue?
        let deadline = ContinuousClock.now + .seconds(10)
        while result == nil, ContinuousClock.now < deadline {
            result = try? await c.send("ECHO", "after")
        }
        #expect(result == .bulk("after"))
        await c.close()
        }
    }

    @Test("AUTH with the right password works; the wrong one fails with authenticationFailed")
    func auth() async throws {
        try await RedisServerProcess.with(["--requirepass", "t0ps3cret"]) { server in
        let port = server.port
        let good = RedisConnection(configuration: try RedisConfiguration(url: "redis://:t0ps3cret@127.0.0.1:\(port)/2"))
        #expect(try await good.send("ECHO", "in") == .bulk("in"))
        #expect(try await good.send("CLIENT", "INFO").string?.contains("db=2") == true)
        // An ACL user with its own password.
        _ = try await good.send("ACL", "SETUSER", "worker", "on", ">w0rker", "~*", "+@all")
        let user = RedisConnection(
            configuration: try RedisConfiguration(url: "redis://worker:w0rker@127.0.0.1:\(port)", clientName: "jk-test"))
        #expect(try await user.send("ACL", "WHOAMI") == .bulk("worker"))
        #expect(try await user.send("CLIENT", "GETNAME") == .bulk("jk-test"))
        let bad = RedisConnection(configuration: try RedisConfiguration(url: "redis://:wrong@127.0.0.1:\(port)"))
        await #expect {
            try await bad.ping()
        } throws: { error in
            let e = error as? RedisError
            return e?.code == .authenticationFailed && !(e?.description.contains("wrong") ?? true)
        }
        var resp3 = try RedisConfiguration(url: "redis://worker:nope@127.0.0.1:\(port)")
        resp3.protocolVersion = 3
        await #expect { try await RedisConnection(configuration: resp3).ping() } throws: {
            ($0 as? RedisError)?.code == .authenticationFailed
        }
        await good.close()
        await user.close()
        await bad.close()
        }
    }

    @Test("unix:// URLs connect through the server's socket, with a database")
    func unixSocket() async throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("sock")
        let path = "\(dir)/redis.sock"
        try await RedisServerProcess.with(["--unixsocket", path, "--unixsocketperm", "700"]) { _ in
            let c = RedisConnection(configuration: try RedisConfiguration(url: "unix://\(path)?db=3"))
            #expect(try await c.send("ECHO", "local") == .bulk("local"))
            #expect(try await c.send("CLIENT", "INFO").string?.contains("db=3") == true)
            await c.close()
        }
    }

    @Test("the health check reports latency, version, role and memory")
    func health() async throws {
        let pool = RedisPool(configuration: try TestEnvironment.redisConfiguration(), size: 2)
        let health = try await pool.healthCheck()
        #expect(health.version.split(separator: ".").count >= 2)
        #expect(health.role == "master")
        #expect(health.usedMemoryBytes > 0)
        #expect(health.latency < .seconds(5))
        await pool.close()
    }

    @Test("a pool spreads concurrent commands over its connections")
    func pool() async throws {
        try await withTestNamespace { ns in
            let pool = RedisPool(configuration: try TestEnvironment.redisConfiguration(clientName: "\(ns)-pool"), size: 3)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for t in 0..<32 {
                    group.addTask { for _ in 0..<20 { _ = try await pool.send("INCR", "\(ns):\(t % 4)") } }
                }
                try await group.waitForAll()
            }
            let total = try await (0..<4).asyncMap { try await pool.send("GET", "\(ns):\($0)").int ?? 0 }.reduce(0, +)
            #expect(total == 640)
            let clients = try await pool.send("CLIENT", "LIST").string ?? ""
            #expect(clients.components(separatedBy: "name=\(ns)-pool ").count - 1 == 3)
            await pool.close()
        }
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for e in self { out.append(try await transform(e)) }
        return out
    }
}

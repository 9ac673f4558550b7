import JobKitTestSupport
import NIOCore
import Testing

@testable import JobKit

/// Runs `body` with a fault proxy in front of the shared test Redis, closed afterwards even when it throws.
func withFaultProxy<T: Sendable>(_ body: (FaultProxy) async throws -> T) async throws -> T {
    let proxy = try await FaultProxy(upstream: try TestEnvironment.redisURL())
    do {
        let result = try await body(proxy)
        await proxy.close()
        return result
    } catch {
        await proxy.close()
        throw error
    }
}

/// A configuration that connects through `proxy`, without connection recycling unless asked.
func proxiedConfiguration(
    _ proxy: FaultProxy, commandTimeout: Duration? = .seconds(5), recycleAfter: Int = 0
) throws -> RedisConfiguration {
    var config = try RedisConfiguration(url: proxy.url, logger: TestEnvironment.logger)
    config.commandTimeout = commandTimeout
    config.consecutiveTimeoutsBeforeRecycle = recycleAfter
    config.minimumReconnectDelay = .milliseconds(10)
    config.maximumReconnectDelay = .milliseconds(100)
    return config
}

/// Expects `body` to throw a `RedisError` with `code`, and returns it.
@discardableResult
func expectRedisError(
    _ code: RedisError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void
) async -> RedisError? {
    let error = await #expect(throws: RedisError.self, sourceLocation: sourceLocation) { try await body() }
    #expect(error?.code == code, "\(error.map(String.init(describing:)) ?? "no error")", sourceLocation: sourceLocation)
    return error
}

@Suite("Fault proxy in front of the test Redis")
struct FaultProxyTests {
    @Test("forwards commands and replies, counting them per connection, pipelined ones too")
    func countsFrames() async throws {
        try await withTestNamespace { ns in
            try await withFaultProxy { proxy in
                #expect(proxy.url == "redis://127.0.0.1:\(proxy.port)/0")
                let c = RedisConnection(configuration: try proxiedConfiguration(proxy))
                try await c.set("\(ns):k", "v")
                let replies = try await c.pipeline((0..<50).map { RedisCommand("INCR", "\(ns):n\($0 % 5)") })
                #expect(replies.count == 50)
                #expect(replies.last == .integer(10))
                #expect(try await c.get("\(ns):k").map { String(buffer: $0) } == "v")
                // The proxy counts a reply after flushing it, so the client can see it first: wait for the count.
                try await proxy.waitUntil("52 replies forwarded") { $0.connections.first?.repliesForwarded == 52 }
                let snapshot = proxy.snapshot
                #expect(snapshot.accepted == 1)
                let stats = try #require(snapshot.connections.first)
                #expect(stats.commandsReceived == 52)
                #expect(stats.commandsForwarded == 52)
                #expect(stats.repliesReceived == 52)
                #expect(stats.repliesForwarded == 52)
                #expect(stats.commandNames.first == "SET")
                #expect(stats.commandNames.filter { $0 == "INCR" }.count == 50)
                #expect(stats.framesDropped == 0)
                await c.close()
            }
        }
    }

    @Test("dropReply lets the command run, then the connection goes silent")
    func dropReplyThenBlackhole() async throws {
        try await withTestNamespace { ns in
            try await withFaultProxy { proxy in
                let direct = RedisConnection(configuration: try TestEnvironment.redisConfiguration())
                let c = RedisConnection(configuration: try proxiedConfiguration(proxy, commandTimeout: .milliseconds(300)))
                await proxy.dropReply(ofCommandMatching: "set", argumentContaining: "\(ns):target")
                // A SET of another key does not match the argument filter.
                try await c.set("\(ns):other", "1")
                #expect(proxy.snapshot.fired == 0)
                await expectRedisError(.timeout) { try await c.set("\(ns):target", "ran") }
                try await proxy.waitUntilFired()
                // The command reached Redis; only its reply was lost.
                #expect(try await direct.get("\(ns):target").map { String(buffer: $0) } == "ran")
                // Every later reply on that connection is swallowed too, though the command runs.
                await expectRedisError(.timeout) { try await c.set("\(ns):after", "also") }
                #expect(try await direct.get("\(ns):after").map { String(buffer: $0) } == "also")
                let stats = try #require(proxy.snapshot.connections.first)
                #expect(stats.isSilenced)
                #expect(stats.isOpen)
                #expect(stats.commandsForwarded == 3)
                #expect(stats.repliesForwarded == 1)
                try await proxy.waitUntil("both replies dropped") { $0.connections.first?.framesDropped == 2 }
                await c.close()
                await direct.close()
            }
        }
    }

    @Test("cutAfterForwarding runs the command once and closes the connection")
    func cutAfterForwarding() async throws {
        try await withTestNamespace { ns in
            try await withFaultProxy { proxy in
                let direct = RedisConnection(configuration: try TestEnvironment.redisConfiguration())
                let c = RedisConnection(configuration: try proxiedConfiguration(proxy))
                await proxy.dropReply(ofCommandMatching: "INCR", count: 1, fault: .cutAfterForwarding)
                await expectRedisError(.connectionClosed) { _ = try await c.send("INCR", "\(ns):counter") }
                try await proxy.waitUntilFired()
                #expect(try await direct.send("GET", "\(ns):counter") == .bulk("1"))
                try await proxy.waitUntil("the cut connection closed") { $0.open == 0 }
                // The rule is used up: the next INCR reconnects through a new proxied connection and works.
                #expect(try await c.send("INCR", "\(ns):counter") == .integer(2))
                #expect(proxy.snapshot.accepted == 2)
                #expect(proxy.snapshot.fired == 1)
                await c.close()
                await direct.close()
            }
        }
    }

    @Test("cutAfterReply delivers the reply, then closes the connection")
    func cutAfterReply() async throws {
        try await withTestNamespace { ns in
            try await withFaultProxy { proxy in
                let c = RedisConnection(configuration: try proxiedConfiguration(proxy))
                await proxy.dropReply(ofCommandMatching: "INCR", count: 1, fault: .cutAfterReply)
                #expect(try await c.send("INCR", "\(ns):counter") == .integer(1))
                try await proxy.waitUntilFired()
                try await proxy.waitUntil("the cut connection closed") { $0.open == 0 }
                #expect(proxy.snapshot.connections.first?.repliesForwarded == 1)
                // The rule is used up: the next INCR reconnects through a new proxied connection and works.
                #expect(try await c.send("INCR", "\(ns):counter") == .integer(2))
                #expect(proxy.snapshot.accepted == 2)
                await c.close()
            }
        }
    }

    @Test("blackhole forwards nothing either way and keeps the sockets open")
    func blackhole() async throws {
        try await withTestNamespace { ns in
            try await withFaultProxy { proxy in
                let direct = RedisConnection(configuration: try TestEnvironment.redisConfiguration())
                let c = RedisConnection(configuration: try proxiedConfiguration(proxy, commandTimeout: .milliseconds(300)))
                try await c.ping()
                // Server → client: a BLPOP reaches Redis, then the blackhole swallows its reply.
                let blocked = Task { try await c.send(RedisCommand("BLPOP", "\(ns):list", "5"), timeout: .seconds(2)) }
                try await proxy.waitUntil("BLPOP forwarded") { $0.connections.first?.commandsForwarded == 2 }
                await proxy.blackhole(true)
                #expect(try await direct.send("LPUSH", "\(ns):list", "x") == .integer(1))
                try await proxy.waitUntil("the BLPOP reply dropped") { $0.connections.first?.framesDropped == 1 }
                await expectRedisError(.timeout) { _ = try await blocked.value }
                // Redis did serve the BLPOP: the list is empty again.
                #expect(try await direct.send("LLEN", "\(ns):list") == .integer(0))
                // Client → server: the command never reaches Redis.
                await expectRedisError(.timeout) { try await c.set("\(ns):never", "x") }
                #expect(try await direct.get("\(ns):never") == nil)
                let stats = try #require(proxy.snapshot.connections.first)
                #expect(stats.commandsReceived == 3)
                #expect(stats.commandsForwarded == 2)
                #expect(stats.isOpen)
                #expect(c.isConnected)
                // With the blackhole off, a new connection works at once.
                await proxy.blackhole(false)
                let fresh = RedisConnection(configuration: try proxiedConfiguration(proxy))
                #expect(try await fresh.send("ECHO", "through") == .bulk("through"))
                await fresh.close()
                await c.close()
                await direct.close()
            }
        }
    }

    @Test("cutAll closes every proxied connection; clients reconnect")
    func cutAll() async throws {
        try await withTestNamespace { ns in
            try await withFaultProxy { proxy in
                let a = RedisConnection(configuration: try proxiedConfiguration(proxy))
                let b = RedisConnection(configuration: try proxiedConfiguration(proxy))
                try await a.ping()
                try await b.ping()
                #expect(proxy.snapshot.open == 2)
                // Callers waiting on the cut connections get connectionClosed.
                let blockedA = Task { try await a.send(RedisCommand("BLPOP", "\(ns):a", "5"), timeout: nil) }
                let blockedB = Task { try await b.send(RedisCommand("BLPOP", "\(ns):b", "5"), timeout: nil) }
                try await proxy.waitUntil("both BLPOPs forwarded") { $0.connections.allSatisfy { $0.commandsForwarded == 2 } }
                await proxy.cutAll()
                try await proxy.waitUntil("all closed") { $0.open == 0 }
                await expectRedisError(.connectionClosed) { _ = try await blockedA.value }
                await expectRedisError(.connectionClosed) { _ = try await blockedB.value }
                // The next command on each reconnects through the proxy.
                #expect(try await a.send("ECHO", "a") == .bulk("a"))
                #expect(try await b.send("ECHO", "b") == .bulk("b"))
                #expect(proxy.snapshot.accepted == 4)
                #expect(proxy.snapshot.open == 2)
                await a.close()
                await b.close()
            }
        }
    }

    @Test("delay holds replies back and keeps them in order")
    func delay() async throws {
        try await withTestNamespace { ns in
            try await withFaultProxy { proxy in
                let c = RedisConnection(configuration: try proxiedConfiguration(proxy))
                try await c.ping()
                await proxy.delay(.milliseconds(300))
                let clock = ContinuousClock()
                let start = clock.now
                // Concurrent callers on one connection: each still gets its own reply.
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for i in 0..<20 {
                        group.addTask {
                            let reply = try await c.send("ECHO", "\(ns)-\(i)")
                            #expect(reply == .bulk("\(ns)-\(i)"))
                        }
                    }
                    try await group.waitForAll()
                }
                #expect(clock.now - start >= .milliseconds(300))
                await proxy.delay(.zero)
                #expect(try await c.send("ECHO", "now") == .bulk("now"))
                // The proxy counts a reply after writing it, so the client can read it first.
                try await proxy.waitUntil("22 replies forwarded") { $0.connections.first?.repliesForwarded == 22 }
                await c.close()
            }
        }
    }

    @Test("waitUntilFired fails with what the proxy saw when no fault fires")
    func waitTimesOut() async throws {
        try await withFaultProxy { proxy in
            await proxy.dropReply(ofCommandMatching: "EVALSHA")
            let c = RedisConnection(configuration: try proxiedConfiguration(proxy))
            try await c.ping()
            await #expect {
                try await proxy.waitUntilFired(timeout: .milliseconds(100))
            } throws: { error in
                (error as? FaultProxy.Failure)?.description.contains("0 fired") == true
            }
            await proxy.clearRules()
            await c.close()
        }
    }
}

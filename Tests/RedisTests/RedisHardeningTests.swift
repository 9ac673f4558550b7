import JobKitTestSupport
import NIOCore
import Testing

@testable import JobKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("Redis connections survive half-open sockets")
struct RedisHardeningTests {
    @Test("a blackholed connection is recycled after consecutive timeouts, and the next command succeeds")
    func recycleAfterTimeouts() async throws {
        try await withFaultProxy { proxy in
            let c = RedisConnection(
                configuration: try proxiedConfiguration(proxy, commandTimeout: .milliseconds(200), recycleAfter: 2))
            try await c.ping()
            await proxy.blackhole(true)
            // A caller with a long timeout, queued first, is failed by the recycle rather than left waiting.
            let patient = Task { try await c.send(RedisCommand("ECHO", "patient"), timeout: .seconds(60)) }
            try await proxy.waitUntil("the patient ECHO sent") { $0.connections.first?.commandsReceived == 2 }
            await expectRedisError(.timeout) { _ = try await c.send("ECHO", "one") }
            // One timeout is not enough: the socket stays.
            #expect(c.isConnected)
            #expect(proxy.snapshot.open == 1)
            await expectRedisError(.timeout) { _ = try await c.send("ECHO", "two") }
            let recycled = await expectRedisError(.connectionClosed) { _ = try await patient.value }
            #expect(recycled?.message.contains("2 consecutive command timeouts") == true)
            try await proxy.waitUntil("the old socket closed") { $0.open == 0 }
            #expect(!c.isConnected)

            await proxy.blackhole(false)
            let clock = ContinuousClock()
            let start = clock.now
            #expect(try await c.send(RedisCommand("ECHO", "after"), timeout: .seconds(2)) == .bulk("after"))
            #expect(clock.now - start < .seconds(2))
            #expect(proxy.snapshot.accepted == 2)
            await c.close()
        }
    }

    @Test("a server that closes right after answering the handshake: the next command reconnects")
    func closedRightAfterHandshake() async throws {
        try await withFaultProxy { proxy in
            var config = try proxiedConfiguration(proxy)
            config.clientName = "closed-after-handshake"
            // A Redis shutting down still answers connections from its backlog, then closes them: the handshake's
            // reply and the close arrive together.
            await proxy.dropReply(ofCommandMatching: "CLIENT", argumentContaining: "closed-after-handshake", fault: .cutAfterReply)
            let c = RedisConnection(configuration: config)
            // The first command meets a connection that is already gone, and may fail.
            _ = try? await c.send(RedisCommand("ECHO", "first"))
            try await proxy.waitUntilFired()
            try await proxy.waitUntil("the first connection closed") { $0.connections.first?.isOpen == false }
            // Every later command reconnects instead of failing on the dead channel.
            for word in ["second", "third"] {
                #expect(try await c.send(RedisCommand("ECHO", word)) == .bulk(word))
            }
            #expect(proxy.snapshot.accepted == 2)
            await c.close()
        }
    }

    @Test("without recycling, a connection that lost replies stays stuck (why recycling exists)")
    func stuckWithoutRecycling() async throws {
        try await withFaultProxy { proxy in
            let c = RedisConnection(
                configuration: try proxiedConfiguration(proxy, commandTimeout: .milliseconds(200), recycleAfter: 0))
            try await c.ping()
            await proxy.blackhole(true)
            for word in ["one", "two", "three"] {
                await expectRedisError(.timeout) { _ = try await c.send("ECHO", word) }
            }
            await proxy.blackhole(false)
            // The socket is open and Redis answers, but the reply goes to a caller that gave up long ago.
            await expectRedisError(.timeout) { _ = try await c.send("ECHO", "after") }
            #expect(c.isConnected)
            #expect(proxy.snapshot.accepted == 1)
            await c.close()
        }
    }

    @Test("a subscriber whose connection is blackholed notices, reconnects and still receives messages")
    func subscriberReconnectsWhenSilent() async throws {
        try await withTestNamespace { ns in
            try await withFaultProxy { proxy in
                let channel = "\(ns):control"
                var config = try proxiedConfiguration(proxy)
                config.subscriberPingInterval = .milliseconds(100)
                config.subscriberPingTimeout = .milliseconds(300)
                config.connectTimeout = .seconds(1)
                let subscriber = RedisSubscriber(configuration: config)
                try await subscriber.subscribe([channel])
                let runner = Task { await subscriber.run() }
                defer { runner.cancel() }
                let publisher = RedisConnection(configuration: try TestEnvironment.redisConfiguration())
                try await withTimeout(.seconds(20)) {
                    var events = subscriber.events.makeAsyncIterator()
                    let first = await RedisSubscriberTests.next(&events) { if case .subscribed = $0 { true } else { false } }
                    #expect(first == .subscribed(channel: channel, count: 1))
                    let receivers = try await publisher.publish(channel, "before")
                    #expect(receivers == 1)
                    let before = await RedisSubscriberTests.next(&events) { if case .message = $0 { true } else { false } }
                    #expect(before == .message(channel: channel, payload: ByteBuffer(string: "before"), pattern: nil))

                    // The socket stays open but nothing gets through: only the unanswered PING can tell.
                    await proxy.blackhole(true)
                    let down = await RedisSubscriberTests.next(&events) {
                        if case .message = $0 { false } else { true }
                    }
                    #expect(down == .disconnected)
                    await proxy.blackhole(false)
                    let again = await RedisSubscriberTests.next(&events) { if case .subscribed = $0 { true } else { false } }
                    #expect(again == .subscribed(channel: channel, count: 1))
                    let receiversAfter = try await publisher.publish(channel, "after")
                    #expect(receiversAfter >= 1)
                    let after = await RedisSubscriberTests.next(&events) { if case .message = $0 { true } else { false } }
                    #expect(after == .message(channel: channel, payload: ByteBuffer(string: "after"), pattern: nil))
                }
                #expect(proxy.snapshot.accepted >= 2)
                // The subscriber closed the silent socket itself (the proxy never did).
                try await proxy.waitUntil("the silent connection closed") { $0.connections.first?.isOpen == false }
                runner.cancel()
                await runner.value
                await publisher.close()
            }
        }
    }

    @Test("a healthy subscriber PINGs on its interval and keeps its one connection")
    func subscriberPingsWhileHealthy() async throws {
        try await withTestNamespace { ns in
            try await withFaultProxy { proxy in
                let channel = "\(ns):pings"
                var config = try proxiedConfiguration(proxy)
                config.subscriberPingInterval = .milliseconds(50)
                config.subscriberPingTimeout = .seconds(2)
                let subscriber = RedisSubscriber(configuration: config)
                try await subscriber.subscribe([channel])
                let runner = Task { await subscriber.run() }
                defer { runner.cancel() }
                // The handshake sends one PING; the liveness pings come after it, each answered.
                try await proxy.waitUntil("five liveness PINGs answered") { snapshot in
                    guard let c = snapshot.connections.first else { return false }
                    return c.commandNames.filter { $0 == "PING" }.count >= 6 && c.repliesForwarded >= 7
                }
                let snapshot = proxy.snapshot
                #expect(snapshot.accepted == 1)
                #expect(snapshot.open == 1)
                #expect(snapshot.connections.first?.commandNames.contains("SUBSCRIBE") == true)
                runner.cancel()
                await runner.value
            }
        }
    }

    @Test("connections turn on TCP keepalive with the configured timings")
    func keepAlive() async throws {
        var config = try TestEnvironment.redisConfiguration()
        config.tcpKeepAlive = .init(idle: .seconds(17), interval: .seconds(4), count: 5)
        let c = RedisConnection(configuration: config)
        let channel = try await c.connection().channel
        #expect(try await channel.getOption(.socketOption(.so_keepalive)) != 0)
        #if os(Linux)
        #expect(try await channel.getOption(.tcpOption(.init(rawValue: CInt(TCP_KEEPIDLE)))) == 17)
        #expect(try await channel.getOption(.tcpOption(.init(rawValue: CInt(TCP_KEEPINTVL)))) == 4)
        #expect(try await channel.getOption(.tcpOption(.init(rawValue: CInt(TCP_KEEPCNT)))) == 5)
        #endif
        await c.close()

        config.tcpKeepAlive = nil
        let plain = RedisConnection(configuration: config)
        let plainChannel = try await plain.connection().channel
        #expect(try await plainChannel.getOption(.socketOption(.so_keepalive)) == 0)
        await plain.close()
    }

    @Test("reconnect backoff is jittered over the whole range and capped")
    func backoffIsJitteredAndCapped() {
        var generator = SplitMix64(seed: 0x5EED_2024)
        let minimum = Duration.milliseconds(50)
        let maximum = Duration.seconds(2)
        for failures in 1...40 {
            let ceiling = min(maximum, minimum * (1 << min(failures - 1, 40)))
            let samples = (0..<400).map { _ in
                RedisConnection.reconnectDelay(afterFailures: failures, minimum: minimum, maximum: maximum, using: &generator)
            }
            #expect(samples.allSatisfy { $0 >= .zero && $0 <= ceiling }, "failures \(failures)")
            // Full jitter: the draws spread over the range instead of repeating one value.
            #expect(Set(samples).count > 300, "failures \(failures)")
            #expect(samples.min()! < ceiling * 0.2, "failures \(failures)")
            #expect(samples.max()! > ceiling * 0.8, "failures \(failures)")
        }
        // The cap holds for absurd failure counts (no overflow), and nothing is ever negative.
        for failures in [0, -3, 63, 64, 1_000, Int.max] {
            let d = RedisConnection.reconnectDelay(
                afterFailures: failures, minimum: minimum, maximum: maximum, using: &generator)
            #expect(d >= .zero && d <= maximum, "failures \(failures)")
        }
        #expect(
            RedisConnection.reconnectDelay(afterFailures: 5, minimum: .zero, maximum: maximum, using: &generator) == .zero)
    }
}

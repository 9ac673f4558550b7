import JobKitTestSupport
import NIOCore
import Testing

@testable import JobKit

@Suite("Redis pub/sub")
struct RedisSubscriberTests {
    /// Waits for the next event matching `predicate` (bounded by the caller's timeout).
    static func next(
        _ iterator: inout AsyncStream<RedisSubscriber.Event>.Iterator,
        where predicate: (RedisSubscriber.Event) -> Bool
    ) async -> RedisSubscriber.Event? {
        while let event = await iterator.next() {
            if predicate(event) { return event }
        }
        return nil
    }

    @Test("messages are delivered, and the subscription comes back after CLIENT KILL")
    func resubscribe() async throws {
        try await withTestNamespace { ns in
            let channel = "\(ns):control"
            var config = try TestEnvironment.redisConfiguration(clientName: "\(ns)-sub")
            config.minimumReconnectDelay = .milliseconds(10)
            let subscriber = RedisSubscriber(configuration: config)
            try await subscriber.subscribe([channel])
            let runner = Task { await subscriber.run() }
            defer { runner.cancel() }
            let publisher = RedisConnection(configuration: try TestEnvironment.redisConfiguration())
            try await withTimeout(.seconds(10)) {
                var events = subscriber.events.makeAsyncIterator()
                let sub = await Self.next(&events) { if case .subscribed = $0 { true } else { false } }
                #expect(sub == .subscribed(channel: channel, count: 1))
                #expect(try await publisher.publish(channel, "one") == 1)
                let first = await Self.next(&events) { if case .message = $0 { true } else { false } }
                #expect(first == .message(channel: channel, payload: ByteBuffer(string: "one"), pattern: nil))

                // The server drops the subscriber's connection (only ours: other tests share the server).
                let killed = try await killClients(named: "\(ns)-sub", using: publisher)
                #expect(killed == 1)
                let down = await Self.next(&events) { $0 == .disconnected || { if case .subscribed = $0 { true } else { false } }($0) }
                #expect(down == .disconnected)
                let again = await Self.next(&events) { if case .subscribed = $0 { true } else { false } }
                #expect(again == .subscribed(channel: channel, count: 1))
                #expect(try await publisher.publish(channel, "two") == 1)
                let second = await Self.next(&events) { if case .message = $0 { true } else { false } }
                #expect(second == .message(channel: channel, payload: ByteBuffer(string: "two"), pattern: nil))
            }
            await publisher.close()
        }
    }
}

struct TimedOut: Error {}

/// Runs `body`, failing with `TimedOut` if it takes longer than `limit`.
func withTimeout<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw TimedOut()
        }
        let result = try await group.next()!
        group.cancelAll()
        return result
    }
}

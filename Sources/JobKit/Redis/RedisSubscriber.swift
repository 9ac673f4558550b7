import NIOCore
import NIOPosix
import Synchronization

/// A pub/sub subscription on its own connection, which resubscribes after every reconnect.
///
/// Messages arrive on ``events``; a `.subscribed` event follows every successful (re)subscription, so a
/// caller can wait for the subscription to be live before it relies on it.
///
/// A subscribed connection only hears what is published, so the subscriber sends `PING` every
/// ``RedisConfiguration/subscriberPingInterval`` (5 s by default). When no frame at all arrives within
/// ``RedisConfiguration/subscriberPingTimeout`` of a `PING`, the connection is presumed dead (half-open),
/// and the subscriber closes it, reports `.disconnected`, reconnects and subscribes again. Messages
/// published while it was cut off are lost, as they are in pub/sub.
public final class RedisSubscriber: Sendable {
    /// What a subscriber reports.
    public enum Event: Sendable, Equatable {
        /// A message published on `channel` (or matched by `pattern`).
        case message(channel: String, payload: ByteBuffer, pattern: String?)
        /// The server confirmed a subscription to `channel`; `count` is the number now held.
        case subscribed(channel: String, count: Int)
        /// The connection dropped; the subscriber reconnects and resubscribes.
        case disconnected
    }

    private struct Subscriptions {
        var channels: Set<String> = []
        var patterns: Set<String> = []
    }

    private let subscriptions: Mutex<Subscriptions>
    private let connection: Mutex<RedisConnection?>
    private let continuation: AsyncStream<Event>.Continuation
    /// Every message and state change, in order.
    public let events: AsyncStream<Event>
    private let configuration: RedisConfiguration
    private let eventLoop: any EventLoop

    /// Creates a subscriber; call ``subscribe(_:)`` and then ``run()`` (or ``start()``).
    public init(
        configuration: RedisConfiguration, eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next()
    ) {
        var config = configuration
        config.commandTimeout = nil
        config.protocolVersion = 2
        self.configuration = config
        self.eventLoop = eventLoop
        self.subscriptions = Mutex(Subscriptions())
        self.connection = Mutex(nil)
        (self.events, self.continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingNewest(10_000))
    }

    /// Subscribes to `channels` now (if connected) and after every reconnect.
    public func subscribe(_ channels: [String]) async throws {
        subscriptions.withLock { $0.channels.formUnion(channels) }
        if let c = connection.withLock({ $0 }), c.isConnected {
            try await c.sendUnmatched(RedisCommand("SUBSCRIBE", strings: channels))
        }
    }

    /// Subscribes to `patterns` (`PSUBSCRIBE`) now and after every reconnect.
    public func psubscribe(_ patterns: [String]) async throws {
        subscriptions.withLock { $0.patterns.formUnion(patterns) }
        if let c = connection.withLock({ $0 }), c.isConnected {
            try await c.sendUnmatched(RedisCommand("PSUBSCRIBE", strings: patterns))
        }
    }

    /// Keeps the subscription alive until the calling task is cancelled: connects, subscribes, and on any
    /// drop (a closed socket, or a `PING` left unanswered) reconnects, with the connection's jittered
    /// backoff, and subscribes again.
    public func run() async {
        let this = self
        let conn = RedisConnection(
            configuration: configuration, eventLoop: eventLoop,
            onPush: { value in this.handle(value) }, pushOnly: true,
            afterConnect: { connected in
                let subs = this.subscriptions.withLock { $0 }
                if !subs.channels.isEmpty {
                    let bytes = RedisCommand("SUBSCRIBE", strings: Array(subs.channels)).bytes
                    connected.channel.eventLoop.execute { connected.handler.value.writeUnmatched(bytes) }
                }
                if !subs.patterns.isEmpty {
                    let bytes = RedisCommand("PSUBSCRIBE", strings: Array(subs.patterns)).bytes
                    connected.channel.eventLoop.execute { connected.handler.value.writeUnmatched(bytes) }
                }
            })
        connection.withLock { $0 = conn }
        defer { continuation.finish() }
        while !Task.isCancelled {
            do {
                let connected = try await conn.connection()
                // Wait until this channel closes (or the task is cancelled).
                try await withTaskCancellationHandler {
                    try await connected.channel.closeFuture.get()
                } onCancel: {
                    connected.channel.close(promise: nil)
                }
                if !Task.isCancelled { continuation.yield(.disconnected) }
            } catch {
                if Task.isCancelled { break }
                // Connect failed: the connection's own backoff spaces the next attempt.
                try? await Task.sleep(for: configuration.minimumReconnectDelay)
            }
        }
        await conn.close()
        connection.withLock { $0 = nil }
    }

    private func handle(_ value: RESPValue) {
        guard let parts = value.array, let kind = parts.first?.string?.lowercased() else { return }
        switch kind {
        case "message" where parts.count == 3:
            continuation.yield(
                .message(channel: parts[1].string ?? "", payload: parts[2].buffer ?? ByteBuffer(), pattern: nil))
        case "pmessage" where parts.count == 4:
            continuation.yield(
                .message(channel: parts[2].string ?? "", payload: parts[3].buffer ?? ByteBuffer(), pattern: parts[1].string))
        case "subscribe", "psubscribe":
            continuation.yield(.subscribed(channel: parts.count > 1 ? parts[1].string ?? "" : "", count: parts.count > 2 ? parts[2].int ?? 0 : 0))
        default:
            break
        }
    }
}

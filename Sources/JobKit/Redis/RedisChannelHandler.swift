import DequeModule
import NIOCore
import NIOSSL

/// The channel handler under a ``RedisConnection``: writes encoded commands, decodes replies and matches
/// them, in order, to the waiting callers.
///
/// It lives on its channel's event loop and is touched only there. Commands written in the same event-loop
/// tick are flushed together (automatic pipelining): callers never wait for each other's round trips.
final class RedisChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// One caller waiting for one reply, or for the replies of one pipeline.
    enum Waiter {
        case single(CheckedContinuation<RESPValue, any Error>)
        case batch(BatchCollector)
        /// The caller gave up (timeout); the reply, when it comes, is dropped.
        case abandoned
    }

    final class BatchCollector {
        let count: Int
        var values: [RESPValue]
        /// `nil` for a collector that only swallows the replies owed to a caller that timed out.
        let completion: (@Sendable (Result<[RESPValue], any Error>) -> Void)?
        init(count: Int, completion: (@Sendable (Result<[RESPValue], any Error>) -> Void)?) {
            self.count = count
            self.values = []
            self.values.reserveCapacity(count)
            self.completion = completion
        }
        convenience init(count: Int, continuation: CheckedContinuation<[RESPValue], any Error>) {
            self.init(count: count) { continuation.resume(with: $0) }
        }
    }

    struct Pending {
        var waiter: Waiter
        var deadline: NIODeadline?
    }

    private let decoder: RESPDecoder
    private var context: ChannelHandlerContext?
    private var pending: Deque<Pending> = []
    private var readBuffer: ByteBuffer?
    private var flushScheduled = false
    private var closedError: RedisError?
    private var timeoutTask: Scheduled<Void>?
    private var timeoutAt: NIODeadline?
    /// When set, every reply that no caller waits for (RESP3 pushes; all replies once `pushOnly`) goes here.
    private let onPush: (@Sendable (RESPValue) -> Void)?
    /// Pub/sub mode in RESP2: the server sends only messages and (un)subscribe confirmations.
    var pushOnly = false
    /// Why the handler closed its own channel, when it did.
    enum SelfClose: Equatable {
        /// ``recycleAfterTimeouts`` commands in a row got no reply in time.
        case consecutiveTimeouts(Int)
        /// A liveness `PING` (``startPinging(interval:timeout:)``) got no frame back in time.
        case pingUnanswered
    }
    /// Called once when the channel becomes inactive or fails, with the reason if the handler closed it.
    var onClose: ((RedisError, SelfClose?) -> Void)?
    private var selfClose: SelfClose?

    /// After this many timeouts with no frame read in between the channel is closed; 0 never closes it.
    private let recycleAfterTimeouts: Int
    private var consecutiveTimeouts = 0

    /// Liveness pings (pub/sub): the interval between `PING`s and how long to wait for any frame after one.
    private var pingSettings: (interval: TimeAmount, timeout: TimeAmount)?
    private var pingTask: Scheduled<Void>?
    private var pingDeadlineTask: Scheduled<Void>?

    init(decoder: RESPDecoder, onPush: (@Sendable (RESPValue) -> Void)? = nil, recycleAfterTimeouts: Int = 0) {
        self.decoder = decoder
        self.onPush = onPush
        self.recycleAfterTimeouts = max(0, recycleAfterTimeouts)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        failAll(RedisError(.connectionClosed, "connection handler removed"))
        self.context = nil
    }

    // MARK: Writing

    /// Writes one command and registers its waiter. Called on the event loop.
    func enqueue(_ bytes: ByteBuffer, waiter: Waiter, deadline: NIODeadline?) {
        guard closedError == nil, let context else {
            fail(waiter, closedError ?? RedisError(.connectionClosed, "connection is not open"))
            return
        }
        pending.append(Pending(waiter: waiter, deadline: deadline))
        context.write(wrapOutboundOut(bytes), promise: nil)
        scheduleFlush(context)
        if let deadline { armTimeout(deadline) }
    }

    /// Writes several commands whose replies one collector gathers. Called on the event loop.
    func enqueueBatch(_ commands: [ByteBuffer], collector: BatchCollector, deadline: NIODeadline?) {
        guard closedError == nil, let context else {
            collector.completion?(.failure(closedError ?? RedisError(.connectionClosed, "connection is not open")))
            return
        }
        if commands.isEmpty {
            collector.completion?(.success([]))
            return
        }
        pending.append(Pending(waiter: .batch(collector), deadline: deadline))
        for bytes in commands { context.write(wrapOutboundOut(bytes), promise: nil) }
        scheduleFlush(context)
        if let deadline { armTimeout(deadline) }
    }

    /// Writes bytes that expect no matched reply (pub/sub commands). Called on the event loop.
    func writeUnmatched(_ bytes: ByteBuffer) {
        guard closedError == nil, let context else { return }
        context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
    }

    private func scheduleFlush(_ context: ChannelHandlerContext) {
        guard !flushScheduled else { return }
        flushScheduled = true
        // Runs after the writes already queued on this loop, so concurrent callers share one flush.
        context.eventLoop.assumeIsolatedUnsafeUnchecked().execute {
            self.flushScheduled = false
            self.context?.flush()
        }
    }

    // MARK: Reading

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let incoming = unwrapInboundIn(data)
        // Any byte from the server answers an outstanding liveness PING: the socket is alive.
        pingDeadlineTask?.cancel()
        pingDeadlineTask = nil
        if var buffer = readBuffer, buffer.readableBytes > 0 {
            var incoming = incoming
            buffer.writeBuffer(&incoming)
            readBuffer = buffer
        } else {
            readBuffer = incoming
        }
        guard var buffer = readBuffer else { return }
        readBuffer = nil
        do {
            while let value = try decoder.next(from: &buffer) {
                deliver(value)
            }
        } catch {
            let redisError = error as? RedisError ?? RedisError(.protocolViolation, "undecodable reply")
            closedError = redisError
            failAll(redisError)
            context.close(promise: nil)
            return
        }
        if buffer.readableBytes > 0 {
            buffer.discardReadBytes()
            readBuffer = buffer
        }
    }

    private func deliver(_ value: RESPValue) {
        consecutiveTimeouts = 0
        if case .push = value, let onPush {
            onPush(value)
            return
        }
        if pushOnly || pending.isEmpty {
            onPush?(value)
            return
        }
        switch pending[pending.startIndex].waiter {
        case .single(let continuation):
            pending.removeFirst()
            if case .error(let text) = value {
                continuation.resume(throwing: RedisError.server(text))
            } else {
                continuation.resume(returning: value)
            }
        case .batch(let collector):
            collector.values.append(value)
            if collector.values.count == collector.count {
                pending.removeFirst()
                collector.completion?(.success(collector.values))
            }
        case .abandoned:
            pending.removeFirst()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let error = closedError ?? RedisError(.connectionClosed, "connection closed by the server or network")
        closedError = error
        failAll(error)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let redisError: RedisError
        if let e = error as? RedisError {
            redisError = e
        } else if error is NIOSSLError || error is BoringSSLError {
            redisError = RedisError(.tls, "TLS failed: \(error)", underlying: error)
        } else {
            redisError = RedisError(.connectionClosed, "connection failed: \(type(of: error))", underlying: error)
        }
        closedError = closedError ?? redisError
        failAll(redisError)
        context.close(promise: nil)
    }

    // MARK: Failure and timeouts

    private func fail(_ waiter: Waiter, _ error: RedisError) {
        switch waiter {
        case .single(let c): c.resume(throwing: error)
        case .batch(let b): b.completion?(.failure(error))
        case .abandoned: break
        }
    }

    private func failAll(_ error: RedisError) {
        let waiting = pending
        pending.removeAll()
        timeoutTask?.cancel()
        timeoutTask = nil
        timeoutAt = nil
        pingTask?.cancel()
        pingTask = nil
        pingDeadlineTask?.cancel()
        pingDeadlineTask = nil
        pingSettings = nil
        // The connection forgets this channel before any waiter hears of the failure, so that a caller who
        // retries as soon as it is told gets a new channel, not this closing one.
        if let onClose {
            self.onClose = nil
            onClose(error, selfClose)
        }
        for p in waiting { fail(p.waiter, error) }
    }

    /// Closes the channel because it looks dead: every waiter fails with `error`, which later callers get too.
    private func closeUnresponsive(_ reason: SelfClose, _ error: RedisError) {
        guard closedError == nil else { return }
        selfClose = reason
        closedError = error
        failAll(error)
        context?.close(promise: nil)
    }

    private func armTimeout(_ deadline: NIODeadline) {
        if let at = timeoutAt, at <= deadline { return }
        timeoutTask?.cancel()
        timeoutAt = deadline
        guard let context else { return }
        timeoutTask = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: deadline) {
            self.expireTimeouts()
        }
    }

    private func expireTimeouts() {
        timeoutTask = nil
        timeoutAt = nil
        let now = NIODeadline.now()
        var next: NIODeadline?
        var expired = 0
        for i in pending.indices {
            guard let deadline = pending[i].deadline else { continue }
            if deadline <= now {
                let waiter = pending[i].waiter
                pending[i] = Pending(waiter: waiter.abandonedVersion, deadline: nil)
                fail(waiter, RedisError(.timeout, "no reply within the command timeout"))
                expired += 1
            } else if next == nil || deadline < next! {
                next = deadline
            }
        }
        consecutiveTimeouts += expired
        if recycleAfterTimeouts > 0, consecutiveTimeouts >= recycleAfterTimeouts {
            let count = consecutiveTimeouts
            closeUnresponsive(
                .consecutiveTimeouts(count),
                RedisError(
                    .connectionClosed,
                    "connection recycled after \(count) consecutive command timeouts"
                        + " (no reply; the socket may be half-open)"))
            return
        }
        if let next { armTimeout(next) }
    }

    // MARK: Liveness pings

    /// Sends `PING` every `interval` and closes the channel when no frame at all arrives within `timeout` of
    /// one. For a pub/sub connection, which otherwise only hears what is published; the reply (`PONG`, or
    /// `["pong", ""]` when subscribed in RESP2) reaches ``onPush`` like any unmatched frame. Called on the
    /// event loop.
    func startPinging(interval: TimeAmount, timeout: TimeAmount) {
        guard closedError == nil, context != nil else { return }
        pingTask?.cancel()
        pingSettings = (interval, timeout)
        schedulePing()
    }

    private func schedulePing() {
        guard let context, let settings = pingSettings else { return }
        pingTask = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: settings.interval) {
            self.sendPing()
        }
    }

    private func sendPing() {
        pingTask = nil
        guard closedError == nil, let context, let settings = pingSettings else { return }
        if pingDeadlineTask == nil {
            context.writeAndFlush(wrapOutboundOut(Self.pingBytes), promise: nil)
            pingDeadlineTask = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: settings.timeout) {
                self.pingDeadlineTask = nil
                let milliseconds = settings.timeout.nanoseconds / 1_000_000
                self.closeUnresponsive(
                    .pingUnanswered,
                    RedisError(
                        .connectionClosed, "no reply to PING within \(milliseconds) ms; the connection looks dead"))
            }
        }
        schedulePing()
    }

    private static let pingBytes = RedisCommand("PING").bytes
}

extension RedisChannelHandler.Waiter {
    /// What stays in the queue after the caller gave up: an entry that swallows as many replies as were owed.
    var abandonedVersion: RedisChannelHandler.Waiter {
        switch self {
        case .single, .abandoned:
            return .abandoned
        case .batch(let collector):
            // Replace the caller's collector with one that only counts, so the stream stays aligned.
            return .batch(.discarding(count: collector.count - collector.values.count))
        }
    }
}

extension RedisChannelHandler.BatchCollector {
    /// A collector nobody waits for: it swallows `count` replies.
    static func discarding(count: Int) -> RedisChannelHandler.BatchCollector {
        RedisChannelHandler.BatchCollector(count: max(count, 1), completion: nil)
    }
}

extension RedisError {
    static func server(_ text: ByteBuffer) -> RedisError {
        RedisError(.serverError, String(buffer: text))
    }
}

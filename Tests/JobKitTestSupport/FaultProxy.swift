import JobKit
import NIOCore
import NIOPosix
import Synchronization

/// A loopback TCP proxy in front of a Redis server that injects network faults on command.
///
/// The proxy listens on `127.0.0.1` at a free port (``port``, ``url``) and forwards every accepted
/// connection to the upstream server. It reads RESP in both directions, so it counts the commands each
/// client sends and the replies the server returns, pipelined or not, and it acts on whole frames, never
/// on part of one. A test changes its behaviour at run time:
///
/// - ``dropReply(ofCommandMatching:argumentContaining:count:fault:)`` lets one command through to Redis
///   and then loses its reply: the connection goes silent, or is cut.
/// - ``blackhole(_:)`` forwards nothing in either direction while the sockets stay open: a half-open
///   connection, as after a network partition or a dead peer.
/// - ``cutAll()`` closes every proxied connection now. ``delay(_:)`` holds each reply back.
///
/// Tests await what the proxy saw (``waitUntilFired(_:timeout:)``, ``waitUntil(timeout:_:_:)``) instead of
/// sleeping.
///
/// Counting assumes request/reply connections: in RESP2 subscribe mode, messages are ordinary frames and are
/// counted as replies. A client that sends bytes that are not RESP arrays (inline commands) is forwarded
/// byte for byte, uncounted, and faults no longer apply to it.
public final class FaultProxy: Sendable {
    /// What happens to a connection when a ``dropReply(ofCommandMatching:argumentContaining:count:fault:)`` rule
    /// fires.
    public enum ReplyFault: Sendable, Hashable {
        /// The command reaches Redis, but its reply and every later frame on that connection are swallowed.
        /// Later commands still reach Redis. The sockets stay open.
        case dropReplyThenBlackhole
        /// The command reaches Redis, then both sides of the connection are closed.
        case cutAfterForwarding
        /// The command reaches Redis and its reply reaches the client, then both sides of the connection are
        /// closed: a server that answers and goes away at once (a Redis shutting down after a handshake).
        case cutAfterReply
    }

    /// What the proxy saw on one proxied connection.
    public struct ConnectionStats: Sendable, Hashable {
        /// The connection's number, from 0 in the order they were accepted.
        public let id: Int
        /// Complete commands read from the client.
        public var commandsReceived = 0
        /// Commands written to Redis (received minus those a blackhole dropped).
        public var commandsForwarded = 0
        /// Complete reply frames read from Redis (RESP3 pushes not included).
        public var repliesReceived = 0
        /// Reply frames written to the client.
        public var repliesForwarded = 0
        /// Frames read from Redis that the proxy did not forward (blackhole or a fired drop rule).
        public var framesDropped = 0
        /// RESP3 push frames read from Redis.
        public var pushesReceived = 0
        /// The names (upper-cased) of the commands received, in order.
        public var commandNames: [String] = []
        /// True until either side of the connection has closed.
        public var isOpen = true
        /// True once a ``ReplyFault/dropReplyThenBlackhole`` rule fired on this connection.
        public var isSilenced = false
    }

    /// A consistent view of everything the proxy saw.
    public struct Snapshot: Sendable {
        /// Every connection accepted so far, open or closed, by ``ConnectionStats/id``.
        public var connections: [ConnectionStats]
        /// How many drop rules have fired in total.
        public var fired: Int
        /// How many connections were accepted.
        public var accepted: Int { connections.count }
        /// How many connections are open now.
        public var open: Int { connections.filter(\.isOpen).count }
        /// The connections still open.
        public var openConnections: [ConnectionStats] { connections.filter(\.isOpen) }
    }

    /// A ``waitUntil(timeout:_:_:)`` that did not see its condition in time, or a proxy that could not start.
    public struct Failure: Error, CustomStringConvertible {
        /// What was awaited and what the proxy saw instead.
        public let description: String
    }

    private struct Rule {
        var name: String
        var argument: String?
        var remaining: Int
        var fault: ReplyFault
    }

    private struct Waiter {
        let condition: @Sendable (Snapshot) -> Bool
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var blackholed = false
        var replyDelay: Duration = .zero
        var rules: [Rule] = []
        var fired = 0
        var stats: [ConnectionStats] = []
        var channels: [Int: [any Channel]] = [:]
        var waiters: [Int: Waiter] = [:]
        var nextWaiter = 0
        var closed = false

        var snapshot: Snapshot { Snapshot(connections: stats, fired: fired) }
    }

    /// The port the proxy listens on (on 127.0.0.1).
    public let port: Int
    /// The upstream server's host.
    public let upstreamHost: String
    /// The upstream server's port.
    public let upstreamPort: Int
    private let serverChannel: any Channel
    private let state: Mutex<State>

    /// `redis://127.0.0.1:<port>/0`: the proxy's address, for a ``RedisConfiguration``.
    public var url: String { "redis://127.0.0.1:\(port)/0" }

    /// Starts a proxy on `127.0.0.1`, port 0 (a free port), in front of `upstreamHost:upstreamPort`.
    ///
    /// Each accepted connection is connected to the upstream server before the proxy reads from it.
    ///
    /// - Throws: the bind error, if the proxy cannot listen.
    public init(
        upstreamHost: String, upstreamPort: Int,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws {
        self.upstreamHost = upstreamHost
        self.upstreamPort = upstreamPort
        let state = Mutex(State())
        self.state = state
        // The server channel needs `self` in its child initializer, and `self` needs the server channel:
        // the initializer reads the proxy from this box, filled in before the first accept can be handled.
        let box = ProxyBox()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { child in
                guard let proxy = box.proxy else {
                    return child.eventLoop.makeFailedFuture(Failure(description: "proxy not started"))
                }
                return proxy.accept(child)
            }
            .bind(host: "127.0.0.1", port: 0).get()
        guard let port = channel.localAddress?.port else {
            try? await channel.close()
            throw Failure(description: "the proxy's listening socket has no port")
        }
        self.serverChannel = channel
        self.port = port
        box.set(self)
    }

    /// Starts a proxy in front of the server that `redisURL` (`redis://host:port/db`) names.
    ///
    /// - Throws: `RedisError` `invalidURL` for a malformed URL; ``Failure`` for a Unix socket URL.
    public convenience init(upstream redisURL: String) async throws {
        let url = try RedisURL(redisURL)
        guard case .tcp(let host, let port) = url.endpoint else {
            throw Failure(description: "FaultProxy forwards TCP only, not \(url)")
        }
        try await self.init(upstreamHost: host, upstreamPort: port)
    }

    // MARK: Controls

    /// Arms a rule: the next `count` client commands named `name` (case-insensitive, for example `"EVALSHA"`)
    /// are forwarded to Redis, and then their replies are lost as `fault` says.
    ///
    /// Rules apply to every connection, open now or accepted later; each matching command uses up one of
    /// `count`. Every firing counts toward ``waitUntilFired(_:timeout:)``. A command that a blackhole drops
    /// never fires a rule.
    ///
    /// - Parameters:
    ///   - name: the command name, such as `"GET"` or `"EVALSHA"`.
    ///   - argumentContaining: when set, only a command one of whose arguments contains this text matches.
    ///   - count: how many commands the rule fires for (at least 1).
    ///   - fault: silence the connection (the default) or cut it.
    public func dropReply(
        ofCommandMatching name: String, argumentContaining: String? = nil, count: Int = 1,
        fault: ReplyFault = .dropReplyThenBlackhole
    ) async {
        mutate { state in
            state.rules.append(
                Rule(name: name.uppercased(), argument: argumentContaining, remaining: max(1, count), fault: fault))
        }
    }

    /// Removes every armed drop rule that has not fired yet.
    public func clearRules() async {
        mutate { $0.rules.removeAll() }
    }

    /// Closes every proxied connection now (both sides) and returns when they are closed.
    ///
    /// New connections are accepted as before.
    public func cutAll() async {
        let channels = state.withLock { $0.channels.values.flatMap { $0 } }
        for channel in channels {
            try? await channel.close()
        }
    }

    /// Turns the blackhole on or off for every connection, open now or accepted later.
    ///
    /// While it is on, the proxy reads and discards every complete frame in both directions: commands never
    /// reach Redis and replies never reach the client, and no socket closes. A frame discarded is gone:
    /// turning the blackhole off does not deliver it later, so a connection that lost replies stays out of
    /// step with its commands (as a real client's would).
    public func blackhole(_ on: Bool) async {
        mutate { $0.blackholed = on }
    }

    /// Holds each reply from Redis for `delay` before it is forwarded; `.zero` (the start value) forwards at
    /// once. Replies keep their order.
    public func delay(_ delay: Duration) async {
        mutate { $0.replyDelay = max(delay, .zero) }
    }

    /// Returns once drop rules have fired `times` times in total since the proxy started.
    ///
    /// - Throws: ``Failure`` after `timeout`, naming what the proxy saw; `CancellationError` if cancelled.
    public func waitUntilFired(_ times: Int = 1, timeout: Duration = .seconds(10)) async throws {
        try await waitUntil(timeout: timeout, "\(times) fault(s) fired") { $0.fired >= times }
    }

    /// Returns as soon as `condition` holds for the proxy's ``snapshot`` (checked after every frame and
    /// every connection change).
    ///
    /// - Parameters:
    ///   - timeout: how long to wait.
    ///   - what: words for the failure message.
    ///   - condition: evaluated under the proxy's lock: keep it short, and do not call the proxy from it.
    /// - Throws: ``Failure`` after `timeout`, naming what the proxy saw; `CancellationError` if cancelled.
    public func waitUntil(
        timeout: Duration = .seconds(10), _ what: String = "condition",
        _ condition: @escaping @Sendable (Snapshot) -> Bool
    ) async throws {
        let id = state.withLock { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Outcome { case ready, waiting, cancelled, closed }
                let outcome: Outcome = state.withLock { state in
                    if condition(state.snapshot) { return .ready }
                    if Task.isCancelled { return .cancelled }
                    if state.closed { return .closed }
                    state.waiters[id] = Waiter(condition: condition, continuation: continuation)
                    return .waiting
                }
                switch outcome {
                case .ready: continuation.resume()
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .closed: continuation.resume(throwing: Failure(description: "FaultProxy closed while waiting for \(what)"))
                case .waiting:
                    serverChannel.eventLoop.scheduleTask(in: Self.timeAmount(timeout)) {
                        self.expireWaiter(id) { snapshot in
                            Failure(description: "FaultProxy: no \(what) within \(timeout); saw \(Self.summary(snapshot))")
                        }
                    }
                }
            }
        } onCancel: {
            self.expireWaiter(id) { _ in CancellationError() }
        }
    }

    /// Everything the proxy saw so far.
    public var snapshot: Snapshot {
        state.withLock { $0.snapshot }
    }

    /// Stops listening, closes every proxied connection and fails every pending wait.
    public func close() async {
        let (channels, waiters) = state.withLock { state in
            state.closed = true
            let waiters = Array(state.waiters.values)
            state.waiters.removeAll()
            return (state.channels.values.flatMap { $0 }, waiters)
        }
        for waiter in waiters {
            waiter.continuation.resume(throwing: Failure(description: "FaultProxy closed while waiting"))
        }
        try? await serverChannel.close()
        for channel in channels {
            try? await channel.close()
        }
    }

    // MARK: Connections (called by the links, on their event loop)

    private func accept(_ downstream: any Channel) -> EventLoopFuture<Void> {
        let loop = downstream.eventLoop
        let id: Int? = mutate { state in
            if state.closed { return nil }
            state.stats.append(ConnectionStats(id: state.stats.count))
            return state.stats.count - 1
        }
        guard let id else { return loop.makeFailedFuture(Failure(description: "FaultProxy is closed")) }
        let link = ProxyLink(id: id, proxy: self, downstream: downstream)
        let boundLink = NIOLoopBound(link, eventLoop: loop)
        do {
            try downstream.pipeline.syncOperations.addHandler(ProxySideHandler(link: link, side: .client))
        } catch {
            connectionClosed(id)
            return loop.makeFailedFuture(error)
        }
        return ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { upstream in
                upstream.eventLoop.makeCompletedFuture {
                    try upstream.pipeline.syncOperations.addHandler(
                        ProxySideHandler(link: boundLink.value, side: .server))
                }
            }
            .connect(host: upstreamHost, port: upstreamPort)
            .flatMapThrowing { upstream in
                let link = boundLink.value
                guard link.downstream != nil, !link.isClosed else {
                    // The client left while the proxy was connecting, or the server closed the new connection at
                    // once (a Redis shutting down still completes handshakes from its backlog, then resets them):
                    // fail the accept, so that the client's connection is closed instead of left open with
                    // nothing behind it (its commands would go nowhere until they time out).
                    upstream.close(promise: nil)
                    throw Failure(description: "the upstream connection closed before the link was made")
                }
                link.upstream = upstream
                self.mutate { state in state.channels[id] = [downstream, upstream] }
            }
            .flatMapErrorThrowing { error in
                self.connectionClosed(id)
                throw error
            }
    }

    fileprivate enum CommandDecision {
        case drop
        case forward
        case forwardThenSilence
        case forwardThenCut
        case forwardThenCutAfterReply
    }

    fileprivate func command(on id: Int, name: String, arguments: [String]) -> CommandDecision {
        mutate { state in
            state.stats[id].commandsReceived += 1
            state.stats[id].commandNames.append(name)
            if state.blackholed { return .drop }
            state.stats[id].commandsForwarded += 1
            guard
                let index = state.rules.firstIndex(where: { rule in
                    rule.name == name
                        && (rule.argument.map { text in arguments.contains { $0.contains(text) } } ?? true)
                })
            else { return .forward }
            let fault = state.rules[index].fault
            state.rules[index].remaining -= 1
            if state.rules[index].remaining == 0 { state.rules.remove(at: index) }
            state.fired += 1
            switch fault {
            case .dropReplyThenBlackhole:
                state.stats[id].isSilenced = true
                return .forwardThenSilence
            case .cutAfterForwarding:
                return .forwardThenCut
            case .cutAfterReply:
                return .forwardThenCutAfterReply
            }
        }
    }

    fileprivate enum ReplyDecision {
        case drop
        case forward(after: Duration)
    }

    fileprivate func reply(on id: Int, isPush: Bool, silenced: Bool) -> ReplyDecision {
        mutate { state in
            if isPush { state.stats[id].pushesReceived += 1 } else { state.stats[id].repliesReceived += 1 }
            if silenced || state.blackholed {
                state.stats[id].framesDropped += 1
                return .drop
            }
            return .forward(after: state.replyDelay)
        }
    }

    fileprivate func repliesForwarded(on id: Int, _ count: Int) {
        mutate { $0.stats[id].repliesForwarded += count }
    }

    fileprivate func connectionClosed(_ id: Int) {
        mutate { state in
            state.stats[id].isOpen = false
            state.channels[id] = nil
        }
    }

    /// Runs `body` under the lock, then resumes (outside the lock) every waiter whose condition now holds.
    private func mutate<T>(_ body: (inout State) -> T) -> T {
        let (result, ready) = state.withLock { state in
            let result = body(&state)
            guard !state.waiters.isEmpty else { return (result, [Waiter]()) }
            let snapshot = state.snapshot
            var ready: [Waiter] = []
            for (id, waiter) in state.waiters where waiter.condition(snapshot) {
                ready.append(waiter)
                state.waiters[id] = nil
            }
            return (result, ready)
        }
        for waiter in ready { waiter.continuation.resume() }
        return result
    }

    private func expireWaiter(_ id: Int, _ error: (Snapshot) -> any Error) {
        let expired: (Waiter, Snapshot)? = state.withLock { state in
            guard let waiter = state.waiters.removeValue(forKey: id) else { return nil }
            return (waiter, state.snapshot)
        }
        if let (waiter, snapshot) = expired { waiter.continuation.resume(throwing: error(snapshot)) }
    }

    private static func summary(_ snapshot: Snapshot) -> String {
        let connections = snapshot.connections.map { c in
            "#\(c.id)\(c.isOpen ? "" : " closed") cmd \(c.commandsForwarded)/\(c.commandsReceived) rep \(c.repliesForwarded)/\(c.repliesReceived)"
        }
        return "\(snapshot.fired) fired; connections [\(connections.joined(separator: ", "))]"
    }

    fileprivate static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

/// Hands the proxy to its own server channel's child initializer.
private final class ProxyBox: Sendable {
    private let value = Mutex<FaultProxy?>(nil)
    var proxy: FaultProxy? { value.withLock { $0 } }
    func set(_ proxy: FaultProxy) { value.withLock { $0 = proxy } }
}

/// One proxied connection: the client's channel, Redis's channel, and the frames between them.
///
/// Lives on the client channel's event loop (both channels use it) and is touched only there.
private final class ProxyLink {
    let id: Int
    let proxy: FaultProxy
    var downstream: (any Channel)?
    var upstream: (any Channel)?
    private let decoder = RESPDecoder()
    private var fromClient: ByteBuffer?
    private var fromServer: ByteBuffer?
    /// Set when a side sent bytes that are not RESP: from then on, that side is copied byte for byte.
    private var rawClient = false
    private var rawServer = false
    /// Commands written to Redis so far; with `repliesSeen`, tells which reply a fired rule's command owns.
    private var commandsForwarded = 0
    private var repliesSeen = 0
    /// Replies from this index on (0-based, pushes not counted) are swallowed.
    private var silentFromReply: Int?
    /// After the reply with this index (0-based, pushes not counted) is forwarded, both sides are closed.
    private var cutAfterReply: Int?
    private var cut = false
    private var delayed: [(deadline: NIODeadline, frame: ByteBuffer)] = []
    private var delayTimer: Scheduled<Void>?
    private var closed = false
    /// True once either side has closed.
    var isClosed: Bool { closed }

    init(id: Int, proxy: FaultProxy, downstream: any Channel) {
        self.id = id
        self.proxy = proxy
        self.downstream = downstream
    }

    func clientRead(_ incoming: ByteBuffer) {
        guard !cut, let upstream else { return }
        if rawClient {
            upstream.writeAndFlush(incoming, promise: nil)
            return
        }
        var buffer = Self.append(incoming, to: &fromClient)
        defer { Self.keep(buffer, in: &fromClient) }
        var wrote = false
        while !cut {
            let start = buffer.readerIndex
            let unread = buffer
            let value: RESPValue?
            do {
                value = try decoder.next(from: &buffer)
            } catch {
                rawClient = true
                upstream.writeAndFlush(buffer, promise: nil)
                buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
                return
            }
            guard let value else { break }
            // `get…` reads only readable bytes, so the frame is sliced from the buffer as it was before decoding.
            let frame = unread.getSlice(at: start, length: buffer.readerIndex - start)!
            let words = (value.array ?? []).map { $0.string ?? "" }
            let decision = proxy.command(on: id, name: words.first?.uppercased() ?? "", arguments: Array(words.dropFirst()))
            switch decision {
            case .drop:
                continue
            case .forward:
                upstream.write(frame, promise: nil)
                wrote = true
            case .forwardThenSilence:
                if silentFromReply == nil { silentFromReply = commandsForwarded }
                upstream.write(frame, promise: nil)
                wrote = true
            case .forwardThenCutAfterReply:
                if cutAfterReply == nil { cutAfterReply = commandsForwarded }
                upstream.write(frame, promise: nil)
                wrote = true
            case .forwardThenCut:
                cut = true
                let downstream = self.downstream
                upstream.writeAndFlush(frame).whenComplete { _ in
                    upstream.close(promise: nil)
                    downstream?.close(promise: nil)
                }
                return
            }
            commandsForwarded += 1
        }
        if wrote { upstream.flush() }
    }

    func serverRead(_ incoming: ByteBuffer) {
        guard !cut, let downstream else { return }
        if rawServer {
            if silentFromReply == nil { downstream.writeAndFlush(incoming, promise: nil) }
            return
        }
        var buffer = Self.append(incoming, to: &fromServer)
        defer { Self.keep(buffer, in: &fromServer) }
        var forwarded = 0
        while true {
            let start = buffer.readerIndex
            let unread = buffer
            let value: RESPValue?
            do {
                value = try decoder.next(from: &buffer)
            } catch {
                rawServer = true
                if silentFromReply == nil { downstream.writeAndFlush(buffer, promise: nil) }
                buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
                break
            }
            guard let value else { break }
            // `get…` reads only readable bytes, so the frame is sliced from the buffer as it was before decoding.
            let frame = unread.getSlice(at: start, length: buffer.readerIndex - start)!
            var isPush = false
            if case .push = value { isPush = true }
            var silenced = false
            if let silentFromReply {
                silenced = isPush || repliesSeen >= silentFromReply
            }
            let index = repliesSeen
            if !isPush { repliesSeen += 1 }
            switch proxy.reply(on: id, isPush: isPush, silenced: silenced) {
            case .drop:
                continue
            case .forward where !isPush && index == cutAfterReply:
                // The reply and the close leave together, as from a server that exits right after answering.
                cut = true
                proxy.repliesForwarded(on: id, forwarded + 1)
                let upstream = self.upstream
                downstream.writeAndFlush(frame).whenComplete { _ in
                    downstream.close(promise: nil)
                    upstream?.close(promise: nil)
                }
                return
            case .forward(let delay):
                if delay > .zero || !delayed.isEmpty {
                    let earliest = NIODeadline.now() + FaultProxy.timeAmount(delay)
                    let deadline = max(earliest, delayed.last?.deadline ?? earliest)
                    delayed.append((deadline, frame))
                    armDelayTimer()
                } else {
                    downstream.write(frame, promise: nil)
                    forwarded += 1
                }
            }
        }
        if forwarded > 0 {
            downstream.flush()
            proxy.repliesForwarded(on: id, forwarded)
        }
    }

    private func armDelayTimer() {
        guard delayTimer == nil, let first = delayed.first, let downstream else { return }
        let loop = downstream.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        delayTimer = loop.scheduleTask(deadline: first.deadline) { bound.value.releaseDelayed() }
    }

    private func releaseDelayed() {
        delayTimer = nil
        guard let downstream, !cut else { return }
        let now = NIODeadline.now()
        var forwarded = 0
        while let first = delayed.first, first.deadline <= now {
            delayed.removeFirst()
            downstream.write(first.frame, promise: nil)
            forwarded += 1
        }
        if forwarded > 0 {
            downstream.flush()
            proxy.repliesForwarded(on: id, forwarded)
        }
        armDelayTimer()
    }

    /// Either side closed or failed: close the other, once.
    func sideClosed() {
        guard !closed else { return }
        closed = true
        delayTimer?.cancel()
        delayTimer = nil
        delayed.removeAll()
        downstream?.close(promise: nil)
        upstream?.close(promise: nil)
        downstream = nil
        upstream = nil
        proxy.connectionClosed(id)
    }

    private static func append(_ incoming: ByteBuffer, to pending: inout ByteBuffer?) -> ByteBuffer {
        guard var buffer = pending, buffer.readableBytes > 0 else { return incoming }
        pending = nil
        var incoming = incoming
        buffer.writeBuffer(&incoming)
        return buffer
    }

    private static func keep(_ buffer: ByteBuffer, in pending: inout ByteBuffer?) {
        if buffer.readableBytes > 0 {
            var buffer = buffer
            buffer.discardReadBytes()
            pending = buffer
        } else {
            pending = nil
        }
    }
}

/// The handler on each side of a proxied connection: hands reads and closes to the link.
private final class ProxySideHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    enum Side { case client, server }

    let link: ProxyLink
    let side: Side

    init(link: ProxyLink, side: Side) {
        self.link = link
        self.side = side
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        switch side {
        case .client: link.clientRead(buffer)
        case .server: link.serverRead(buffer)
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        // The server side closed between the accept and now: close the client's side too.
        if link.isClosed {
            context.close(promise: nil)
            return
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        link.sideClosed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

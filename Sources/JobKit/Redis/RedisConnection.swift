import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One connection to Redis that many tasks share at once.
///
/// Commands from concurrent callers are written as they come and flushed together once per event-loop
/// tick; replies are matched to callers in order (automatic pipelining). ``pipeline(_:)`` sends a batch
/// explicitly. If the connection breaks, every waiting caller gets `connectionClosed`, and the next
/// command reconnects, with exponential backoff and full jitter after failed attempts. After
/// ``RedisConfiguration/consecutiveTimeoutsBeforeRecycle`` commands in a row time out, the connection
/// treats its socket as dead (half-open) and recycles it the same way. A connection used for blocking
/// commands (`BZPOPMIN`, `BLMOVE`, `XREAD BLOCK`) should be dedicated to them: its blocked command holds
/// up every command behind it.
public final class RedisConnection: RedisCommandable, Sendable {
    struct Connected: Sendable {
        let channel: any Channel
        let handler: NIOLoopBound<RedisChannelHandler>
    }

    enum State {
        case idle(failures: Int, retryAt: NIODeadline?)
        case connecting(EventLoopFuture<Connected>)
        case connected(Connected)
        case closed
    }

    public let configuration: RedisConfiguration
    let eventLoop: any EventLoop
    private let state: Mutex<State>
    private let onPush: (@Sendable (RESPValue) -> Void)?
    private let pushOnly: Bool
    /// Runs after each (re)connect's handshake, before callers are let through (used by pub/sub).
    private let afterConnect: (@Sendable (Connected) -> Void)?

    /// Creates a connection; it connects lazily on first use.
    ///
    /// - Parameters:
    ///   - configuration: where and how to connect.
    ///   - eventLoop: the loop that runs this connection's I/O.
    public convenience init(
        configuration: RedisConfiguration,
        eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next()
    ) {
        self.init(configuration: configuration, eventLoop: eventLoop, onPush: nil, pushOnly: false, afterConnect: nil)
    }

    init(
        configuration: RedisConfiguration, eventLoop: any EventLoop,
        onPush: (@Sendable (RESPValue) -> Void)?, pushOnly: Bool, afterConnect: (@Sendable (Connected) -> Void)?
    ) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.state = Mutex(.idle(failures: 0, retryAt: nil))
        self.onPush = onPush
        self.pushOnly = pushOnly
        self.afterConnect = afterConnect
    }

    deinit {
        state.withLock { state in
            if case .connected(let c) = state { c.channel.close(promise: nil) }
        }
    }

    // MARK: Sending

    /// Sends one command and returns its reply.
    ///
    /// - Throws: `RedisError` — `serverError` for an error reply, `timeout`, `connectionClosed`.
    public func send(_ command: RedisCommand) async throws -> RESPValue {
        try await RedisMetrics.measure { try await send(command, timeout: configuration.commandTimeout) }
    }

    /// Sends one command with its own timeout (for blocking commands, longer than their block time).
    public func send(_ command: RedisCommand, timeout: Duration?) async throws -> RESPValue {
        let connected = try await connection()
        guard configuration.url.isSentinel else { return try await sendOnce(command, timeout: timeout, on: connected) }
        do {
            return try await sendOnce(command, timeout: timeout, on: connected)
        } catch let error as RedisError where error.code == .serverError && error.message.contains(Self.readOnlyText) {
            // The primary this connection reached was demoted by a failover: reconnect through the sentinels (unless
            // another command already did: never close the new channel).
            dropChannel(ifCurrent: connected.channel)
            throw error
        }
    }

    /// What a replica answers a write with, alone or inside a script's error.
    static let readOnlyText = "READONLY You can't write against a read only replica"

    private func sendOnce(_ command: RedisCommand, timeout: Duration?, on connected: Connected) async throws -> RESPValue {
        let deadline = timeout.map { NIODeadline.now() + $0.timeAmount }
        let bytes = command.bytes
        return try await withCheckedThrowingContinuation { continuation in
            if connected.channel.eventLoop.inEventLoop {
                connected.handler.value.enqueue(bytes, waiter: .single(continuation), deadline: deadline)
            } else {
                connected.channel.eventLoop.execute {
                    connected.handler.value.enqueue(bytes, waiter: .single(continuation), deadline: deadline)
                }
            }
        }
    }

    /// Sends a blocking command; if the calling task is cancelled, the connection is closed to unblock it.
    ///
    /// Use only on a connection dedicated to blocking commands.
    public func sendBlocking(_ command: RedisCommand, timeout: Duration?) async throws -> RESPValue {
        try await withTaskCancellationHandler {
            try Task.checkCancellation()
            return try await send(command, timeout: timeout)
        } onCancel: {
            self.dropChannel()
        }
    }

    /// Sends several commands in one write and returns their replies in order.
    ///
    /// A pipeline is a batch, not a transaction: other clients' commands may run between these. Error
    /// replies come back as `.error` values in place; they are not thrown.
    ///
    /// - Throws: `RedisError` — `timeout` or `connectionClosed` for the batch as a whole.
    public func pipeline(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        if commands.isEmpty { return [] }
        let connected = try await connection()
        let replies = try await RedisMetrics.measure { try await sendPipeline(commands, on: connected) }
        if configuration.url.isSentinel, replies.contains(where: { $0.isReadOnlyError }) { dropChannel(ifCurrent: connected.channel) }
        return replies
    }

    private func sendPipeline(_ commands: [RedisCommand], on connected: Connected) async throws -> [RESPValue] {
        let deadline = configuration.commandTimeout.map { NIODeadline.now() + $0.timeAmount }
        let buffers = commands.map(\.bytes)
        return try await withCheckedThrowingContinuation { continuation in
            connected.channel.eventLoop.execute {
                let collector = RedisChannelHandler.BatchCollector(count: buffers.count, continuation: continuation)
                connected.handler.value.enqueueBatch(buffers, collector: collector, deadline: deadline)
            }
        }
    }

    /// Writes `commands` now, in order behind every command already submitted on this connection, and
    /// returns a future for their replies: lets a caller prepare the next batch while Redis runs this one.
    func submit(_ commands: [RedisCommand]) async throws -> EventLoopFuture<[RESPValue]> {
        let connected = try await connection()
        let promise = connected.channel.eventLoop.makePromise(of: [RESPValue].self)
        let deadline = configuration.commandTimeout.map { NIODeadline.now() + $0.timeAmount }
        let buffers = commands.map(\.bytes)
        connected.channel.eventLoop.execute {
            let collector = RedisChannelHandler.BatchCollector(count: buffers.count) { promise.completeWith($0) }
            connected.handler.value.enqueueBatch(buffers, collector: collector, deadline: deadline)
        }
        guard configuration.url.isSentinel else { return promise.futureResult }
        return promise.futureResult.map { replies in
            if replies.contains(where: { $0.isReadOnlyError }) { self.dropChannel(ifCurrent: connected.channel) }
            return replies
        }
    }

    /// Writes a command whose replies arrive out of band (pub/sub `SUBSCRIBE`).
    func sendUnmatched(_ command: RedisCommand) async throws {
        let connected = try await connection()
        let bytes = command.bytes
        connected.channel.eventLoop.execute { connected.handler.value.writeUnmatched(bytes) }
    }

    /// Closes the connection for good; waiting and later callers get `connectionClosed`.
    public func close() async {
        let channel: (any Channel)? = state.withLock { state in
            defer { state = .closed }
            if case .connected(let c) = state { return c.channel }
            return nil
        }
        try? await channel?.close()
    }

    /// Closes the connection for good without waiting: pending and later commands fail with
    /// `connectionClosed` (unblocks a blocking command from synchronous code, such as a shutdown handler).
    public func closeNow() {
        let channel: (any Channel)? = state.withLock { state in
            defer { state = .closed }
            if case .connected(let c) = state { return c.channel }
            return nil
        }
        channel?.close(promise: nil)
    }

    /// Closes the current channel without closing the connection: the next command reconnects.
    func dropChannel() {
        dropChannel(ifCurrent: nil)
    }

    /// ``dropChannel()``, but only while `expected` (when given) is still the current channel.
    func dropChannel(ifCurrent expected: (any Channel)?) {
        let channel: (any Channel)? = state.withLock { state in
            if case .connected(let c) = state, expected == nil || c.channel === expected {
                state = .idle(failures: 0, retryAt: nil)
                return c.channel
            }
            return nil
        }
        channel?.close(promise: nil)
    }

    /// True while a channel is open.
    public var isConnected: Bool {
        state.withLock { if case .connected = $0 { return true } else { return false } }
    }

    // MARK: Connecting

    func connection() async throws -> Connected {
        enum Next {
            case ready(Connected)
            case wait(EventLoopFuture<Connected>)
            case closed
        }
        let next: Next = state.withLock { state in
            switch state {
            case .connected(let c):
                return .ready(c)
            case .connecting(let f):
                return .wait(f)
            case .closed:
                return .closed
            case .idle(let failures, let retryAt):
                let future = self.startConnect(failures: failures, retryAt: retryAt)
                state = .connecting(future)
                return .wait(future)
            }
        }
        switch next {
        case .ready(let c): return c
        case .closed: throw RedisError(.connectionClosed, "connection was closed by the client")
        case .wait(let future): return try await future.get()
        }
    }

    private func startConnect(failures: Int, retryAt: NIODeadline?) -> EventLoopFuture<Connected> {
        let start: EventLoopFuture<Void>
        if let retryAt, retryAt > .now() {
            start = eventLoop.scheduleTask(deadline: retryAt) {}.futureResult
        } else {
            start = eventLoop.makeSucceededVoidFuture()
        }
        let future = start.flatMap { self.resolveEndpoint(attempt: failures) }.flatMap { self.openChannel(endpoint: $0) }.flatMap { connected in
            self.handshake(connected).map { connected }
        }.flatMapThrowing { connected in
            // A server can close the connection right after answering the handshake (a Redis shutting down still
            // serves its backlog). The handshake's reply reaches this loop through a task, so the close may have
            // been handled first, while this connection was still connecting: it never saw it. Without this
            // check the connection would keep a closed channel as its current one, and every later command would
            // fail on it. (Runs on the channel's loop, so no close can slip in before the state is set.)
            guard connected.channel.isActive else {
                throw RedisError(.connectionClosed, "connection closed by the server right after the handshake")
            }
            return connected
        }
        future.whenComplete { result in
            let lateChannel: (any Channel)? = self.state.withLock { state in
                guard case .connecting = state else {
                    // Closed while connecting: don't keep the channel.
                    if case .success(let c) = result { return c.channel }
                    return nil
                }
                switch result {
                case .success(let c):
                    state = .connected(c)
                case .failure:
                    var generator = SystemRandomNumberGenerator()
                    let delay = Self.reconnectDelay(
                        afterFailures: failures + 1, minimum: self.configuration.minimumReconnectDelay,
                        maximum: self.configuration.maximumReconnectDelay, using: &generator)
                    state = .idle(failures: failures + 1, retryAt: .now() + delay.timeAmount)
                }
                return nil
            }
            lateChannel?.close(promise: nil)
            switch result {
            case .success(let c):
                if failures > 0 {
                    self.configuration.logger.info(
                        "Redis reconnected", metadata: ["redis.endpoint": "\(self.configuration.url)"])
                }
                self.afterConnect?(c)
            case .failure(let error):
                self.configuration.logger.debug(
                    "Redis connect failed",
                    metadata: ["redis.endpoint": "\(self.configuration.url)", "error": "\(error)"])
            }
        }
        return future
    }

    /// The wait before the next connect attempt after `failures` failed attempts in a row: exponential
    /// backoff with full jitter, a uniformly random time in `0 ... min(maximum, minimum × 2^(failures − 1))`.
    ///
    /// The jitter spreads the reconnects of many clients that lost the same server, so they don't arrive
    /// together; the cap bounds the wait however long the outage lasts.
    static func reconnectDelay(
        afterFailures failures: Int, minimum: Duration, maximum: Duration,
        using generator: inout some RandomNumberGenerator
    ) -> Duration {
        let base = max(0, minimum.timeAmount.nanoseconds)
        let cap = max(0, maximum.timeAmount.nanoseconds)
        let shift = min(max(failures - 1, 0), 62)
        let (grown, overflow) = base.multipliedReportingOverflow(by: Int64(1) << shift)
        let ceiling = overflow ? cap : min(cap, grown)
        guard ceiling > 0 else { return .zero }
        return .nanoseconds(Int64.random(in: 0...ceiling, using: &generator))
    }

    /// Where the `attempt`-th connect in a row goes: the URL's server, a cluster's seeds in turn, or the primary
    /// the sentinels name now.
    private func resolveEndpoint(attempt: Int) -> EventLoopFuture<RedisURL.Endpoint> {
        guard configuration.url.isSentinel else {
            return eventLoop.makeSucceededFuture(configuration.url.endpoint(forAttempt: attempt))
        }
        let configuration = self.configuration
        let eventLoop = self.eventLoop
        return eventLoop.makeFutureWithTask {
            try await RedisSentinel.primary(of: configuration, attempt: attempt, eventLoop: eventLoop)
        }
    }

    private func openChannel(endpoint: RedisURL.Endpoint) -> EventLoopFuture<Connected> {
        let configuration = self.configuration
        let onPush = self.onPush
        let eventLoop = self.eventLoop
        let sslContext: NIOSSLContext?
        var hostname: String?
        if let tls = configuration.url.tls {
            do {
                sslContext = try Self.makeSSLContext(tls)
                if case .tcp(let host, _) = endpoint, !host.isIPAddress {
                    hostname = host
                }
            } catch {
                return eventLoop.makeFailedFuture(
                    RedisError(.tls, "TLS configuration failed: \(error)", underlying: error))
            }
        } else {
            sslContext = nil
        }
        let serverHostname = hostname
        let recycleAfterTimeouts = configuration.consecutiveTimeoutsBeforeRecycle
        var bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.connectTimeout.timeAmount)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
        if case .tcp = endpoint, let keepAlive = configuration.tcpKeepAlive {
            bootstrap = Self.enableKeepAlive(keepAlive, on: bootstrap)
        }
        bootstrap = bootstrap
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        let tlsHandler = try NIOSSLClientHandler(context: sslContext, serverHostname: serverHostname)
                        try channel.pipeline.syncOperations.addHandler(tlsHandler)
                    }
                    let handler = RedisChannelHandler(
                        decoder: RESPDecoder(limits: configuration.decoderLimits), onPush: onPush,
                        recycleAfterTimeouts: recycleAfterTimeouts)
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
        let connect: EventLoopFuture<any Channel>
        switch endpoint {
        case .tcp(let host, let port):
            connect = bootstrap.connect(host: host, port: port)
        case .unixSocket(let path):
            connect = bootstrap.connect(unixDomainSocketPath: path)
        }
        return connect.flatMapErrorThrowing { error in
            throw error as? RedisError
                ?? RedisError(.connectionClosed, "cannot connect to \(configuration.url): \(error)", underlying: error)
        }.flatMapThrowing { channel in
            let handler = try channel.pipeline.syncOperations.handler(type: RedisChannelHandler.self)
            handler.onClose = { [weak self] _, reason in self?.channelClosed(channel, reason: reason) }
            return Connected(channel: channel, handler: NIOLoopBound(handler, eventLoop: channel.eventLoop))
        }
    }

    private func channelClosed(_ channel: any Channel, reason: RedisChannelHandler.SelfClose?) {
        state.withLock { state in
            if case .connected(let c) = state, c.channel === channel {
                state = .idle(failures: 0, retryAt: nil)
            }
        }
        switch reason {
        case .consecutiveTimeouts(let count):
            configuration.logger.info(
                "Redis connection recycled after consecutive timeouts",
                metadata: ["redis.endpoint": "\(configuration.url)", "redis.timeouts": "\(count)"])
        case .pingUnanswered:
            configuration.logger.info(
                "Redis connection unresponsive to PING, closed",
                metadata: ["redis.endpoint": "\(configuration.url)"])
        case nil:
            configuration.logger.debug(
                "Redis connection closed", metadata: ["redis.endpoint": "\(configuration.url)"])
        }
    }

    /// `SO_KEEPALIVE`, and the probe timings where the platform has the options.
    private static func enableKeepAlive(_ keepAlive: RedisConfiguration.TCPKeepAlive, on bootstrap: ClientBootstrap)
        -> ClientBootstrap
    {
        func seconds(_ d: Duration) -> SocketOptionValue { SocketOptionValue(clamping: max(1, d.components.seconds)) }
        var bootstrap = bootstrap.channelOption(.socketOption(.so_keepalive), value: 1)
        #if canImport(Glibc) || canImport(Musl)
        let idleOption = NIOBSDSocket.Option(rawValue: CInt(TCP_KEEPIDLE))
        #elseif canImport(Darwin)
        let idleOption = NIOBSDSocket.Option(rawValue: CInt(TCP_KEEPALIVE))
        #endif
        #if canImport(Glibc) || canImport(Musl) || canImport(Darwin)
        bootstrap = bootstrap
            .channelOption(.tcpOption(idleOption), value: seconds(keepAlive.idle))
            .channelOption(
                .tcpOption(NIOBSDSocket.Option(rawValue: CInt(TCP_KEEPINTVL))), value: seconds(keepAlive.interval))
            .channelOption(
                .tcpOption(NIOBSDSocket.Option(rawValue: CInt(TCP_KEEPCNT))),
                value: SocketOptionValue(clamping: max(1, keepAlive.count)))
        #endif
        return bootstrap
    }

    /// AUTH / HELLO, SELECT and CLIENT SETNAME, pipelined, before any caller's command.
    private func handshake(_ connected: Connected) -> EventLoopFuture<Void> {
        let configuration = self.configuration
        let url = configuration.url
        var handshakeCommands: [RedisCommand] = []
        if configuration.protocolVersion == 3 {
            var args: [String] = ["3"]
            if let password = url.password {
                args += ["AUTH", url.username ?? "default", password]
            }
            if let name = configuration.clientName { args += ["SETNAME", name] }
            handshakeCommands.append(RedisCommand("HELLO", strings: args))
        } else {
            if let password = url.password {
                if let user = url.username {
                    handshakeCommands.append(RedisCommand("AUTH", strings: [user, password]))
                } else {
                    handshakeCommands.append(RedisCommand("AUTH", strings: [password]))
                }
            }
            if let name = configuration.clientName {
                handshakeCommands.append(RedisCommand("CLIENT", strings: ["SETNAME", name]))
            }
        }
        if url.database != 0 { handshakeCommands.append(RedisCommand("SELECT", url.database)) }
        if configuration.readOnlyReplica { handshakeCommands.append(RedisCommand("READONLY")) }
        if pushOnly {
            handshakeCommands.append(RedisCommand("PING"))
        }
        // Through Sentinel: the node must still be the primary (a demoted one answers `slave`).
        let checkRole = url.isSentinel
        if checkRole { handshakeCommands.append(RedisCommand("ROLE")) }
        let commands = handshakeCommands
        if commands.isEmpty { return connected.channel.eventLoop.makeSucceededVoidFuture() }
        let promise = connected.channel.eventLoop.makePromise(of: [RESPValue].self)
        let deadline = NIODeadline.now() + configuration.connectTimeout.timeAmount
        let buffers = commands.map(\.bytes)
        promise.completeWithTask {
            try await withCheckedThrowingContinuation { continuation in
                connected.channel.eventLoop.execute {
                    let collector = RedisChannelHandler.BatchCollector(count: buffers.count, continuation: continuation)
                    connected.handler.value.enqueueBatch(buffers, collector: collector, deadline: deadline)
                }
            }
        }
        return promise.futureResult.flatMapThrowing { replies in
            for (command, reply) in zip(commands, replies) {
                guard case .error(let text) = reply, !(checkRole && command.name == "ROLE") else { continue }
                let message = String(buffer: text)
                connected.channel.close(promise: nil)
                if command.name == "AUTH" || (command.name == "HELLO" && url.password != nil)
                    || message.hasPrefix("WRONGPASS") || message.hasPrefix("NOAUTH")
                {
                    throw RedisError(.authenticationFailed, message)
                }
                throw RedisError(.serverError, message)
            }
            // A user without `@dangerous` may not run ROLE (NOPERM): then READONLY replies alone find a demoted primary.
            if checkRole, let role = replies.last, !role.isNoPermission, role.array?.first?.string != "master" {
                connected.channel.close(promise: nil)
                throw RedisError(.connectionClosed, "the node Sentinel named is not a primary (yet): failover in progress")
            }
            if self.pushOnly {
                let handler = connected.handler.value
                handler.pushOnly = true
                if let interval = configuration.subscriberPingInterval {
                    handler.startPinging(
                        interval: interval.timeAmount, timeout: configuration.subscriberPingTimeout.timeAmount)
                }
            }
        }.flatMapErrorThrowing { error in
            connected.channel.close(promise: nil)
            throw error
        }
    }

    static func makeSSLContext(_ tls: RedisURL.TLS) throws -> NIOSSLContext {
        var config = TLSConfiguration.makeClientConfiguration()
        if let ca = tls.caFile {
            config.trustRoots = .file(ca)
        }
        if let cert = tls.certificateFile, let key = tls.privateKeyFile {
            config.certificateChain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }
            config.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
        }
        if tls.insecureSkipVerify {
            config.certificateVerification = .none
        }
        return try NIOSSLContext(configuration: config)
    }
}

extension String {
    var isIPAddress: Bool {
        if contains(":") { return true }
        let parts = split(separator: ".")
        return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
    }
}

extension RESPValue {
    /// A `READONLY` error reply, also from inside a script: the node is a replica.
    var isReadOnlyError: Bool {
        if case .error(let text) = self { return String(buffer: text).contains(RedisConnection.readOnlyText) }
        return false
    }
}

extension RESPValue {
    /// A `NOPERM` error reply: the user's ACL forbids the command.
    var isNoPermission: Bool {
        if case .error(let text) = self { return text.readableBytesView.starts(with: "NOPERM".utf8) }
        return false
    }
}

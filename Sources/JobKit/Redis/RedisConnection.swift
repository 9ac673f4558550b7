import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// One connection to Redis that many tasks share at once.
///
/// Commands from concurrent callers are written as they come and flushed together once per event-loop
/// tick; replies are matched to callers in order (automatic pipelining). ``pipeline(_:)`` sends a batch
/// explicitly. If the connection breaks, every waiting caller gets `connectionClosed`, and the next
/// command reconnects, with exponential backoff after failed attempts. A connection used for blocking
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
        try await send(command, timeout: configuration.commandTimeout)
    }

    /// Sends one command with its own timeout (for blocking commands, longer than their block time).
    public func send(_ command: RedisCommand, timeout: Duration?) async throws -> RESPValue {
        let connected = try await connection()
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
        return promise.futureResult
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
        let channel: (any Channel)? = state.withLock { state in
            if case .connected(let c) = state {
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
        let future = start.flatMap { self.openChannel() }.flatMap { connected in
            self.handshake(connected).map { connected }
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
                    let delay = self.backoff(failures: failures + 1)
                    state = .idle(failures: failures + 1, retryAt: .now() + delay)
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

    private func backoff(failures: Int) -> TimeAmount {
        let minimum = configuration.minimumReconnectDelay.timeAmount.nanoseconds
        let maximum = configuration.maximumReconnectDelay.timeAmount.nanoseconds
        let shift = min(failures - 1, 20)
        return .nanoseconds(min(maximum, minimum << shift))
    }

    private func openChannel() -> EventLoopFuture<Connected> {
        let configuration = self.configuration
        let onPush = self.onPush
        let eventLoop = self.eventLoop
        let sslContext: NIOSSLContext?
        var hostname: String?
        if let tls = configuration.url.tls {
            do {
                sslContext = try Self.makeSSLContext(tls)
                if case .tcp(let host, _) = configuration.url.endpoint, !host.isIPAddress {
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
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.connectTimeout.timeAmount)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        let tlsHandler = try NIOSSLClientHandler(context: sslContext, serverHostname: serverHostname)
                        try channel.pipeline.syncOperations.addHandler(tlsHandler)
                    }
                    let handler = RedisChannelHandler(
                        decoder: RESPDecoder(limits: configuration.decoderLimits), onPush: onPush)
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
        let connect: EventLoopFuture<any Channel>
        switch configuration.url.endpoint {
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
            handler.onClose = { [weak self] _ in self?.channelClosed(channel) }
            return Connected(channel: channel, handler: NIOLoopBound(handler, eventLoop: channel.eventLoop))
        }
    }

    private func channelClosed(_ channel: any Channel) {
        state.withLock { state in
            if case .connected(let c) = state, c.channel === channel {
                state = .idle(failures: 0, retryAt: nil)
            }
        }
        configuration.logger.debug("Redis connection closed", metadata: ["redis.endpoint": "\(configuration.url)"])
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
        if pushOnly {
            handshakeCommands.append(RedisCommand("PING"))
        }
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
                guard case .error(let text) = reply else { continue }
                let message = String(buffer: text)
                connected.channel.close(promise: nil)
                if command.name == "AUTH" || (command.name == "HELLO" && url.password != nil)
                    || message.hasPrefix("WRONGPASS") || message.hasPrefix("NOAUTH")
                {
                    throw RedisError(.authenticationFailed, message)
                }
                throw RedisError(.serverError, message)
            }
            if self.pushOnly { connected.handler.value.pushOnly = true }
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

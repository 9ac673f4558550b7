import Logging
import NIOCore

/// How ``RedisConnection``s and ``RedisPool``s connect and behave.
public struct RedisConfiguration: Sendable {
    /// The server, credentials, database and TLS settings.
    public var url: RedisURL
    /// `CLIENT SETNAME` value, so that `CLIENT LIST` shows who is connected.
    public var clientName: String?
    /// The wire protocol: 2 (default, works everywhere) or 3 (`HELLO 3`).
    public var protocolVersion: Int = 2
    /// How long one command may wait for its reply before failing with `timeout`; `nil` waits forever.
    public var commandTimeout: Duration? = .seconds(10)
    /// How long a TCP/TLS connect and handshake may take.
    public var connectTimeout: Duration = .seconds(5)
    /// The base of the reconnect backoff: after the n-th failed connect in a row, the next attempt waits a
    /// random time between 0 and `minimumReconnectDelay × 2ⁿ⁻¹`, capped at ``maximumReconnectDelay``
    /// (exponential backoff with full jitter, so many clients that lost the same server don't reconnect in
    /// step).
    public var minimumReconnectDelay: Duration = .milliseconds(50)
    /// The cap of the reconnect backoff: no attempt waits longer than this.
    public var maximumReconnectDelay: Duration = .seconds(2)
    /// After this many commands in a row time out with no reply arriving in between, the connection closes
    /// its socket, fails the commands still waiting with `connectionClosed`, and the next command
    /// reconnects. A half-open socket (a dead peer, a dropped NAT entry) otherwise stalls every command on
    /// it until TCP gives up, which takes minutes. Any reply, even a late one, resets the count. `0` turns
    /// recycling off.
    public var consecutiveTimeoutsBeforeRecycle: Int = 2
    /// TCP keepalive probes on the socket (`SO_KEEPALIVE`, with these timings where the platform allows);
    /// `nil` turns keepalive off. Unix-socket connections ignore it.
    public var tcpKeepAlive: TCPKeepAlive? = TCPKeepAlive()
    /// How often a ``RedisSubscriber`` sends `PING` on its connection; `nil` never does. A subscribed
    /// connection otherwise receives only what is published, so silence can't tell a quiet channel from a
    /// dead socket.
    public var subscriberPingInterval: Duration? = .seconds(5)
    /// How long a ``RedisSubscriber`` waits for any frame after its `PING` before it closes the connection,
    /// reconnects and subscribes again.
    public var subscriberPingTimeout: Duration = .seconds(5)
    /// Sends `READONLY` in the handshake: the connection goes to a cluster replica and reads its primary's
    /// slots there (set by the cluster client for its replica pools).
    var readOnlyReplica = false
    /// Decoder bounds for replies.
    public var decoderLimits = RESPDecoder.Limits()
    /// Logs connects, reconnects and failures (never credentials or arguments).
    public var logger: Logger

    public init(url: RedisURL, clientName: String? = nil, logger: Logger = Logger(label: "jobkit.redis")) {
        self.url = url
        self.clientName = clientName
        self.logger = logger
    }

    /// Parses `url` and builds a configuration with defaults.
    public init(url: String, clientName: String? = nil, logger: Logger = Logger(label: "jobkit.redis")) throws {
        self.init(url: try RedisURL(url), clientName: clientName, logger: logger)
    }
}

extension RedisConfiguration {
    /// TCP keepalive settings: after ``idle`` without traffic, the kernel sends a probe every ``interval``,
    /// and closes the socket after ``count`` unanswered probes (about 60 s in all with the defaults).
    ///
    /// Keepalive finds a dead peer on an idle connection; a connection with commands in flight relies on
    /// ``RedisConfiguration/consecutiveTimeoutsBeforeRecycle`` instead.
    public struct TCPKeepAlive: Sendable, Hashable {
        /// Idle time before the first probe (`TCP_KEEPIDLE`; `TCP_KEEPALIVE` on Darwin), whole seconds.
        public var idle: Duration
        /// Time between probes (`TCP_KEEPINTVL`), whole seconds.
        public var interval: Duration
        /// Unanswered probes before the socket is closed (`TCP_KEEPCNT`).
        public var count: Int

        /// Keepalive timings; the defaults detect a dead idle peer in about 60 s.
        public init(idle: Duration = .seconds(30), interval: Duration = .seconds(10), count: Int = 3) {
            self.idle = idle
            self.interval = interval
            self.count = count
        }
    }
}

extension Duration {
    /// The same span as NIO's `TimeAmount` (nanoseconds).
    public var timeAmount: TimeAmount {
        let (s, atto) = components
        return .nanoseconds(s * 1_000_000_000 + atto / 1_000_000_000)
    }
}

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
    /// First delay before reconnecting after a failed connect; doubles up to ``maximumReconnectDelay``.
    public var minimumReconnectDelay: Duration = .milliseconds(50)
    public var maximumReconnectDelay: Duration = .seconds(2)
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

extension Duration {
    var timeAmount: TimeAmount {
        let (s, atto) = components
        return .nanoseconds(s * 1_000_000_000 + atto / 1_000_000_000)
    }
}

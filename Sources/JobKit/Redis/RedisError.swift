/// An error from the Redis layer.
///
/// `description` is safe to log: it never contains passwords, payloads or command arguments.
public struct RedisError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What kind of failure happened. A struct over a private enum so that new codes don't break the API.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        enum Base: String, Sendable {
            case serverError, connectionClosed, timeout, protocolViolation, authenticationFailed,
                invalidURL, tls, unexpectedReply
        }
        let base: Base
        /// The server answered with an error reply (`-ERR ...`); `message` holds the server's text.
        public static let serverError = Code(base: .serverError)
        /// The connection closed or could not be established; pending commands may or may not have run.
        public static let connectionClosed = Code(base: .connectionClosed)
        /// The command got no reply within its timeout.
        public static let timeout = Code(base: .timeout)
        /// The server sent bytes that are not valid RESP, or exceeded a decoder limit.
        public static let protocolViolation = Code(base: .protocolViolation)
        /// `AUTH` or `HELLO ... AUTH` was refused.
        public static let authenticationFailed = Code(base: .authenticationFailed)
        /// A Redis URL could not be parsed.
        public static let invalidURL = Code(base: .invalidURL)
        /// TLS could not be configured or negotiated.
        public static let tls = Code(base: .tls)
        /// The reply had a type the caller did not expect.
        public static let unexpectedReply = Code(base: .unexpectedReply)
        public var description: String { base.rawValue }
    }

    /// The kind of failure.
    public var code: Code
    /// What happened, in words safe to log.
    public var message: String
    /// The error underneath, if any (its description is not included in ``description``).
    public var underlying: (any Error)?
    public var file: String
    public var line: Int

    public init(
        _ code: Code, _ message: String, underlying: (any Error)? = nil,
        file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.underlying = underlying
        self.file = file
        self.line = line
    }

    public var description: String { "Redis \(code): \(message)" }

    /// For a server error, the first word of the server's text (`ERR`, `NOSCRIPT`, `WRONGTYPE`, ...).
    public var serverErrorPrefix: Substring? {
        guard code == .serverError else { return nil }
        return message.split(separator: " ", maxSplits: 1).first
    }

    public static func == (lhs: RedisError, rhs: RedisError) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message
    }
}

extension RedisError {
    /// A failure after which a cluster client's slot map may be stale: the node is unreachable or answered as
    /// one that no longer serves the slot.
    var suggestsStaleClusterMap: Bool {
        switch code {
        case .connectionClosed, .timeout: return true
        case .serverError:
            return ["MOVED ", "ASK ", "TRYAGAIN", "CLUSTERDOWN", "READONLY"].contains { message.hasPrefix($0) }
        default: return false
        }
    }
}

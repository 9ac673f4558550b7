/// An error from enqueuing or inspecting jobs.
public struct QueueError: Error, Sendable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        enum Base: String, Sendable {
            case payloadTooLarge, invalidOptions, encodingFailed, jobNotFound, jobFailed, jobCanceled, timeout,
                unknownQueue, invalidState, unsupportedRedis, notReplicated
        }
        let base: Base
        /// The encoded payload is larger than the configured maximum; nothing was enqueued.
        public static let payloadTooLarge = Code(base: .payloadTooLarge)
        /// An enqueue option is out of range (priority, attempts, delays, timeout, idempotency key or TTL,
        /// backoff, name); nothing was enqueued.
        public static let invalidOptions = Code(base: .invalidOptions)
        /// The payload could not be encoded to JSON.
        public static let encodingFailed = Code(base: .encodingFailed)
        /// No job with that id exists (it may have been removed by retention).
        public static let jobNotFound = Code(base: .jobNotFound)
        /// The job ended `dead`; `message` holds its last error.
        public static let jobFailed = Code(base: .jobFailed)
        /// The job ended `canceled`.
        public static let jobCanceled = Code(base: .jobCanceled)
        /// Waiting for a result took longer than allowed.
        public static let timeout = Code(base: .timeout)
        /// The queue has never been used.
        public static let unknownQueue = Code(base: .unknownQueue)
        /// The job is not in a state that allows the operation.
        public static let invalidState = Code(base: .invalidState)
        /// The Redis server is older than ``RedisRequirements/minimumVersion`` (or hides its version).
        public static let unsupportedRedis = Code(base: .unsupportedRedis)
        /// The jobs were written, but fewer replicas than ``JobQueue/ReplicaAcknowledgement`` asks for confirmed
        /// them in time: a failover now could lose them. Enqueue again under the same idempotency key.
        public static let notReplicated = Code(base: .notReplicated)
        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String
    public var underlying: (any Error)?
    public var file: String
    public var line: Int

    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.underlying = underlying
        self.file = file
        self.line = line
    }

    public var description: String { message }
}

import NIOCore

/// A value that can be one argument of a Redis command.
public protocol RESPArgument: Sendable {
    /// Appends the argument as a RESP bulk string.
    func writeBulk(into buffer: inout ByteBuffer)
}

extension String: RESPArgument {
    @inlinable
    public func writeBulk(into buffer: inout ByteBuffer) {
        var s = self
        s.withUTF8 { utf8 in
            buffer.writeInteger(UInt8(ascii: "$"))
            buffer.writeDecimal(Int64(utf8.count))
            buffer.writeCRLF()
            buffer.writeBytes(UnsafeRawBufferPointer(utf8))
            buffer.writeCRLF()
        }
    }
}

extension Substring: RESPArgument {
    public func writeBulk(into buffer: inout ByteBuffer) { String(self).writeBulk(into: &buffer) }
}

extension ByteBuffer: RESPArgument {
    public func writeBulk(into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "$"))
        buffer.writeDecimal(Int64(readableBytes))
        buffer.writeCRLF()
        buffer.writeImmutableBuffer(self)
        buffer.writeCRLF()
    }
}

extension Array: RESPArgument where Element == UInt8 {
    public func writeBulk(into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "$"))
        buffer.writeDecimal(Int64(count))
        buffer.writeCRLF()
        buffer.writeBytes(self)
        buffer.writeCRLF()
    }
}

extension Int: RESPArgument {
    @inlinable
    public func writeBulk(into buffer: inout ByteBuffer) {
        var n = magnitude
        var length = self < 0 ? 1 : 0
        repeat {
            length += 1
            n /= 10
        } while n > 0
        buffer.writeInteger(UInt8(ascii: "$"))
        buffer.writeDecimal(Int64(length))
        buffer.writeCRLF()
        buffer.writeDecimal(Int64(self))
        buffer.writeCRLF()
    }
}

extension Int64: RESPArgument {
    public func writeBulk(into buffer: inout ByteBuffer) { Int(self).writeBulk(into: &buffer) }
}

extension Double: RESPArgument {
    public func writeBulk(into buffer: inout ByteBuffer) {
        if isInfinite {
            (self < 0 ? "-inf" : "+inf").writeBulk(into: &buffer)
        } else if self == rounded(.towardZero), abs(self) < 1e15 {
            Int(self).writeBulk(into: &buffer)
        } else {
            String(self).writeBulk(into: &buffer)
        }
    }
}

/// One encoded Redis command, ready to write.
///
/// The arguments are encoded when the command is built, on the caller's task, so the event loop only
/// copies bytes. `name` is the command word, for logs and metrics; arguments are never logged.
public struct RedisCommand: Sendable {
    /// The command word (`GET`, `EVALSHA`, ...).
    public let name: String
    /// The encoded command: a RESP array of bulk strings.
    public var bytes: ByteBuffer

    /// Encodes a command from its word and arguments.
    public init(_ name: String, _ arguments: any RESPArgument...) {
        self.init(name, arguments: arguments)
    }

    /// Encodes a command from its word and an array of arguments.
    public init(_ name: String, arguments: [any RESPArgument]) {
        self.name = name
        var buffer = ByteBufferAllocator().buffer(capacity: 32 + arguments.count * 24)
        buffer.writeInteger(UInt8(ascii: "*"))
        buffer.writeDecimal(Int64(arguments.count + 1))
        buffer.writeCRLF()
        name.writeBulk(into: &buffer)
        for argument in arguments { argument.writeBulk(into: &buffer) }
        self.bytes = buffer
    }

    /// Encodes a command whose arguments are all strings (the fast path for the common case).
    public init(_ name: String, strings: [String]) {
        self.name = name
        var buffer = ByteBufferAllocator().buffer(capacity: 32 + strings.count * 24)
        buffer.writeInteger(UInt8(ascii: "*"))
        buffer.writeDecimal(Int64(strings.count + 1))
        buffer.writeCRLF()
        name.writeBulk(into: &buffer)
        for argument in strings { argument.writeBulk(into: &buffer) }
        self.bytes = buffer
    }

    /// Whether a cluster client with ``RedisURL/readFromReplicas`` on may send this command to a replica
    /// (``allowingReplica()``).
    public private(set) var allowsReplica = false

    /// This command, marked as a read whose answer may be a moment stale: on a cluster whose URL says
    /// `read_from_replicas=true` it goes to a replica of its slot's primary. Only read-only command words are
    /// ever sent to a replica (``isReplicaReadable``); a write marked by mistake still goes to the primary.
    public func allowingReplica() -> RedisCommand {
        var command = self
        command.allowsReplica = true
        return command
    }

    /// Read-only command words a replica in `READONLY` mode answers for its primary's slots.
    static let replicaReadableNames: Set<String> = [
        "GET", "MGET", "STRLEN", "EXISTS", "TYPE", "TTL", "PTTL", "HGET", "HMGET", "HGETALL", "HLEN", "HEXISTS", "HKEYS", "HVALS",
        "LLEN", "LRANGE", "LINDEX", "SCARD", "SMEMBERS", "SISMEMBER", "SMISMEMBER", "ZCARD", "ZCOUNT", "ZSCORE", "ZMSCORE", "ZRANK",
        "ZREVRANK", "ZRANGE", "ZREVRANGE", "ZRANGEBYSCORE", "ZREVRANGEBYSCORE", "XLEN", "XRANGE", "XREVRANGE", "PFCOUNT",
    ]

    /// Marked ``allowingReplica()`` and a read-only command word.
    var isReplicaReadable: Bool { allowsReplica && Self.replicaReadableNames.contains(name.uppercased()) }
}


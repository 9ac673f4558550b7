import NIOCore

/// An incremental RESP2/RESP3 decoder.
///
/// ``next(from:)`` takes one complete value off the front of a buffer, or returns `nil` and leaves the
/// buffer untouched when the value is not complete yet, so a reply split at any byte boundary decodes the
/// same. Hostile or corrupt input never crashes or allocates without bound: lengths, nesting depth and
/// line lengths are checked against ``Limits`` and turn into `RedisError.Code.protocolViolation`.
public struct RESPDecoder: Sendable {
    /// Bounds that keep a corrupt or hostile stream from exhausting memory or the stack.
    public struct Limits: Sendable, Hashable {
        /// The largest bulk string accepted, in bytes (Redis's own `proto-max-bulk-len` default is 512 MiB).
        public var maxBulkLength: Int = 512 * 1024 * 1024
        /// The deepest nesting of aggregates accepted.
        public var maxDepth: Int = 32
        /// The largest element count of one array, set, map or push.
        public var maxAggregateLength: Int = 16_777_216
        /// The longest simple line (`+`, `-`, `:`, `,` ...) accepted, in bytes.
        public var maxLineLength: Int = 64 * 1024
        public init() {}
    }

    public var limits: Limits

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Decodes one value from the front of `buffer`.
    ///
    /// - Returns: the value, with its bytes consumed, or `nil` (buffer untouched) if more bytes are needed.
    /// - Throws: `RedisError` with code `protocolViolation` when the bytes are not valid RESP or break a limit.
    public func next(from buffer: inout ByteBuffer) throws -> RESPValue? {
        let start = buffer.readerIndex
        let end = buffer.writerIndex
        guard start < end else { return nil }
        var parser = Parser(buffer: buffer, index: start, end: end, limits: limits)
        guard let value = try parser.value(depth: 0) else { return nil }
        buffer.moveReaderIndex(to: parser.index)
        return value
    }
}

private struct Parser {
    let buffer: ByteBuffer
    var index: Int
    let end: Int
    let limits: RESPDecoder.Limits

    init(buffer: ByteBuffer, index: Int, end: Int, limits: RESPDecoder.Limits) {
        self.buffer = buffer
        self.index = index
        self.end = end
        self.limits = limits
    }

    static func violation(_ message: String) -> RedisError {
        RedisError(.protocolViolation, message)
    }

    /// Finds the next CRLF-terminated line from `index`; returns its bounds without the CRLF.
    mutating func line() throws -> Range<Int>? {
        let lineStart = index
        let searchEnd = min(end, lineStart + limits.maxLineLength + 2)
        let found: Int? = buffer.withUnsafeReadableBytes { raw -> Int? in
            let base = buffer.readerIndex
            var i = lineStart - base
            let stop = searchEnd - base
            while i < stop {
                if raw[i] == UInt8(ascii: "\r") {
                    return i + base
                }
                i += 1
            }
            return nil
        }
        guard let cr = found else {
            if end - lineStart > limits.maxLineLength + 1 {
                throw Self.violation("line longer than \(limits.maxLineLength) bytes")
            }
            return nil
        }
        guard cr + 1 < end else { return nil }
        guard buffer.getInteger(at: cr + 1, as: UInt8.self) == UInt8(ascii: "\n") else {
            throw Self.violation("CR not followed by LF")
        }
        index = cr + 2
        return lineStart..<cr
    }

    func integer(in range: Range<Int>) throws -> Int64 {
        guard !range.isEmpty else { throw Self.violation("empty integer") }
        return try buffer.withUnsafeReadableBytes { raw -> Int64 in
            let base = buffer.readerIndex
            var i = range.lowerBound - base
            let stop = range.upperBound - base
            var negative = false
            if raw[i] == UInt8(ascii: "-") {
                negative = true
                i += 1
            } else if raw[i] == UInt8(ascii: "+") {
                i += 1
            }
            guard i < stop else { throw Self.violation("integer without digits") }
            var value: Int64 = 0
            while i < stop {
                let c = raw[i]
                guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else {
                    throw Self.violation("invalid character in integer")
                }
                let digit = Int64(c &- UInt8(ascii: "0"))
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (s, o2) = negative ? m.subtractingReportingOverflow(digit) : m.addingReportingOverflow(digit)
                guard !o1, !o2 else { throw Self.violation("integer overflows 64 bits") }
                value = s
                i += 1
            }
            return value
        }
    }

    func text(_ range: Range<Int>) -> String {
        buffer.getString(at: range.lowerBound, length: range.count) ?? ""
    }

    func slice(_ range: Range<Int>) -> ByteBuffer {
        buffer.getSlice(at: range.lowerBound, length: range.count)!
    }

    /// Reads `length` bytes plus CRLF after a length header.
    mutating func blob(length: Int64) throws -> Range<Int>? {
        guard length >= 0 else { throw Self.violation("negative length \(length)") }
        guard length <= limits.maxBulkLength else {
            throw Self.violation("bulk length \(length) exceeds limit \(limits.maxBulkLength)")
        }
        let n = Int(length)
        guard end - index >= n + 2 else { return nil }
        let range = index..<(index + n)
        guard buffer.getInteger(at: index + n, as: UInt8.self) == UInt8(ascii: "\r"),
            buffer.getInteger(at: index + n + 1, as: UInt8.self) == UInt8(ascii: "\n")
        else { throw Self.violation("bulk string not terminated by CRLF") }
        index += n + 2
        return range
    }

    func aggregateCount(_ count: Int64) throws -> Int {
        guard count >= 0 else { throw Self.violation("negative aggregate length \(count)") }
        guard count <= limits.maxAggregateLength else {
            throw Self.violation("aggregate length \(count) exceeds limit \(limits.maxAggregateLength)")
        }
        return Int(count)
    }

    mutating func elements(_ count: Int, depth: Int) throws -> [RESPValue]? {
        var values: [RESPValue] = []
        values.reserveCapacity(min(count, 1024))
        for _ in 0..<count {
            guard let v = try value(depth: depth + 1) else { return nil }
            values.append(v)
        }
        return values
    }

    mutating func pairs(_ count: Int, depth: Int) throws -> [RESPPair]? {
        var values: [RESPPair] = []
        values.reserveCapacity(min(count, 1024))
        for _ in 0..<count {
            guard let k = try value(depth: depth + 1) else { return nil }
            guard let v = try value(depth: depth + 1) else { return nil }
            values.append(RESPPair(k, v))
        }
        return values
    }

    mutating func value(depth: Int) throws -> RESPValue? {
        guard depth <= limits.maxDepth else {
            throw Self.violation("nesting deeper than \(limits.maxDepth)")
        }
        guard index < end else { return nil }
        let type = buffer.getInteger(at: index, as: UInt8.self)!
        index += 1
        guard let header = try line() else { return nil }
        switch type {
        case UInt8(ascii: "+"):
            return .simpleString(slice(header))
        case UInt8(ascii: "-"):
            return .error(slice(header))
        case UInt8(ascii: ":"):
            return .integer(try integer(in: header))
        case UInt8(ascii: "$"):
            let length = try integer(in: header)
            if length == -1 { return .bulkString(nil) }
            guard let body = try blob(length: length) else { return nil }
            return .bulkString(slice(body))
        case UInt8(ascii: "*"):
            let count = try integer(in: header)
            if count == -1 { return .array(nil) }
            guard let values = try elements(try aggregateCount(count), depth: depth) else { return nil }
            return .array(values)
        case UInt8(ascii: "_"):
            guard header.isEmpty else { throw Self.violation("null with a body") }
            return .null
        case UInt8(ascii: "#"):
            switch text(header) {
            case "t": return .boolean(true)
            case "f": return .boolean(false)
            default: throw Self.violation("invalid boolean")
            }
        case UInt8(ascii: ","):
            let t = text(header)
            switch t {
            case "inf", "+inf": return .double(.infinity)
            case "-inf": return .double(-.infinity)
            case "nan", "-nan": return .double(.nan)
            default:
                guard let d = Double(t) else { throw Self.violation("invalid double") }
                return .double(d)
            }
        case UInt8(ascii: "("):
            let t = text(header)
            let digits = t.hasPrefix("-") || t.hasPrefix("+") ? t.dropFirst() : Substring(t)
            guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                throw Self.violation("invalid big number")
            }
            return .bigNumber(t)
        case UInt8(ascii: "!"):
            guard let body = try blob(length: try integer(in: header)) else { return nil }
            return .error(slice(body))
        case UInt8(ascii: "="):
            guard let body = try blob(length: try integer(in: header)) else { return nil }
            guard body.count >= 4, buffer.getInteger(at: body.lowerBound + 3, as: UInt8.self) == UInt8(ascii: ":")
            else { throw Self.violation("verbatim string without a format") }
            return .verbatimString(
                format: text(body.lowerBound..<(body.lowerBound + 3)),
                slice((body.lowerBound + 4)..<body.upperBound))
        case UInt8(ascii: "%"):
            guard let pairs = try pairs(try aggregateCount(try integer(in: header)), depth: depth) else { return nil }
            return .map(pairs)
        case UInt8(ascii: "~"):
            guard let values = try elements(try aggregateCount(try integer(in: header)), depth: depth) else {
                return nil
            }
            return .set(values)
        case UInt8(ascii: ">"):
            guard let values = try elements(try aggregateCount(try integer(in: header)), depth: depth) else {
                return nil
            }
            return .push(values)
        case UInt8(ascii: "|"):
            guard let attributes = try pairs(try aggregateCount(try integer(in: header)), depth: depth) else {
                return nil
            }
            guard let v = try value(depth: depth + 1) else { return nil }
            return .attributed(attributes, v)
        default:
            throw Self.violation("unknown type byte \(type)")
        }
    }
}

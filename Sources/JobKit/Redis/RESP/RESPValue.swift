import NIOCore

/// One RESP2 or RESP3 value, as decoded from the wire.
///
/// Strings stay as `ByteBuffer` slices of the read buffer so that decoding copies nothing;
/// use ``string`` or the typed accessors to convert.
public enum RESPValue: Sendable, Hashable {
    /// `+OK` (RESP2 and RESP3).
    case simpleString(ByteBuffer)
    /// `-ERR ...` and RESP3 blob errors `!`.
    case error(ByteBuffer)
    /// `:42`.
    case integer(Int64)
    /// `$3\r\nfoo` (`nil` for the RESP2 null bulk string `$-1`).
    case bulkString(ByteBuffer?)
    /// `*2 ...` (`nil` for the RESP2 null array `*-1`).
    case array([RESPValue]?)
    /// RESP3 `_`.
    case null
    /// RESP3 `,1.5` (also `inf`, `-inf`, `nan`).
    case double(Double)
    /// RESP3 `#t` / `#f`.
    case boolean(Bool)
    /// RESP3 `(3492890328409238509324850943850943825024385`, kept as its decimal text.
    case bigNumber(String)
    /// RESP3 `=15\r\ntxt:Some string`: the three-letter format and the text.
    case verbatimString(format: String, ByteBuffer)
    /// RESP3 `%`: key/value pairs in server order.
    case map([RESPPair])
    /// RESP3 `~`.
    case set([RESPValue])
    /// RESP3 `>`: an out-of-band push (pub/sub messages, invalidations).
    case push([RESPValue])
    /// RESP3 `|`: attributes that precede a value; decoders attach them to the value that follows.
    indirect case attributed([RESPPair], RESPValue)

    /// The value as UTF-8 text, for string-like values and integers.
    public var string: String? {
        switch self {
        case .simpleString(let b), .bulkString(.some(let b)), .verbatimString(_, let b), .error(let b):
            return String(buffer: b)
        case .integer(let i): return String(i)
        case .double(let d): return String(d)
        case .bigNumber(let s): return s
        case .attributed(_, let v): return v.string
        default: return nil
        }
    }

    /// The value as an integer, for integers and numeric strings.
    public var int: Int? {
        switch self {
        case .integer(let i): return Int(i)
        case .simpleString, .bulkString, .bigNumber: return string.flatMap { Int($0) }
        case .double(let d): return Int(exactly: d)
        case .attributed(_, let v): return v.int
        default: return nil
        }
    }

    /// The value as a double, for doubles, integers and numeric strings.
    public var double: Double? {
        switch self {
        case .double(let d): return d
        case .integer(let i): return Double(i)
        case .simpleString, .bulkString: return string.flatMap { Double($0) }
        case .attributed(_, let v): return v.double
        default: return nil
        }
    }

    /// The elements of an array, set or push.
    public var array: [RESPValue]? {
        switch self {
        case .array(let a): return a
        case .set(let a), .push(let a): return a
        case .map(let pairs): return pairs.flatMap { [$0.key, $0.value] }
        case .attributed(_, let v): return v.array
        default: return nil
        }
    }

    /// Consecutive (key, value) pairs of a flat reply (`HGETALL`, `ZRANGE … WITHSCORES`, stream fields) or of
    /// a RESP3 map, in order; keys that are not strings are skipped.
    public var pairs: [(key: String, value: RESPValue)] {
        if case .map(let entries) = self { return entries.compactMap { e in e.key.string.map { ($0, e.value) } } }
        guard let flat = array else { return [] }
        var out: [(key: String, value: RESPValue)] = []
        out.reserveCapacity(flat.count / 2)
        var i = 0
        while i + 1 < flat.count {
            if let k = flat[i].string { out.append((k, flat[i + 1])) }
            i += 2
        }
        return out
    }

    /// ``pairs`` as a dictionary (the last value wins for a repeated key).
    public var fields: [String: RESPValue] {
        Dictionary(pairs.map { ($0.key, $0.value) }, uniquingKeysWith: { $1 })
    }

    /// True for `$-1`, `*-1` and RESP3 `_`.
    public var isNull: Bool {
        switch self {
        case .null, .bulkString(nil), .array(nil): return true
        case .attributed(_, let v): return v.isNull
        default: return false
        }
    }

    /// The bytes of a bulk or simple string.
    public var buffer: ByteBuffer? {
        switch self {
        case .simpleString(let b), .bulkString(.some(let b)), .verbatimString(_, let b): return b
        case .attributed(_, let v): return v.buffer
        default: return nil
        }
    }
}

/// A key/value pair of a RESP3 map or attribute.
public struct RESPPair: Sendable, Hashable {
    public var key: RESPValue
    public var value: RESPValue
    public init(_ key: RESPValue, _ value: RESPValue) {
        self.key = key
        self.value = value
    }
}

extension RESPValue {
    /// A bulk string holding `text`.
    public static func bulk(_ text: String) -> RESPValue { .bulkString(ByteBuffer(string: text)) }
    /// A simple string holding `text`.
    public static func simple(_ text: String) -> RESPValue { .simpleString(ByteBuffer(string: text)) }
}

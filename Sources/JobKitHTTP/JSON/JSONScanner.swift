import JobKit
import NIOCore

/// A strict JSON parser (RFC 8259) straight from a request's bytes into ``JSONValue``, for the job API's hot path:
/// `JSONDecoder` with `JSONValue`'s try-each-type decoding was more than half of a batch request's CPU.
///
/// It answers nil for anything it does not accept (malformed text, nesting deeper than 512, invalid UTF-8 or
/// escapes, a duplicate key, a whole number written as a fraction or exponent, an integer beyond 64 bits);
/// callers then decode with `JSONDecoder`, whose errors name the field, so the answers
/// to bad input are the same as before. Whole numbers that fit in 64 bits are `.integer`, others `.number`.
enum JSONScanner {
    static func parse(_ buffer: ByteBuffer) -> JSONValue? {
        buffer.withUnsafeReadableBytes { raw -> JSONValue? in
            var p = Parser(bytes: raw.bindMemory(to: UInt8.self))
            guard let value = p.value(depth: 0) else { return nil }
            p.skipSpace()
            return p.i == p.bytes.count ? value : nil
        }
    }

    struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var i = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        mutating func skipSpace() {
            while i < bytes.count {
                switch bytes[i] {
                case 0x20, 0x09, 0x0A, 0x0D: i += 1
                default: return
                }
            }
        }

        mutating func literal(_ text: StaticString) -> Bool {
            let n = text.utf8CodeUnitCount
            guard i + n <= bytes.count else { return false }
            for k in 0..<n where bytes[i + k] != text.utf8Start[k] { return false }
            i += n
            return true
        }

        mutating func value(depth: Int) -> JSONValue? {
            guard depth < 512 else { return nil }
            skipSpace()
            guard i < bytes.count else { return nil }
            switch bytes[i] {
            case UInt8(ascii: "{"):
                i += 1
                var object: [String: JSONValue] = [:]
                skipSpace()
                if i < bytes.count, bytes[i] == UInt8(ascii: "}") {
                    i += 1
                    return .object(object)
                }
                while true {
                    skipSpace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: "\""), let key = string() else { return nil }
                    skipSpace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { return nil }
                    i += 1
                    guard let v = value(depth: depth + 1), object.updateValue(v, forKey: key) == nil else { return nil }
                    skipSpace()
                    guard i < bytes.count else { return nil }
                    if bytes[i] == UInt8(ascii: ",") {
                        i += 1
                    } else if bytes[i] == UInt8(ascii: "}") {
                        i += 1
                        return .object(object)
                    } else {
                        return nil
                    }
                }
            case UInt8(ascii: "["):
                i += 1
                var array: [JSONValue] = []
                skipSpace()
                if i < bytes.count, bytes[i] == UInt8(ascii: "]") {
                    i += 1
                    return .array(array)
                }
                while true {
                    guard let v = value(depth: depth + 1) else { return nil }
                    array.append(v)
                    skipSpace()
                    guard i < bytes.count else { return nil }
                    if bytes[i] == UInt8(ascii: ",") {
                        i += 1
                    } else if bytes[i] == UInt8(ascii: "]") {
                        i += 1
                        return .array(array)
                    } else {
                        return nil
                    }
                }
            case UInt8(ascii: "\""):
                return string().map(JSONValue.string)
            case UInt8(ascii: "t"): return literal("true") ? .bool(true) : nil
            case UInt8(ascii: "f"): return literal("false") ? .bool(false) : nil
            case UInt8(ascii: "n"): return literal("null") ? .null : nil
            default: return number()
            }
        }

        /// A number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
        mutating func number() -> JSONValue? {
            let start = i
            if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) else { return nil }
            if bytes[i] == UInt8(ascii: "0") {
                i += 1
            } else {
                while i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) { i += 1 }
            }
            var integral = true
            if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
                integral = false
                i += 1
                let digits = i
                while i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) { i += 1 }
                guard i > digits else { return nil }
            }
            if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
                integral = false
                i += 1
                if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
                let digits = i
                while i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) { i += 1 }
                guard i > digits else { return nil }
            }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
            if integral, let v = Int64(text) { return .integer(v) }
            // A whole value written as a fraction or with an exponent (`1e16`, `2.0`, `-0.0`), or an integer
            // beyond 64 bits: JSONDecoder's reading of those (an exact integer first) is left to it.
            guard !integral, let d = Double(text), d.isFinite, d != d.rounded(.towardZero) else { return nil }
            return .number(d)
        }

        /// A string, `i` at its opening quote.
        mutating func string() -> String? {
            i += 1
            let start = i
            // The common case: no escapes, valid UTF-8.
            while i < bytes.count {
                let b = bytes[i]
                if b == UInt8(ascii: "\"") {
                    let slice = UnsafeBufferPointer(rebasing: bytes[start..<i])
                    i += 1
                    return String(validating: slice, as: UTF8.self)
                }
                if b == UInt8(ascii: "\\") { break }
                guard b >= 0x20 else { return nil }
                i += 1
            }
            guard i < bytes.count else { return nil }
            var out = Array(UnsafeBufferPointer(rebasing: bytes[start..<i]))
            while i < bytes.count {
                let b = bytes[i]
                switch b {
                case UInt8(ascii: "\""):
                    i += 1
                    return String(validating: out, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    i += 1
                    guard i < bytes.count else { return nil }
                    let e = bytes[i]
                    i += 1
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        guard var scalar = hex4() else { return nil }
                        if (0xD800..<0xDC00).contains(scalar) {
                            guard literal("\\u"), let low = hex4(), (0xDC00..<0xE000).contains(low) else { return nil }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00..<0xE000).contains(scalar) {
                            return nil
                        }
                        guard let u = Unicode.Scalar(scalar) else { return nil }
                        out.append(contentsOf: UTF8.encode(u)!)
                    default: return nil
                    }
                default:
                    guard b >= 0x20 else { return nil }
                    out.append(b)
                    i += 1
                }
            }
            return nil
        }

        mutating func hex4() -> UInt32? {
            guard i + 4 <= bytes.count else { return nil }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let b = bytes[i]
                let d: UInt8
                switch b {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = b - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = b - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = b - UInt8(ascii: "A") + 10
                default: return nil
                }
                v = v << 4 | UInt32(d)
                i += 1
            }
            return v
        }
    }
}

extension JSONValue {
    /// Writes the value as `JSONOutput` would (compact, keys sorted by their UTF-8 bytes, slashes unescaped);
    /// false, with nothing promised about `buffer`, when it holds a non-integral number (whose text `JSONEncoder`
    /// decides; the caller then encodes with it).
    func writeCompact(into buffer: inout ByteBuffer) -> Bool {
        switch self {
        case .null: buffer.writeStaticString("null")
        case .bool(let v): buffer.writeStaticString(v ? "true" : "false")
        case .integer(let v): buffer.writeString(String(v))
        case .number: return false
        case .string(let s): Self.writeString(s, into: &buffer)
        case .array(let a):
            buffer.writeInteger(UInt8(ascii: "["))
            for (k, v) in a.enumerated() {
                if k > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                guard v.writeCompact(into: &buffer) else { return false }
            }
            buffer.writeInteger(UInt8(ascii: "]"))
        case .object(let o):
            buffer.writeInteger(UInt8(ascii: "{"))
            for (k, key) in o.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }).enumerated() {
                if k > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                Self.writeString(key, into: &buffer)
                buffer.writeInteger(UInt8(ascii: ":"))
                guard o[key]!.writeCompact(into: &buffer) else { return false }
            }
            buffer.writeInteger(UInt8(ascii: "}"))
        }
        return true
    }

    static func writeString(_ s: String, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): buffer.writeStaticString("\\\"")
            case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
            case 0x0A: buffer.writeStaticString("\\n")
            case 0x0D: buffer.writeStaticString("\\r")
            case 0x09: buffer.writeStaticString("\\t")
            case 0x08: buffer.writeStaticString("\\b")
            case 0x0C: buffer.writeStaticString("\\f")
            case 0..<0x20:
                buffer.writeStaticString("\\u00")
                for nibble in [b >> 4, b & 0x0F] { buffer.writeInteger(nibble < 10 ? 0x30 + nibble : 0x57 + nibble) }
            default: buffer.writeInteger(b)
            }
        }
        buffer.writeInteger(UInt8(ascii: "\""))
    }
}

extension JobRecord {
    /// The record as `JSONOutput` encodes it (every key, sorted; `null` for absent values), written directly: the
    /// job API answers every enqueue with it, and `JSONEncoder` was a tenth of a single POST's CPU.
    func writeJSON(into buffer: inout ByteBuffer) {
        func key(_ k: StaticString, first: Bool = false) {
            if !first { buffer.writeInteger(UInt8(ascii: ",")) }
            buffer.writeInteger(UInt8(ascii: "\""))
            buffer.writeStaticString(k)
            buffer.writeStaticString("\":")
        }
        func int(_ v: Int64?) {
            if let v { buffer.writeString(String(v)) } else { buffer.writeStaticString("null") }
        }
        func text(_ v: String?) {
            if let v { JSONValue.writeString(v, into: &buffer) } else { buffer.writeStaticString("null") }
        }
        buffer.writeInteger(UInt8(ascii: "{"))
        key("attempts", first: true); int(Int64(attempts))
        key("correlation"); text(correlation)
        key("enqueuedAtMs"); int(enqueuedAtMs)
        key("finishedAtMs"); int(finishedAtMs)
        key("history")
        buffer.writeInteger(UInt8(ascii: "["))
        for (i, a) in history.enumerated() {
            if i > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            buffer.writeInteger(UInt8(ascii: "{"))
            key("at", first: true); int(a.at)
            key("attempt"); int(Int64(a.attempt))
            key("error"); text(a.error)
            key("kind"); text(a.kind)
            key("node"); text(a.node)
            buffer.writeInteger(UInt8(ascii: "}"))
        }
        buffer.writeInteger(UInt8(ascii: "]"))
        key("id"); text(id)
        key("lastError"); text(lastError)
        key("maxAttempts"); int(Int64(maxAttempts))
        key("name"); text(name)
        key("node"); text(node)
        key("payload"); text(payload)
        key("priority"); int(Int64(priority))
        key("queue"); text(queue)
        key("result"); text(result)
        key("runAtMs"); int(runAtMs)
        key("startedAtMs"); int(startedAtMs)
        key("state"); text(state.rawValue)
        key("tenant"); text(tenant)
        buffer.writeInteger(UInt8(ascii: "}"))
    }
}

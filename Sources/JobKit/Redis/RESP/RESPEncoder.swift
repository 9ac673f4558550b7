import NIOCore

/// Writes RESP values and commands into a `ByteBuffer`.
public enum RESPEncoder {
    /// Appends `value` in its wire form. Used for tests and for servers; clients send commands with
    /// ``RedisCommand``.
    public static func encode(_ value: RESPValue, into buffer: inout ByteBuffer) {
        switch value {
        case .simpleString(let b):
            buffer.writeInteger(UInt8(ascii: "+"))
            buffer.writeImmutableBuffer(b)
            buffer.writeCRLF()
        case .error(let b):
            buffer.writeInteger(UInt8(ascii: "-"))
            buffer.writeImmutableBuffer(b)
            buffer.writeCRLF()
        case .integer(let i):
            buffer.writeInteger(UInt8(ascii: ":"))
            buffer.writeDecimal(i)
            buffer.writeCRLF()
        case .bulkString(nil):
            buffer.writeStaticString("$-1\r\n")
        case .bulkString(.some(let b)):
            buffer.writeInteger(UInt8(ascii: "$"))
            buffer.writeDecimal(Int64(b.readableBytes))
            buffer.writeCRLF()
            buffer.writeImmutableBuffer(b)
            buffer.writeCRLF()
        case .array(nil):
            buffer.writeStaticString("*-1\r\n")
        case .array(.some(let values)):
            writeAggregate("*", values, into: &buffer)
        case .null:
            buffer.writeStaticString("_\r\n")
        case .double(let d):
            buffer.writeInteger(UInt8(ascii: ","))
            if d.isNaN {
                buffer.writeStaticString("nan")
            } else if d.isInfinite {
                buffer.writeString(d < 0 ? "-inf" : "inf")
            } else {
                buffer.writeString(String(d))
            }
            buffer.writeCRLF()
        case .boolean(let b):
            buffer.writeString(b ? "#t\r\n" : "#f\r\n")
        case .bigNumber(let s):
            buffer.writeInteger(UInt8(ascii: "("))
            buffer.writeString(s)
            buffer.writeCRLF()
        case .verbatimString(let format, let b):
            buffer.writeInteger(UInt8(ascii: "="))
            buffer.writeDecimal(Int64(b.readableBytes + 4))
            buffer.writeCRLF()
            buffer.writeString(format)
            buffer.writeInteger(UInt8(ascii: ":"))
            buffer.writeImmutableBuffer(b)
            buffer.writeCRLF()
        case .map(let pairs):
            writePairs("%", pairs, into: &buffer)
        case .set(let values):
            writeAggregate("~", values, into: &buffer)
        case .push(let values):
            writeAggregate(">", values, into: &buffer)
        case .attributed(let attributes, let v):
            writePairs("|", attributes, into: &buffer)
            encode(v, into: &buffer)
        }
    }

    private static func writeAggregate(_ type: Unicode.Scalar, _ values: [RESPValue], into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: type))
        buffer.writeDecimal(Int64(values.count))
        buffer.writeCRLF()
        for v in values { encode(v, into: &buffer) }
    }

    private static func writePairs(_ type: Unicode.Scalar, _ pairs: [RESPPair], into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: type))
        buffer.writeDecimal(Int64(pairs.count))
        buffer.writeCRLF()
        for p in pairs {
            encode(p.key, into: &buffer)
            encode(p.value, into: &buffer)
        }
    }
}

extension ByteBuffer {
    @inlinable
    mutating func writeCRLF() {
        writeInteger(UInt16(0x0D0A))  // "\r\n" big-endian
    }

    /// Writes the decimal digits of `value` without going through `String`.
    @inlinable
    mutating func writeDecimal(_ value: Int64) {
        if value >= 0 && value < 10 {
            writeInteger(UInt8(truncatingIfNeeded: value) &+ UInt8(ascii: "0"))
            return
        }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes of scratch, enough for Int64.min
        let count = withUnsafeMutableBytes(of: &digits) { scratch -> Int in
            var v = value.magnitude
            var i = scratch.count
            repeat {
                i -= 1
                scratch[i] = UInt8(v % 10) &+ UInt8(ascii: "0")
                v /= 10
            } while v > 0
            if value < 0 {
                i -= 1
                scratch[i] = UInt8(ascii: "-")
            }
            let used = scratch.count - i
            self.writeBytes(UnsafeRawBufferPointer(rebasing: scratch[i...]))
            return used
        }
        _ = count
    }
}

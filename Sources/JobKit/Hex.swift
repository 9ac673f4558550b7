/// Lowercase hexadecimal text of bytes, without Foundation's `String(format:)` (which costs a locale lookup and a
/// dynamic cast per byte: on the webhook path it was a sixth of the CPU).
public enum Hex {
    static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// `[0xde, 0xad]` → `"dead"`.
    public static func lowercase<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

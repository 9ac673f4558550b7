/// Job ids: 20 characters of Crockford base32 — 48 bits of millisecond time then 52 random bits, so ids
/// sort roughly by creation and never collide in practice. Node clocks only shape the id; they decide
/// nothing.
enum JobID {
    private static let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz".utf8)

    static func make() -> String {
        var rng = SystemRandomNumberGenerator()
        let time = UInt64(ContinuousClock.now.timeSinceUnixEpochMillis)
        let random = rng.next() & ((1 << 52) - 1)
        var bytes = [UInt8](repeating: 0, count: 20)
        var t = time
        for i in stride(from: 9, through: 0, by: -1) {
            bytes[i] = alphabet[Int(t & 31)]
            t >>= 5
        }
        var r = random
        for i in stride(from: 19, through: 10, by: -1) {
            bytes[i] = alphabet[Int(r & 31)]
            r >>= 5
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension ContinuousClock.Instant {
    /// Wall-clock ms since the Unix epoch (for ids only).
    var timeSinceUnixEpochMillis: Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

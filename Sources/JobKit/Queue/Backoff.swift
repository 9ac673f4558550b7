/// How long a failed job waits before its next attempt.
public struct Backoff: Sendable, Hashable, CustomStringConvertible {
    enum Kind: Sendable, Hashable {
        case exponential(base: Duration, maximum: Duration)
        case fixed(Duration)
        case none
    }
    let kind: Kind

    /// Exponential with full jitter (the default): attempt n waits a random time in
    /// `0 ..< min(maximum, base × 2^(n-1))`.
    public static func exponential(base: Duration = .seconds(1), maximum: Duration = .seconds(3600)) -> Backoff {
        Backoff(kind: .exponential(base: base, maximum: maximum))
    }
    /// The same delay before every retry.
    public static func fixed(_ delay: Duration) -> Backoff { Backoff(kind: .fixed(delay)) }
    /// Retry at once.
    public static let none = Backoff(kind: .none)
    /// `exponential(base: 1 s, maximum: 1 h)`.
    public static let `default` = Backoff.exponential()

    /// The wire form the retry script reads: `exp:<baseMs>:<maxMs>`, `fixed:<ms>` or `none`.
    public var encoded: String {
        switch kind {
        case .exponential(let base, let maximum): return "exp:\(base.milliseconds):\(maximum.milliseconds)"
        case .fixed(let d): return "fixed:\(d.milliseconds)"
        case .none: return "none"
        }
    }

    /// Parses the wire form.
    public init?(encoded: String) {
        let parts = encoded.split(separator: ":")
        switch parts.first {
        case "exp" where parts.count == 3:
            guard let b = Int64(parts[1]), let m = Int64(parts[2]) else { return nil }
            kind = .exponential(base: .milliseconds(b), maximum: .milliseconds(m))
        case "fixed" where parts.count == 2:
            guard let d = Int64(parts[1]) else { return nil }
            kind = .fixed(.milliseconds(d))
        case "none":
            kind = .none
        default:
            return nil
        }
    }

    init(kind: Kind) { self.kind = kind }

    public var description: String { encoded }
}

extension Duration {
    /// Whole milliseconds (truncated).
    public var milliseconds: Int64 {
        let (s, atto) = components
        return s * 1000 + atto / 1_000_000_000_000_000
    }
}

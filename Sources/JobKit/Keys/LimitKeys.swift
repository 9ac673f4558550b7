/// Builds the keys of rate limiters, the tenant cache and sessions. Each limiter key, cache tenant and
/// session user gets a hash tag of its own, so that each script call touches one Redis Cluster slot and the
/// keys spread over a cluster.
public struct LimitKeys: Sendable, Hashable {
    public let namespace: String

    public init(namespace: String) { self.namespace = namespace }

    /// `<ns>:{rl:<name>:<key>}:` — every key of one limiter key (`fw:<window>`, `log`, `seq`, `sw:<window>`, `tat`).
    public func limiter(_ name: String, key: String) -> String {
        "\(namespace):{rl:\(Self.escape(name)):\(Self.escape(key))}:"
    }

    /// A part of a key name with `%`, `{`, `}` and `:` percent-encoded: user strings can't end a hash tag
    /// early, and two different (name, key) pairs can't make the same key.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for ch in text.unicodeScalars {
            switch ch {
            case "%": out += "%25"
            case "{": out += "%7B"
            case "}": out += "%7D"
            case ":": out += "%3A"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }
}

/// Builds the keys of the metrics history. They share the hash tag `{history}`, so the record and read
/// scripts touch one Redis Cluster slot.
public struct HistoryKeys: Sendable, Hashable {
    public let namespace: String
    /// `<namespace>:{history}:` — the prefix the history scripts get as `KEYS[1]`.
    public let prefix: String

    public init(namespace: String) {
        self.namespace = namespace
        self.prefix = "\(namespace):{history}:"
    }

    /// HASH of one minute's tallies (`m:<epoch minute>`), kept 48 hours.
    public func minute(_ epochMinute: Int64) -> String { prefix + "m:\(epochMinute)" }
    /// HASH of one hour's tallies (`h:<epoch hour>`), kept 30 days.
    public func hour(_ epochHour: Int64) -> String { prefix + "h:\(epochHour)" }
}

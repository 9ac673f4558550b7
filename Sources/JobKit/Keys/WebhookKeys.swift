/// Builds the keys of the webhook delivery ledger: per provider, one HASH of counters per minute, with a time
/// to live. They share the hash tag `{webhooks}`, so each ledger script touches one Redis Cluster slot.
public struct WebhookKeys: Sendable, Hashable {
    public let namespace: String
    /// `<namespace>:{webhooks}:` — the prefix the ledger scripts get as `KEYS[1]`; they build
    /// ``bucket(provider:minute:)`` and ``lastAccepted(provider:)`` from it, in Lua, the same way.
    public let prefix: String

    public init(namespace: String) {
        self.namespace = namespace
        self.prefix = "\(namespace):{webhooks}:"
    }

    /// HASH of one provider's counters for one minute (minutes since the Unix epoch, Redis time):
    /// `received`, `accepted`, `rejected:<reason>`.
    public func bucket(provider: String, minute: Int64) -> String { prefix + provider + ":m:" + String(minute) }
    /// STRING: when the provider's last accepted delivery arrived (ms since the Unix epoch, Redis time).
    public func lastAccepted(provider: String) -> String { prefix + provider + ":last" }
}

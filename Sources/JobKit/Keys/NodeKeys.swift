/// Builds the keys of the node registry and control plane. They share the hash tag `{nodes}`, so the
/// heartbeat script touches one Redis Cluster slot.
public struct NodeKeys: Sendable, Hashable {
    public let namespace: String
    /// `<namespace>:{nodes}:` — the prefix the registry scripts get as `KEYS[1]`.
    public let prefix: String

    public init(namespace: String) {
        self.namespace = namespace
        self.prefix = "\(namespace):{nodes}:"
    }

    /// ZSET of live node ids by last heartbeat (Redis time, ms).
    public var index: String { prefix + "index" }
    /// HASH of one node's record, with a time to live.
    public func node(_ id: String) -> String { prefix + "node:" + id }
    /// SET of job ids a node must cancel (the heartbeat's fallback for missed pub/sub messages).
    public func cancels(_ id: String) -> String { prefix + "cancel:" + id }
    /// LIST of control commands (`shutdown:<ms>`, `drain`) waiting for a node.
    public func commands(_ id: String) -> String { prefix + "commands:" + id }
    /// STREAM of registry events (`dead` nodes), capped.
    public var events: String { prefix + "events" }
    /// The pub/sub channel of control messages.
    public var controlChannel: String { namespace + ":control" }
}

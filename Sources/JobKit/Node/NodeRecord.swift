/// A live node, as `jobnode nodes --json` prints it.
public struct NodeRecord: Sendable, Codable, Equatable {
    public var id: String
    public var name: String
    public var host: String
    public var pid: Int
    public var version: String
    /// `name:weight` pairs, comma-separated, as given to `--queues`.
    public var queues: String
    public var concurrency: Int
    public var busy: Int
    public var processed: Int
    public var failed: Int
    public var startedAtMs: Int64
    public var lastHeartbeatMs: Int64
}

/// How many jobs a queue holds in each state, as `jobnode queues --json` prints it.
public struct QueueCounts: Sendable, Codable, Equatable {
    public var name: String
    public var scheduled: Int
    public var ready: Int
    public var active: Int
    public var retrying: Int
    public var dead: Int
    public var canceled: Int
    public var paused: Bool
    /// Jobs ever completed on this queue: a counter that retention never shrinks.
    public var completed: Int
    /// Completed records currently retained.
    public var completedRetained: Int
}

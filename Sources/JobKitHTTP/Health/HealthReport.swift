import JobKit
/// The body of `GET /health/detailed`: one entry per dependency and part, and an overall status.
///
/// `status` is `ok`, `degraded` (a warning, such as an eviction policy other than `noeviction` or Redis
/// persistence off, or a part that could not be read) or `down` (Redis unreachable); the HTTP status is 200,
/// 200 and 503.
public struct HealthReport: Sendable, Encodable {
    public var status: HealthStatus
    /// How long the checks took, in ms.
    public var durationMs: Double
    public var redis: RedisPart
    /// PostgreSQL: `{"status": "not configured"}` when the node has no database, else its check (`ok` or
    /// `down`, latency, pool, error). A database that does not answer makes the report `degraded`.
    public var postgres: DependencyHealth
    /// External services' circuit breakers by service, over every live node (empty when no node has one).
    public var circuits: [String: CircuitPart]
    public var scheduler: SchedulerPart
    public var nodes: NodesPart
    public var queues: QueuesPart

    /// The Redis server as one health pool connection sees it.
    public struct RedisPart: Sendable, Encodable {
        public var status: HealthStatus
        /// One `PING` round trip, in ms.
        public var latencyMs: Double?
        public var role: String?
        public var version: String?
        public var usedMemoryBytes: Int?
        public var maxmemoryPolicy: String?
        /// RDB snapshots (`save` set) or AOF on.
        public var persistence: Persistence?
        public var pool: Pool
        public var warnings: [String]
        public var error: String?

        public struct Persistence: Sendable, Encodable {
            public var rdb: Bool
            public var aof: Bool
            public var enabled: Bool
        }

        /// The connections of the server's pool (the one jobs are enqueued through).
        public struct Pool: Sendable, Encodable {
            public var size: Int
            public var connected: Int
        }
    }

    /// One service's breakers across nodes: the worst state (open, then half-open, then closed), the highest
    /// failure rate, the calls summed, the latest open and next-attempt times, and each node's state.
    public struct CircuitPart: Sendable, Encodable {
        public var state: String
        public var failureRate: Double
        public var calls: Int
        public var openedAtMs: Int64?
        public var nextAttemptAtMs: Int64?
        public var nodes: [String: String]
    }

    /// The schedule loop: it runs on every live node that was not started with `--no-scheduler`.
    public struct SchedulerPart: Sendable, Encodable {
        public var status: HealthStatus
        /// True when at least one node is live (the nodes run the schedule loop).
        public var running: Bool
        public var schedules: Int
        public var enabledSchedules: Int
        /// The earliest next tick of an enabled schedule (ms since the Unix epoch); absent without one.
        public var nextDueMs: Int64?
        public var error: String?
    }

    public struct NodesPart: Sendable, Encodable {
        public var status: HealthStatus
        public var live: Int
        public var nodes: [Node]
        public var error: String?

        public struct Node: Sendable, Encodable {
            public var id: String
            public var name: String
            public var busy: Int
            public var concurrency: Int
            /// Time since the node's last heartbeat (Redis time), in ms.
            public var heartbeatAgeMs: Int64
        }
    }

    public struct QueuesPart: Sendable, Encodable {
        public var status: HealthStatus
        public var queues: [Queue]
        public var error: String?

        public struct Queue: Sendable, Encodable {
            public var name: String
            public var ready: Int
            public var scheduled: Int
            public var retrying: Int
            public var active: Int
            public var dead: Int
            /// How long the longest-waiting ready job has been due, in ms; `null` when none is ready.
            public var oldestReadyAgeMs: Int64?
            public var paused: Bool

            enum CodingKeys: String, CodingKey {
                case name, ready, scheduled, retrying, active, dead, oldestReadyAgeMs, paused
            }

            public func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(name, forKey: .name)
                try c.encode(ready, forKey: .ready)
                try c.encode(scheduled, forKey: .scheduled)
                try c.encode(retrying, forKey: .retrying)
                try c.encode(active, forKey: .active)
                try c.encode(dead, forKey: .dead)
                try c.encode(oldestReadyAgeMs, forKey: .oldestReadyAgeMs)
                try c.encode(paused, forKey: .paused)
            }
        }
    }
}

/// `ok`, `degraded` or `down`.
public enum HealthStatus: String, Sendable, Encodable, Comparable {
    case ok, degraded, down

    public static func < (a: HealthStatus, b: HealthStatus) -> Bool { a.rank < b.rank }
    var rank: Int {
        switch self {
        case .ok: 0
        case .degraded: 1
        case .down: 2
        }
    }
}

/// Builds every Redis key of one queue. Keys of a queue share the hash tag `{queue}`, so every script
/// touches one Redis Cluster slot. No key string is written anywhere else.
public struct QueueKeys: Sendable, Hashable {
    public let namespace: String
    public let queue: String
    /// `<namespace>:{<queue>}:` — the prefix scripts build job keys from; `<namespace>:{<tag>}=<queue>:` for a
    /// queue pinned to a tag (``QueueTags``).
    public let prefix: String

    /// The keys of `queue`, pinned as `tags` says (by default this process's `JOBKIT_QUEUE_TAGS`).
    public init(namespace: String, queue: String, tags: QueueTags = .environment) {
        self.namespace = namespace
        self.queue = queue
        if let tag = tags.tag(for: queue) {
            // `=` never follows an unpinned queue's `}`, so a pinned queue's keys meet no other queue's.
            self.prefix = "\(namespace):{\(tag)}=\(queue):"
        } else {
            self.prefix = "\(namespace):{\(queue)}:"
        }
    }

    /// ZSET of waiting job ids; score = priority band then enqueue sequence.
    public var ready: String { prefix + "ready" }
    /// ZSET of delayed job ids; score = due time (ms).
    public var scheduled: String { prefix + "scheduled" }
    /// ZSET of job ids waiting out a retry backoff; score = due time (ms).
    public var retrying: String { prefix + "retrying" }
    /// ZSET of running job ids; score = lease deadline (ms).
    public var active: String { prefix + "active" }
    /// ZSETs of finished job ids; score = finish time (ms).
    public var completed: String { prefix + "completed" }
    public var dead: String { prefix + "dead" }
    public var canceled: String { prefix + "canceled" }
    /// Capped STREAM of lifecycle events.
    public var events: String { prefix + "events" }
    /// LIST holding at most one marker; blocked fetchers wait on it.
    public var wake: String { prefix + "wake" }
    /// Exists while the queue is paused.
    public var paused: String { prefix + "paused" }
    /// Enqueue sequence counter (FIFO within a priority).
    public var sequence: String { prefix + "seq" }
    /// HASH of counters that never shrink (`completed`, `dead`).
    public var stats: String { prefix + "stats" }
    /// HASH of per-queue settings shared by every node (retention).
    public var config: String { prefix + "config" }
    /// HASH of one job.
    public func job(_ id: String) -> String { prefix + "job:" + id }
    /// STRING holding the job id for an idempotency key.
    public func idempotency(_ key: String) -> String { prefix + "idem:" + key }

    /// HASH of the schedules that enqueue to this queue: name → definition (JSON).
    public var schedules: String { prefix + "schedules" }
    /// ZSET of this queue's enabled schedules by next tick (ms).
    public var schedulesDue: String { prefix + "schedules:due" }
    /// HASH of one schedule's state: `lastRunMs`, `lastJobId`, `lastSkippedMs`, `fingerprint`.
    public func scheduleState(_ name: String) -> String { prefix + "schedule:" + name }

    /// HASH of every schedule name → its queue (for listings and lookups by name).
    public static func scheduleIndex(namespace: String) -> String { namespace + ":schedules" }
    /// LIST whose marker wakes the scheduler loops when schedules change.
    public static func schedulerWake(namespace: String) -> String { namespace + ":schedules:wake" }

    /// SET of every queue name ever enqueued to (for listings).
    public static func queueSet(namespace: String) -> String { namespace + ":queues" }
    /// LIST that `jobkit.record` appends to.
    public static func diagnostics(namespace: String, key: String) -> String { namespace + ":diag:" + key }
}

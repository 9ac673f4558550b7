extension JobQueue {
    /// How many replicas must confirm an enqueue, and how long to wait for them (Redis `WAIT`).
    ///
    /// Replication is asynchronous: a job the primary accepted a moment before a failover may never reach the
    /// replica that takes over. With an acknowledgement, ``JobQueue/enqueue(_:)-(Job)`` returns only once
    /// `replicas` replicas have the job, and otherwise throws `QueueError` `notReplicated` (the job was written and
    /// may or may not survive; enqueue it again under the same idempotency key, which never makes a second job).
    /// It costs one replication round trip per enqueue (per bulk call on one server; per queue and chunk of 1,000
    /// jobs on a cluster).
    public struct ReplicaAcknowledgement: Sendable, Hashable {
        public var replicas: Int
        public var timeout: Duration

        public init(replicas: Int = 1, timeout: Duration = .seconds(1)) {
            self.replicas = replicas
            self.timeout = timeout
        }

        /// `WAIT replicas timeout` on the connection that wrote the jobs.
        func await(on connection: RedisConnection, jobs: Int) async throws {
            let ms = max(1, Int(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000))
            let acknowledged = try await connection.send(RedisCommand("WAIT", replicas, ms)).int ?? 0
            guard acknowledged >= replicas else {
                throw QueueError(
                    .notReplicated,
                    "\(jobs) job(s) written, but \(acknowledged) of \(replicas) replica(s) confirmed within \(timeout): a failover could lose them; enqueue again under the same idempotency key")
            }
        }
    }
}

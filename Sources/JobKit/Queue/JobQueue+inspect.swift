import NIOCore

extension JobQueue {
    /// Every queue name that has ever been enqueued to in this namespace, sorted.
    public func queueNames() async throws -> [String] {
        let reply = try await redis.send(RedisCommand("SMEMBERS", QueueKeys.queueSet(namespace: namespace)))
        return (reply.array ?? []).compactMap(\.string).sorted()
    }

    /// True if `queue` has ever been enqueued to.
    public func queueExists(_ queue: String) async throws -> Bool {
        try await redis.send(RedisCommand("SISMEMBER", QueueKeys.queueSet(namespace: namespace), queue)).int == 1
    }

    /// Current sizes of every state of `queue`, in one round trip.
    public func counts(_ queue: String) async throws -> QueueCounts {
        try QueueCounts(name: queue, replies: try await redis.pipeline(QueueCounts.commands(keys(queue)))[...])
    }

    /// One job's record; `queue` is looked up among known queues when not given.
    public func job(_ id: String, queue: String? = nil) async throws -> JobRecord? {
        let candidates: [String]
        if let queue { candidates = [queue] } else { candidates = try await queueNames() }
        guard !candidates.isEmpty else { return nil }
        let replies = try await redis.pipeline(candidates.map { RedisCommand("HGETALL", keys($0).job(id)) })
        for (q, reply) in zip(candidates, replies) {
            if let record = JobRecord(id: id, queue: q, hash: reply) { return record }
        }
        return nil
    }

    /// Jobs of `queue` in `state`, oldest first for finished states and in run order for `ready`. An operator's
    /// listing: with ``RedisURL/readFromReplicas`` on it is read from a replica (``list(_:state:offset:limit:)``,
    /// ``ids(_:state:newestFirst:limit:)`` and ``records(_:queue:)`` alike); ``job(_:queue:)`` always reads the primary.
    public func list(_ queue: String, state: JobState, offset: Int = 0, limit: Int = 50) async throws -> [JobRecord] {
        let k = keys(queue)
        let set: String
        switch state {
        case .scheduled: set = k.scheduled
        case .ready: set = k.ready
        case .active: set = k.active
        case .retrying: set = k.retrying
        case .completed: set = k.completed
        case .dead: set = k.dead
        case .canceled: set = k.canceled
        }
        let ids = (try await redis.send(RedisCommand("ZRANGE", set, offset, offset + max(limit, 1) - 1).allowingReplica()).array ?? [])
            .compactMap(\.string)
        guard !ids.isEmpty else { return [] }
        let replies = try await redis.pipeline(ids.map { RedisCommand("HGETALL", k.job($0)).allowingReplica() })
        return zip(ids, replies).compactMap { JobRecord(id: $0, queue: queue, hash: $1) }
    }

    /// Moves the given dead (or canceled) jobs of `queue` back to `ready`; returns how many moved.
    @discardableResult
    public func requeue(_ ids: [String], queue: String) async throws -> Int {
        try await countInChunks(ids, queue: queue, of: "requeue", QueueScripts.requeue)
    }

    /// Moves every dead job of `queue` back to `ready`; returns how many moved. It goes in chunks of at most
    /// 1,000 jobs, one script call each, so that Redis serves other clients in between.
    @discardableResult
    public func requeueAllDead(queue: String) async throws -> Int {
        try await requeueAllDead(queue: queue, chunk: Self.defaultChunk).requeued
    }

    func requeueAllDead(queue: String, chunk: Int) async throws -> (requeued: Int, walk: ChunkedWalk) {
        let k = keys(queue)
        var requeued = 0
        let walk = try await walkInChunks(
            chunk: chunk, { QueueScripts.requeueDead(k, chunk: $0, from: $1) },
            reply: { try QueueScripts.countChunk($0, of: "requeueDead") }
        ) { requeued += $0 }
        return (requeued, walk)
    }

    /// Deletes jobs of `queue` wherever they are; returns how many existed.
    @discardableResult
    public func delete(_ ids: [String], queue: String) async throws -> Int {
        try await countInChunks(ids, queue: queue, of: "delete", QueueScripts.delete)
    }

    /// Deletes the given jobs of `queue` unless they are running; returns how many were deleted. (``delete(_:queue:)``
    /// deletes running ones too.)
    @discardableResult
    public func deleteIdle(_ ids: [String], queue: String) async throws -> Int {
        try await countInChunks(ids, queue: queue, of: "deleteIdle", QueueScripts.deleteIdle)
    }

    /// Moves the given waiting jobs (scheduled, ready or retrying) of `queue` to dead, as an operator's
    /// decision; returns how many moved. Running and finished jobs are left alone (cancel a running one).
    @discardableResult
    public func moveToDead(_ ids: [String], queue: String) async throws -> Int {
        try await countInChunks(ids, queue: queue, of: "bury", QueueScripts.bury)
    }

    /// Ids of `queue`'s jobs in `state`, newest first (highest score first: latest finish or due time, last
    /// in run order for `ready`), `limit` from `offset`; and how many the state holds. One round trip.
    public func ids(_ queue: String, state: JobState, newestFirst offset: Int, limit: Int) async throws -> (ids: [String], total: Int) {
        let set = stateSet(queue, state)
        let replies = try await redis.pipeline([
            RedisCommand("ZREVRANGE", set, offset, offset + max(limit, 1) - 1).allowingReplica(), RedisCommand("ZCARD", set).allowingReplica(),
        ])
        if case .error(let text) = replies[0] { throw RedisError.server(text) }
        return ((replies[0].array ?? []).compactMap(\.string), replies[1].int ?? 0)
    }

    /// Records of the given ids of `queue`, in order; missing ones (expired, deleted) left out. One round trip.
    public func records(_ ids: [String], queue: String) async throws -> [JobRecord] {
        guard !ids.isEmpty else { return [] }
        let k = keys(queue)
        let replies = try await redis.pipeline(ids.map { RedisCommand("HGETALL", k.job($0)).allowingReplica() })
        return zip(ids, replies).compactMap { JobRecord(id: $0, queue: queue, hash: $1) }
    }

    /// The sorted set that holds `queue`'s jobs in `state`.
    public func stateSet(_ queue: String, _ state: JobState) -> String {
        let k = keys(queue)
        switch state {
        case .scheduled: return k.scheduled
        case .ready: return k.ready
        case .active: return k.active
        case .retrying: return k.retrying
        case .completed: return k.completed
        case .dead: return k.dead
        case .canceled: return k.canceled
        }
    }

    /// Runs a per-id script over `ids` in chunks of at most 1,000 (one call each, so that Redis serves other clients
    /// in between) and sums the counts they reply.
    private func countInChunks(
        _ ids: [String], queue: String, of name: String, _ call: (QueueKeys, ArraySlice<String>) -> RedisScriptCall
    ) async throws -> Int {
        let k = keys(queue)
        var total = 0
        for start in stride(from: 0, to: ids.count, by: Self.defaultChunk) {
            let chunk = ids[start..<min(ids.count, start + Self.defaultChunk)]
            total += try QueueScripts.count(try await redis.run(call(k, chunk)), of: name)
        }
        return total
    }

    /// Sets how long finished jobs of `queue` are kept; every node applies it from the next transition.
    public func setRetention(queue: String, completed: RetentionPolicy? = nil, dead: RetentionPolicy? = nil, canceled: RetentionPolicy? = nil) async throws {
        var fields: [String] = []
        for (name, policy) in [("completed", completed), ("dead", dead), ("canceled", canceled)] {
            guard let policy else { continue }
            fields += ["\(name)Count", String(policy.count), "\(name)AgeMs", String(policy.age.milliseconds)]
        }
        guard !fields.isEmpty else { return }
        _ = try await redis.send(RedisCommand("HSET", strings: [keys(queue).config] + fields))
    }
}

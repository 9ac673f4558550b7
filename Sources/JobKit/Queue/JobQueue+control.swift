import NIOCore

/// What became of one cancel request.
public enum CancelOutcome: String, Sendable, Codable {
    /// The job was waiting and is now `canceled`.
    case canceled
    /// The job is running; its node was told to cancel it (it ends `canceled`, not retried).
    case requested
    /// The job had already finished: nothing to do.
    case alreadyFinished
    /// No such job.
    case notFound
}

extension JobQueue {
    /// Cancels a job by id (looked up among known queues when `queue` is nil).
    ///
    /// A waiting job (`scheduled`, `ready`, `retrying`) becomes `canceled` at once. A running job gets a
    /// cancel request that reaches its node through the control channel and, should that message be lost,
    /// through the node's next heartbeat; the node cancels the job's `Task`.
    public func cancel(_ id: String, queue: String? = nil) async throws -> CancelOutcome {
        let candidates: [String]
        if let queue { candidates = [queue] } else { candidates = try await queueNames() }
        for q in candidates {
            let k = keys(q)
            let reply = try await redis.run(QueueScripts.cancel(k, ids: [id]))
            switch try QueueScripts.CancelStatus.parse(reply).first {
            case .canceled: return .canceled
            case .requested(let node):
                try await requestCancel(jobs: [(id, node)], queue: q)
                return .requested
            case .finished: return .alreadyFinished
            case .missing, nil: continue
            }
        }
        return .notFound
    }

    /// Cancels every waiting job of `queue`; returns how many were canceled.
    ///
    /// The work goes in chunks of at most 1,000 jobs, one script call each, so that Redis serves other
    /// clients in between even for a queue of millions. Jobs enqueued while it runs may or may not be
    /// canceled.
    @discardableResult
    public func cancelWaiting(queue: String) async throws -> Int {
        try await cancelWaiting(queue: queue, chunk: Self.defaultChunk).canceled
    }

    func cancelWaiting(queue: String, chunk: Int) async throws -> (canceled: Int, walk: ChunkedWalk) {
        let k = keys(queue)
        var canceled = 0
        let walk = try await walkInChunks(
            chunk: chunk, { QueueScripts.cancelMany(k, tenant: nil, chunk: $0, from: $1) },
            reply: QueueScripts.CanceledChunk.parse
        ) { canceled += $0.canceled }
        return (canceled, walk)
    }

    /// Cancels every job of `tenant` in every queue: waiting ones at once, running ones by request.
    /// Returns (canceled, requested). Like ``cancelWaiting(queue:)``, it goes in chunks of at most 1,000 jobs.
    ///
    /// - Throws: `QueueError` `invalidOptions` for an empty tenant; `RedisError`.
    public func cancelTenant(_ tenant: String) async throws -> (canceled: Int, requested: Int) {
        let result = try await cancelTenant(tenant, chunk: Self.defaultChunk)
        return (result.canceled, result.requested)
    }

    func cancelTenant(_ tenant: String, chunk: Int) async throws -> (canceled: Int, requested: Int, calls: Int) {
        guard !tenant.isEmpty else { throw QueueError(.invalidOptions, "tenant is empty") }
        var canceled = 0
        var requested = 0
        var calls = 0
        for q in try await queueNames() {
            let k = keys(q)
            var told = Set<String>()
            let walk = try await walkInChunks(
                chunk: chunk, { QueueScripts.cancelMany(k, tenant: tenant, chunk: $0, from: $1) },
                reply: QueueScripts.CanceledChunk.parse
            ) { step in
                canceled += step.canceled
                // A job can come up twice when the walk's cursor vanished; tell its node once.
                let running = step.running.filter { told.insert($0.id).inserted }
                if !running.isEmpty { try await self.requestCancel(jobs: running, queue: q) }
            }
            requested += told.count
            calls += walk.calls
        }
        return (canceled, requested, calls)
    }

    /// Tells each running job's node to cancel it: pub/sub now, and the node's cancel set for its next
    /// heartbeat in case the message is lost.
    func requestCancel(jobs: [(id: String, node: String)], queue: String) async throws {
        let nodeKeys = NodeKeys(namespace: namespace)
        var commands: [RedisCommand] = []
        for (id, node) in jobs where !node.isEmpty {
            commands.append(RedisCommand("SADD", nodeKeys.cancels(node), id))
            commands.append(RedisCommand("PEXPIRE", nodeKeys.cancels(node), 60_000))
            let message = ControlMessage(type: .cancel, node: node, job: id, queue: queue)
            commands.append(RedisCommand("PUBLISH", nodeKeys.controlChannel, message.encoded))
        }
        _ = try await redis.pipeline(commands)
    }

    /// Frees an idempotency key that job `id` still holds, so the next enqueue with the key makes a new job.
    ///
    /// This gives "unique while pending" (Sidekiq's `unique_until: :start`): a job that calls it when it starts
    /// lets an enqueue that arrives while it runs make a new job, instead of folding into the running one (a sync
    /// must run again for changes that arrive during the current one). The job's record forgets the key too, so
    /// its later removal by retention leaves the new holder's key alone. Returns whether the key was freed.
    @discardableResult
    public func releaseIdempotencyKey(_ key: String, queue: String, heldBy id: String) async throws -> Bool {
        try await redis.run(Self.releaseIdempotencyScript, keys: [keys(queue).prefix], arguments: [key, id]).int == 1
    }

    /// KEYS[1] = the queue's key prefix; ARGV = idempotency key, job id. Reply: 1 when freed.
    static let releaseIdempotencyScript = RedisScript(
        """
        local P = KEYS[1]
        local idem = P .. 'idem:' .. ARGV[1]
        if redis.call('GET', idem) ~= ARGV[2] then return 0 end
        redis.call('DEL', idem)
        redis.call('HDEL', P .. 'job:' .. ARGV[2], 'idem')
        return 1
        """)

    /// Pauses `queue`: no node claims from it until ``resume(queue:)``; running jobs finish.
    public func pause(queue: String) async throws {
        _ = try await redis.send(RedisCommand("SET", keys(queue).paused, "1"))
    }

    /// Resumes a paused queue and wakes idle nodes.
    public func resume(queue: String) async throws {
        let k = keys(queue)
        _ = try await redis.pipeline([
            RedisCommand("DEL", k.paused), RedisCommand("LPUSH", k.wake, "1"), RedisCommand("LTRIM", k.wake, 0, 0),
        ])
    }

    /// Deletes every waiting job of `queue`; returns how many.
    ///
    /// The work goes in chunks of at most 1,000 jobs, one script call each, so that Redis serves other
    /// clients in between even for a queue of millions. Jobs enqueued while it runs may or may not be deleted.
    @discardableResult
    public func purge(queue: String) async throws -> Int {
        try await purge(queue: queue, chunk: Self.defaultChunk).deleted
    }

    func purge(queue: String, chunk: Int) async throws -> (deleted: Int, walk: ChunkedWalk) {
        let k = keys(queue)
        var deleted = 0
        let walk = try await walkInChunks(
            chunk: chunk, { QueueScripts.purge(k, chunk: $0, from: $1) },
            reply: { try QueueScripts.countChunk($0, of: "purge") }
        ) { deleted += $0 }
        return (deleted, walk)
    }

    /// Removes the finished jobs of `queue` (`completed`, `dead`, `canceled`) that are older than the
    /// queue's retention age (``setRetention(queue:completed:dead:canceled:)``, else the defaults), and
    /// their records; returns how many.
    ///
    /// Finishing a job trims its set by count; this trims by age. Run it periodically (the node's reaper
    /// does). It goes in chunks of at most 1,000 jobs, one script call each.
    ///
    /// - Throws: `RedisError`.
    @discardableResult
    public func trimFinished(queue: String) async throws -> Int {
        try await trimFinished(queue: queue, chunk: Self.defaultChunk).removed
    }

    func trimFinished(queue: String, chunk: Int) async throws -> (removed: Int, calls: Int, largestCall: Int) {
        let k = keys(queue)
        var removed = 0
        var calls = 0
        var largest = 0
        while true {
            let trimmed = try QueueScripts.Trimmed(try await redis.run(QueueScripts.trimTerminal(k, chunk: chunk)))
            calls += 1
            removed += trimmed.removed
            largest = max(largest, trimmed.removed)
            if !trimmed.more { return (removed, calls, largest) }
        }
    }

    /// The jobs running now in every queue: id, name, queue, node, start and lease deadline.
    public func activeJobs() async throws -> [ActiveJob] {
        var out: [ActiveJob] = []
        for q in try await queueNames() {
            let k = keys(q)
            let reply = try await redis.send(RedisCommand("ZRANGE", k.active, 0, -1, "WITHSCORES"))
            let entries = reply.pairs.map { ($0.key, Int64($0.value.double ?? 0)) }
            guard !entries.isEmpty else { continue }
            let replies = try await redis.pipeline(
                entries.map { RedisCommand("HMGET", k.job($0.0), "name", "node", "startedAt", "attempts", "tenant") })
            for ((id, deadline), reply) in zip(entries, replies) {
                let f = reply.array ?? []
                guard f.count == 5, let name = f[0].string else { continue }
                out.append(
                    ActiveJob(
                        id: id, name: name, queue: q, node: f[1].string ?? "", startedAtMs: Int64(f[2].int ?? 0),
                        leaseDeadlineMs: deadline, attempts: f[3].int ?? 0, tenant: f[4].string))
            }
        }
        return out
    }
}

/// A running job, as `jobnode inspect active --json` prints it.
public struct ActiveJob: Sendable, Codable, Equatable {
    public var id: String
    public var name: String
    public var queue: String
    public var node: String
    public var startedAtMs: Int64
    public var leaseDeadlineMs: Int64
    public var attempts: Int
    public var tenant: String?
}

/// How a chunked script went over its sets: how many calls, and the most entries one call visited.
struct ChunkedWalk: Sendable {
    var calls = 0
    var largestCall = 0
    var visited = 0
}

extension JobQueue {
    /// Entries one call of a whole-set script visits at most.
    static let defaultChunk = 1000

    /// Runs the calls `call(chunk, cursor)` builds (of a script built on ``QueueScripts/walkFunction``),
    /// from ``QueueScripts/WalkCursor/start``, until a reply reports that every set was walked, handing what
    /// each chunk did (parsed by `reply`) to `each`.
    func walkInChunks<Body: Sendable>(
        chunk: Int, _ call: (_ chunk: Int, _ cursor: QueueScripts.WalkCursor) -> RedisScriptCall,
        reply parse: (RESPValue) throws -> QueueScripts.Chunk<Body>, _ each: (Body) async throws -> Void
    ) async throws -> ChunkedWalk {
        precondition(chunk >= 1, "chunk must be at least 1")
        var walk = ChunkedWalk()
        var cursor = QueueScripts.WalkCursor.start
        while true {
            let step = try parse(try await redis.run(call(chunk, cursor)))
            walk.calls += 1
            walk.visited += step.visited
            walk.largestCall = max(walk.largestCall, step.visited)
            try await each(step.body)
            if step.next.isDone { return walk }
            cursor = step.next
        }
    }
}

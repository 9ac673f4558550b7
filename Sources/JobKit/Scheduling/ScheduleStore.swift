import NIOCore

/// A schedule with its state, as `jobnode schedules list --json` prints it.
public struct ScheduleInfo: Sendable, Codable, Equatable {
    public var name: String
    public var schedule: Schedule
    /// The next tick (ms since the Unix epoch), nil when disabled or finished.
    public var nextRunMs: Int64?
    public var lastRunMs: Int64?
    public var lastJobId: String?
}

/// Reads and changes the schedules stored in Redis.
public struct ScheduleStore: Sendable {
    public let redis: RedisPool
    public let namespace: String

    public init(redis: RedisPool, namespace: String = "jobkit") {
        self.redis = redis
        self.namespace = namespace
    }

    func keys(_ queue: String) -> QueueKeys { QueueKeys(namespace: namespace, queue: queue) }
    var index: String { QueueKeys.scheduleIndex(namespace: namespace) }

    /// Syncs the schedules the code declares (a node's default schedules): adds new ones and updates changed ones;
    /// a schedule keeps its next tick unless its trigger, start, end or DST flag changed. One an operator changed
    /// since (``save(_:)``: re-timed, disabled, enabled) is theirs and is left as it is: `kept`. Returns each name's
    /// outcome (`added`, `updated`, `unchanged`, `kept`).
    @discardableResult
    public func sync(_ schedules: [Schedule]) async throws -> [String: String] {
        var outcomes: [String: String] = [:]
        for schedule in schedules { outcomes[schedule.name] = try await save(schedule, byOperator: false) }
        return outcomes
    }

    /// Adds or updates one schedule as an operator does (`jobnode schedules add|enable|disable`): from now on the
    /// code's ``sync(_:)`` leaves it alone. Removing it hands it back to the code: a node's next sync adds the
    /// code's version again.
    @discardableResult
    public func save(_ schedule: Schedule) async throws -> String {
        try await save(schedule, byOperator: true)
    }

    private func save(_ schedule: Schedule, byOperator: Bool) async throws -> String {
        try schedule.validate()
        let oldQueue = try await redis.send(RedisCommand("HGET", index, schedule.name)).string
        if !byOperator, let oldQueue,
            try await redis.send(RedisCommand("HGET", keys(oldQueue).scheduleState(schedule.name), "operator")).string == "1"
        {
            return ScheduleScripts.UpsertOutcome.kept.rawValue
        }
        // A schedule that moves to another queue leaves the old queue's keys.
        if let oldQueue, oldQueue != schedule.queue {
            let old = keys(oldQueue)
            _ = try await redis.run(ScheduleScripts.remove(old, name: schedule.name))
        }
        let now = try await redis.timeMilliseconds()
        let k = keys(schedule.queue)
        let outcome = try ScheduleScripts.UpsertOutcome(
            try await redis.run(ScheduleScripts.upsert(k, schedule: schedule, nextTick: schedule.nextTick(after: now), byOperator: byOperator)))
        if outcome == .kept { return outcome.rawValue }
        _ = try await redis.pipeline([
            RedisCommand("HSET", index, schedule.name, schedule.queue),
            RedisCommand("SADD", QueueKeys.queueSet(namespace: namespace), schedule.queue),
        ])
        try await wakeSchedulers()
        return outcome.rawValue
    }

    /// Removes a schedule; returns false if there was none.
    @discardableResult
    public func remove(_ name: String) async throws -> Bool {
        guard let queue = try await queue(of: name) else { return false }
        let k = keys(queue)
        let removed = ScheduleScripts.removed(try await redis.run(ScheduleScripts.remove(k, name: name)))
        _ = try await redis.send(RedisCommand("HDEL", index, name))
        try await wakeSchedulers()
        return removed
    }

    /// Enables or disables a schedule (an enabled one gets its next tick from now).
    public func setEnabled(_ name: String, _ enabled: Bool) async throws {
        guard var info = try await get(name) else { throw ScheduleError("no schedule '\(name)'") }
        info.schedule.enabled = enabled
        try await save(info.schedule)
    }

    /// Enqueues the schedule's job now, outside its ticks; returns the job's id.
    public func trigger(_ name: String, using queue: JobQueue) async throws -> String {
        guard let info = try await get(name) else { throw ScheduleError("no schedule '\(name)'") }
        let s = info.schedule
        var options = EnqueueOptions(queue: s.queue, priority: s.priority, maxAttempts: s.maxAttempts)
        options.timeout = s.timeoutMs.map { .milliseconds($0) }
        options.correlationID = "schedule:\(name)"
        // Into the schedule's own queue, as its ticks go (routes do not apply: `lastJobId` and overlap are per queue).
        let direct = JobQueue(redis: queue.redis, namespace: queue.namespace, maxPayloadBytes: queue.maxPayloadBytes, routes: .none, logger: queue.logger)
        let handle = try await direct.enqueue(JobQueue.Job(name: s.job, payload: ByteBuffer(string: s.payload), options: options))
        _ = try await redis.send(RedisCommand("HSET", keys(s.queue).scheduleState(name), "lastJobId", handle.id))
        return handle.id
    }

    func queue(of name: String) async throws -> String? {
        try await redis.send(RedisCommand("HGET", index, name)).string
    }

    /// One schedule with its state.
    public func get(_ name: String) async throws -> ScheduleInfo? {
        guard let queue = try await queue(of: name) else { return nil }
        return try await infos(queue: queue, names: [name]).first
    }

    /// Every schedule, sorted by name.
    public func list() async throws -> [ScheduleInfo] {
        var byQueue: [String: [String]] = [:]
        for (name, queue) in try await redis.send(RedisCommand("HGETALL", index)).pairs {
            if let queue = queue.string { byQueue[queue, default: []].append(name) }
        }
        var out: [ScheduleInfo] = []
        for (queue, names) in byQueue { out += try await infos(queue: queue, names: names) }
        return out.sorted { $0.name < $1.name }
    }

    private func infos(queue: String, names: [String]) async throws -> [ScheduleInfo] {
        let k = keys(queue)
        var commands: [RedisCommand] = []
        for name in names {
            commands.append(RedisCommand("HGET", k.schedules, name))
            commands.append(RedisCommand("ZSCORE", k.schedulesDue, name))
            commands.append(RedisCommand("HMGET", k.scheduleState(name), "lastRunMs", "lastJobId"))
        }
        let replies = try await redis.pipeline(commands)
        var out: [ScheduleInfo] = []
        for (n, name) in names.enumerated() {
            guard let text = replies[3 * n].string, let schedule = Schedule.decode(text) else { continue }
            let state = replies[3 * n + 2].array ?? []
            out.append(
                ScheduleInfo(
                    name: name, schedule: schedule, nextRunMs: replies[3 * n + 1].double.map { Int64($0) },
                    lastRunMs: state.first?.int.map(Int64.init), lastJobId: state.count > 1 ? state[1].string : nil))
        }
        return out
    }

    /// Wakes every scheduler loop so that it re-reads the schedules at once.
    func wakeSchedulers() async throws {
        let wake = QueueKeys.schedulerWake(namespace: namespace)
        _ = try await redis.pipeline([RedisCommand("LPUSH", wake, "1"), RedisCommand("LTRIM", wake, 0, 63)])
    }
}

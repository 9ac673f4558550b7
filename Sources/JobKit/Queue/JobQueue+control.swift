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
            let reply = try await redis.run(QueueScripts.cancel, keys: [k.ready], arguments: [k.prefix, id])
            guard let entry = reply.array?.first?.array, let status = entry.first?.string else { continue }
            switch status {
            case "canceled": return .canceled
            case "requested":
                try await requestCancel(jobs: [(id, entry[1].string ?? "")], queue: q)
                return .requested
            case "finished": return .alreadyFinished
            default: continue
            }
        }
        return .notFound
    }

    /// Cancels every waiting job of `queue`; returns how many were canceled.
    @discardableResult
    public func cancelWaiting(queue: String) async throws -> Int {
        let k = keys(queue)
        let reply = try await redis.run(QueueScripts.cancelMany, keys: [k.ready], arguments: [k.prefix, ""])
        return reply.array?.first?.int ?? 0
    }

    /// Cancels every job of `tenant` in every queue: waiting ones at once, running ones by request.
    /// Returns (canceled, requested).
    public func cancelTenant(_ tenant: String) async throws -> (canceled: Int, requested: Int) {
        var canceled = 0
        var requested = 0
        for q in try await queueNames() {
            let k = keys(q)
            let reply = try await redis.run(QueueScripts.cancelMany, keys: [k.ready], arguments: [k.prefix, tenant])
            guard let parts = reply.array, parts.count == 2 else { continue }
            canceled += parts[0].int ?? 0
            let running = parts[1].pairs.map { ($0.key, $0.value.string ?? "") }
            if !running.isEmpty { try await requestCancel(jobs: running, queue: q) }
            requested += running.count
        }
        return (canceled, requested)
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
    @discardableResult
    public func purge(queue: String) async throws -> Int {
        let k = keys(queue)
        return try await redis.run(QueueScripts.purge, keys: [k.ready], arguments: [k.prefix]).int ?? 0
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

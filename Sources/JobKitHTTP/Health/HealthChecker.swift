import JobKit
import Logging

/// Runs the checks behind `/health/ready` and `/health/detailed` on a pool of its own whose commands time out
/// after ``commandTimeout``, so that a hung Redis makes the report say `down` within 2 s instead of hanging
/// it. The parts are read concurrently; each reads with at most three round trips.
public struct HealthChecker: Sendable {
    /// The pool the checks use (one connection, short timeouts).
    public let redis: RedisPool
    /// The pool whose connections the report counts (the server's own).
    public let servedPool: RedisPool
    public let namespace: String
    /// Checked besides Redis (PostgreSQL when the node has a database).
    public let dependencies: [any HealthDependency]
    /// Each health command's timeout (connect included).
    public static let commandTimeout: Duration = .milliseconds(500)

    /// - Parameters:
    ///   - configuration: the server's Redis configuration; the checker's pool copies it with short timeouts.
    ///   - servedPool: the pool whose connected connections the report counts.
    ///   - dependencies: checked besides Redis, each with ``commandTimeout`` as its deadline.
    public init(
        configuration: RedisConfiguration, servedPool: RedisPool, namespace: String, dependencies: [any HealthDependency] = []
    ) {
        var config = configuration
        config.commandTimeout = Self.commandTimeout
        config.connectTimeout = Self.commandTimeout
        config.clientName = (configuration.clientName ?? "jobkit") + "-health"
        self.redis = RedisPool(configuration: config, size: 1)
        self.servedPool = servedPool
        self.namespace = namespace
        self.dependencies = dependencies
    }

    /// Why `/health/ready` says no: the dependency and what happened.
    public struct NotReady: Error, Sendable {
        /// `redis` or a dependency's name.
        public var dependency: String
        public var message: String
    }

    /// Succeeds when Redis answers a `PING` within the timeout, and every dependency its check.
    public func ready() async -> Result<Void, NotReady> {
        async let redisAnswer: NotReady? = {
            do {
                try await redis.ping()
                return nil
            } catch {
                return NotReady(dependency: "redis", message: Self.describe(error))
            }
        }()
        var failures: [NotReady] = []
        for part in await dependencyParts() where !part.health.isUp {
            failures.append(NotReady(dependency: part.name, message: part.health.error ?? part.health.status))
        }
        if let redisFailure = await redisAnswer { failures.insert(redisFailure, at: 0) }
        return failures.first.map { .failure($0) } ?? .success(())
    }

    /// Every dependency's check, concurrently, each with its deadline.
    func dependencyParts() async -> [(name: String, health: DependencyHealth)] {
        await withTaskGroup(of: (Int, String, DependencyHealth).self) { group in
            for (i, dependency) in dependencies.enumerated() {
                group.addTask {
                    (i, dependency.name, await DependencyHealth.checkWithDeadline(dependency, timeout: Self.commandTimeout))
                }
            }
            var parts: [(Int, String, DependencyHealth)] = []
            for await part in group { parts.append(part) }
            return parts.sorted { $0.0 < $1.0 }.map { ($0.1, $0.2) }
        }
    }

    /// Every check, concurrently.
    public func detailed() async -> HealthReport {
        let clock = ContinuousClock()
        let start = clock.now
        async let redisPart = redisCheck()
        async let queuesPart = queuesCheck()
        async let nodesPart = nodesCheck()
        async let schedulesPart = schedulerCheck()
        async let dependencyPart = dependencyParts()
        async let circuitsPart = circuitsCheck()
        let r = await redisPart
        let q = await queuesPart
        let (n, nodeCount) = await nodesPart
        var s = await schedulesPart
        s.running = nodeCount > 0
        let deps = await dependencyPart
        let circuits = await circuitsPart
        var status = [r.status, q.status, n.status, s.status].max() ?? .ok
        // An open breaker: a dependency is treated as down; the node works on (degraded).
        if circuits.values.contains(where: { $0.state != "closed" }) { status = max(status, .degraded) }
        // A database that does not answer degrades the node (jobs that need it fail and retry); Redis down is down.
        if deps.contains(where: { !$0.health.isUp }) { status = max(status, .degraded) }
        if r.status == .down { status = .down }
        return HealthReport(
            status: status, durationMs: Self.milliseconds(clock.now - start), redis: r,
            postgres: deps.first { $0.name == "postgres" }?.health ?? .notConfigured, circuits: circuits, scheduler: s,
            nodes: n, queues: q)
    }

    func redisCheck() async -> HealthReport.RedisPart {
        let pool = HealthReport.RedisPart.Pool(size: servedPool.size, connected: servedPool.connectedCount)
        do {
            let health = try await redis.healthCheck()
            let replies = try await redis.pipeline([
                RedisCommand("CONFIG", "GET", "save"), RedisCommand("CONFIG", "GET", "appendonly"),
            ])
            let save = replies[0].array.flatMap { $0.count == 2 ? $0[1].string : nil } ?? ""
            let aof = replies[1].array.flatMap { $0.count == 2 ? $0[1].string : nil } == "yes"
            let persistence = HealthReport.RedisPart.Persistence(rdb: !save.isEmpty, aof: aof, enabled: !save.isEmpty || aof)
            var warnings: [String] = []
            if health.maxMemoryPolicy != "noeviction" {
                warnings.append("maxmemory-policy is \(health.maxMemoryPolicy), not noeviction: Redis may evict job keys")
            }
            if !persistence.enabled { warnings.append("persistence is off (no RDB, no AOF): a Redis restart loses every queued job") }
            return HealthReport.RedisPart(
                status: warnings.isEmpty ? .ok : .degraded, latencyMs: Self.milliseconds(health.latency), role: health.role,
                version: health.version, usedMemoryBytes: health.usedMemoryBytes, maxmemoryPolicy: health.maxMemoryPolicy,
                persistence: persistence, pool: pool, warnings: warnings, error: nil)
        } catch {
            return HealthReport.RedisPart(
                status: .down, latencyMs: nil, role: nil, version: nil, usedMemoryBytes: nil, maxmemoryPolicy: nil,
                persistence: nil, pool: pool, warnings: [], error: Self.describe(error))
        }
    }

    func queuesCheck() async -> HealthReport.QueuesPart {
        let queue = JobQueue(redis: redis, namespace: namespace)
        do {
            let queues = try await queue.snapshots().map { s -> HealthReport.QueuesPart.Queue in
                let c = s.counts
                return .init(
                    name: c.name, ready: c.ready, scheduled: c.scheduled, retrying: c.retrying, active: c.active, dead: c.dead,
                    oldestReadyAgeMs: s.oldestReadyAgeMs, paused: c.paused)
            }
            return .init(status: .ok, queues: queues, error: nil)
        } catch {
            return .init(status: .degraded, queues: [], error: Self.describe(error))
        }
    }

    /// Every live node's published breakers, by service (empty when they can't be read).
    func circuitsCheck() async -> [String: HealthReport.CircuitPart] {
        guard let published = try? await BreakerBoard.read(redis: redis, namespace: namespace) else { return [:] }
        let rank = ["closed": 0, "half-open": 1, "open": 2]
        var parts: [String: HealthReport.CircuitPart] = [:]
        for p in published {
            let s = p.snapshot
            var part = parts[s.service] ?? .init(state: "closed", failureRate: 0, calls: 0, openedAtMs: nil, nextAttemptAtMs: nil, nodes: [:])
            if rank[s.state.rawValue, default: 0] > rank[part.state, default: 0] { part.state = s.state.rawValue }
            part.failureRate = max(part.failureRate, s.failureRate)
            part.calls += s.calls
            if let o = s.openedAtMs { part.openedAtMs = max(part.openedAtMs ?? 0, o) }
            if let n = s.nextAttemptAtMs { part.nextAttemptAtMs = max(part.nextAttemptAtMs ?? 0, n) }
            part.nodes[p.node] = s.state.rawValue
            parts[s.service] = part
        }
        return parts
    }

    func nodesCheck() async -> (HealthReport.NodesPart, Int) {
        do {
            let nodes = try await NodeRegistry(redis: redis, namespace: namespace).nodes()
            let now = try await redisNowMs()
            let entries = nodes.map {
                HealthReport.NodesPart.Node(
                    id: $0.id, name: $0.name, busy: $0.busy, concurrency: $0.concurrency,
                    heartbeatAgeMs: max(0, now - $0.lastHeartbeatMs))
            }
            return (.init(status: .ok, live: nodes.count, nodes: entries, error: nil), nodes.count)
        } catch {
            return (.init(status: .degraded, live: 0, nodes: [], error: Self.describe(error)), 0)
        }
    }

    func schedulerCheck() async -> HealthReport.SchedulerPart {
        do {
            let schedules = try await ScheduleStore(redis: redis, namespace: namespace).list()
            let enabled = schedules.filter(\.schedule.enabled)
            return .init(
                status: .ok, running: false, schedules: schedules.count, enabledSchedules: enabled.count,
                nextDueMs: enabled.compactMap(\.nextRunMs).min(), error: nil)
        } catch {
            return .init(status: .degraded, running: false, schedules: 0, enabledSchedules: 0, nextDueMs: nil, error: Self.describe(error))
        }
    }

    /// Redis `TIME` in ms (heartbeats are stamped with it, so ages never mix clocks).
    func redisNowMs() async throws -> Int64 {
        let t = try await redis.send(RedisCommand("TIME")).array ?? []
        guard t.count == 2, let s = t[0].int, let us = t[1].int else { throw RedisError(.unexpectedReply, "TIME reply") }
        return Int64(s) * 1000 + Int64(us) / 1000
    }

    static func milliseconds(_ d: Duration) -> Double {
        let (s, a) = d.components
        return (Double(s) * 1000 + Double(a) / 1e15).rounded(toPlaces: 3)
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? RedisError { return "\(e.code): \(e.message)" }
        return "\(error)"
    }
}

extension Double {
    func rounded(toPlaces places: Int) -> Double {
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        return (self * scale).rounded() / scale
    }
}

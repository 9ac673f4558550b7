import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// A whole node: one identity, one Redis pool, and the services built from one configuration — the
/// ``Worker``, its ``NodeAgent`` (heartbeats, leases, control), the ``Scheduler`` — plus any extra
/// services the application hands it (an HTTP server, a PostgreSQL client, cache warmers), all run in one
/// `ServiceGroup` with a defined shutdown order:
///
/// 1. intake services (``Role/intake``, e.g. an HTTP server) stop accepting;
/// 2. the worker stops claiming, lets running jobs finish within the grace period and hands the rest
///    back, while the agent keeps beating and renewing;
/// 3. the scheduler, the reaper and the agent stop (the node deregisters);
/// 4. dependencies (``Role/dependency``, e.g. a database client) stop last, after every job ended.
///
/// `jobnode run` is flags → ``Configuration`` → this type.
public final class JobNode: Sendable {
    /// Where an extra service sits in the shutdown order.
    public enum Role: Sendable {
        /// Takes work in (HTTP, webhooks): stopped first.
        case intake
        /// Used by jobs (database, HTTP clients): started first, stopped after the worker.
        case dependency
    }

    /// Everything a node needs.
    public struct Configuration: Sendable {
        public var redis: RedisConfiguration
        public var namespace: String = "jobkit"
        /// Queues, concurrency, leases; its `nodeID` is the node's identity.
        public var worker: WorkerOptions
        /// Name, host, heartbeat and dead-node timings.
        public var node: NodeAgent.Options
        /// Run the schedule loop on this node.
        public var runsScheduler = true
        /// Schedules synced at start (new ones added, changed ones updated without resetting next ticks).
        public var defaultSchedules: [Schedule] = []
        /// Connections in the node's pool.
        public var poolSize = 2
        /// Signals that start a graceful shutdown.
        public var shutdownSignals: [UnixSignal] = [.sigterm, .sigint]

        public init(redis: RedisConfiguration, worker: WorkerOptions, node: NodeAgent.Options) {
            self.redis = redis
            self.worker = worker
            self.node = node
        }

        /// Checks that the parts' timings work together (worker and agent).
        ///
        /// - Throws: `QueueError` `.invalidOptions`.
        public func validate() throws {
            var worker = worker
            worker.leasesRenewedByNode = true
            worker.renewInterval = node.heartbeatInterval
            try worker.validate()
            try node.validate()
        }
    }

    public let configuration: Configuration
    /// This process's node id (unique per start).
    public var nodeID: String { worker.options.nodeID }
    /// The node's pool, for services and jobs that use Redis.
    public let redis: RedisPool
    public let worker: Worker
    public let agent: NodeAgent
    let reaper: Reaper
    let logger: Logger
    private let extras: [(service: any Service, role: Role)]
    private let group = GroupBox()
    /// Set by ``triggerGracefulShutdown()``, also before the group exists.
    private let shutdownRequested = Atomic<Bool>(false)

    /// Builds the node's parts. Nothing runs until ``run()``.
    ///
    /// - Parameters:
    ///   - registry: the job handlers (the diagnostic `jobkit.*` jobs are added).
    ///   - services: extra services and their place in the shutdown order.
    /// - Throws: `QueueError` `.invalidOptions` for options that don't work together.
    public init(
        configuration: Configuration, registry: JobRegistry, services: [(any Service, Role)] = [],
        logger: Logger = Logger(label: "jobkit.node")
    ) throws {
        try configuration.validate()
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "node.id"] = "\(configuration.worker.nodeID)"
        self.logger = logger
        let pool = RedisPool(configuration: configuration.redis, size: configuration.poolSize)
        self.redis = pool
        var options = configuration.worker
        options.leasesRenewedByNode = true
        options.renewInterval = configuration.node.heartbeatInterval
        let worker = try Worker(redis: pool, registry: registry, options: options, namespace: configuration.namespace, logger: logger)
        self.worker = worker
        let group = self.group
        self.agent = try NodeAgent(
            redis: pool, worker: worker, options: configuration.node, namespace: configuration.namespace, logger: logger
        ) { _ in
            Task { await group.value?.triggerGracefulShutdown() }
        }
        var reaper = Reaper(
            redis: pool, namespace: configuration.namespace, logger: logger, pauseThresholdMs: worker.leases.pauseThresholdMs,
            maxExpiries: options.maxLeaseExpiries)
        reaper.queues = options.queues.map(\.name)
        reaper.interval = options.reapInterval
        self.reaper = reaper
        self.extras = services.map { (service: $0.0, role: $0.1) }
    }

    /// Checks Redis, syncs the default schedules, then runs every service until graceful shutdown (a
    /// signal, ``triggerGracefulShutdown()``, a remote shutdown or drain, or the end of a burst run).
    ///
    /// - Throws: `RedisError` when Redis is unreachable at start; a service's error.
    public func run() async throws {
        let health = try await redis.healthCheck()
        try await RedisRequirements.check(redis)
        logger.notice(
            "Node starting",
            metadata: [
                "node.name": "\(configuration.node.name)",
                "queues": "\(configuration.worker.queues.map { "\($0.name):\($0.weight)" }.joined(separator: ","))",
                "concurrency": "\(configuration.worker.concurrency)", "redis": "\(redis.configuration.url)",
                "redis.version": "\(health.version)",
            ])
        await RedisSafety.warnIfUnsafe(redis, health: health, logger: logger)
        // Registered before the first claim: whoever sees this node's jobs running can address the node.
        await agent.beat()
        typealias Entry = ServiceGroupConfiguration.ServiceConfiguration
        // ServiceGroup starts services in order and shuts them down in reverse order.
        var services: [Entry] = extras.filter { $0.role == .dependency }.map { Entry(service: $0.service) }
        services.append(Entry(service: agent))
        services.append(Entry(service: reaper))
        if configuration.runsScheduler {
            let store = ScheduleStore(redis: redis, namespace: configuration.namespace)
            try await store.sync(configuration.defaultSchedules)
            services.append(Entry(service: Scheduler(store: store, logger: logger)))
        }
        services.append(Entry(service: worker, successTerminationBehavior: .gracefullyShutdownGroup))
        services += extras.filter { $0.role == .intake }.map { Entry(service: $0.service) }
        let serviceGroup = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: configuration.shutdownSignals, logger: logger))
        group.set(serviceGroup)
        // A shutdown asked for before the group existed (a SIGTERM while the node checked Redis or synced its
        // schedules) is handed to it now: it starts the services and shuts them down at once.
        if shutdownRequested.load(ordering: .sequentiallyConsistent) { await serviceGroup.triggerGracefulShutdown() }
        do {
            try await serviceGroup.run()
        } catch {
            await redis.close()
            throw error
        }
        let (processed, failed) = worker.counters
        logger.notice("Node stopped", metadata: ["processed": "\(processed)", "failed": "\(failed)"])
        await redis.close()
    }

    /// Starts a graceful shutdown (as SIGTERM does); one asked for before ``run()`` has started its services is
    /// kept, and ``run()`` stops right after starting them.
    public func triggerGracefulShutdown() async {
        shutdownRequested.store(true, ordering: .sequentiallyConsistent)
        await group.value?.triggerGracefulShutdown()
    }

    /// Stops at once: running jobs are canceled and handed back right away (a second SIGTERM).
    public func stopNow() { worker.stopNow() }
}

/// Holds the service group, made in ``JobNode/run()``, for callbacks made before it exists.
private final class GroupBox: Sendable {
    private let group = Mutex<ServiceGroup?>(nil)
    var value: ServiceGroup? { group.withLock { $0 } }
    func set(_ value: ServiceGroup) { group.withLock { $0 = value } }
}

/// Warns about Redis settings that can lose jobs.
enum RedisSafety {
    /// Warns when Redis may lose jobs: an eviction policy other than `noeviction`, or no persistence.
    static func warnIfUnsafe(_ redis: RedisPool, health: RedisHealth, logger: Logger) async {
        if health.maxMemoryPolicy != "noeviction" && health.maxMemoryPolicy != "unknown" {
            logger.warning(
                "Redis maxmemory-policy is not noeviction: Redis may evict job keys and lose jobs",
                metadata: ["maxmemory-policy": "\(health.maxMemoryPolicy)"])
        }
        guard let save = try? await redis.send("CONFIG", "GET", "save").array,
            let aof = try? await redis.send("CONFIG", "GET", "appendonly").array
        else { return }
        let rdbOff = (save.count == 2 ? save[1].string ?? "" : "").isEmpty
        let aofOff = (aof.count == 2 ? aof[1].string ?? "no" : "no") == "no"
        if rdbOff && aofOff {
            logger.warning("Redis persistence is off (no RDB, no AOF): a Redis restart loses every queued job")
        }
    }
}

import ArgumentParser
import Foundation
import JobKit
import Jobs
import Logging
import ServiceLifecycle
import Synchronization

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run a worker node: claims jobs from its queues until SIGTERM/SIGINT.")

    @OptionGroup var connection: ConnectionOptions
    @Option(name: .long, help: "Queues and weights, e.g. high:5,low:1.") var queues: String = "default"
    @Flag(name: .long, help: "Claim in the listed order instead of by weight.") var strict = false
    @Option(name: .long, help: "Jobs run at once.") var concurrency: Int = 10
    @Option(name: .long, help: "Node name (default hostname:pid).") var name: String?
    @Option(name: .long, help: "Graceful shutdown period for running jobs.") var grace: String = "30s"
    @Flag(name: .long, help: "Exit once the queues are empty and nothing runs.") var burst = false
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical.") var logLevel: String = "info"
    @Option(name: .customLong("log-format"), help: "text or json.") var logFormat: String = "text"
    @Option(name: .long, help: "Lease duration (renewed every third of it).") var lease: String = "30s"
    @Option(name: .customLong("reap-interval"), help: "How often expired leases are looked for.") var reapInterval: String = "5s"
    @Flag(name: .customLong("no-scheduler"), help: "Don't run the schedule loop on this node.") var noScheduler = false
    @Option(name: .long, help: "Heartbeat interval (leases are renewed in the same round trip).") var heartbeat: String = "5s"
    @Option(name: .customLong("dead-node-timeout"), help: "Silence after which a node is declared dead and its jobs run again.")
    var deadNodeTimeout: String = "15s"

    func validate() throws {
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level '\(logLevel)'") }
        guard ["text", "json"].contains(logFormat) else { throw ValidationError("--log-format is text or json") }
        _ = try WorkerOptions.parseQueues(queues)
        _ = try CLI.duration(grace)
        let leaseDuration = try CLI.duration(lease)
        let beat = try CLI.duration(heartbeat)
        guard beat >= .milliseconds(100) else { throw ValidationError("--heartbeat must be at least 100ms") }
        guard leaseDuration >= beat * 2 else { throw ValidationError("--lease must be at least twice --heartbeat") }
        guard try CLI.duration(deadNodeTimeout) > beat else {
            throw ValidationError("--dead-node-timeout must be longer than --heartbeat")
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let json = logFormat == "json"
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "jobnode")
        await CLI.guarded {
            let nodeID = NodeIdentity.makeID()
            let nodeName = name ?? NodeIdentity.defaultName
            var options = WorkerOptions(queues: try WorkerOptions.parseQueues(queues), concurrency: concurrency, nodeID: nodeID)
            options.strict = strict
            options.shutdownGrace = try CLI.duration(grace)
            options.burst = burst
            options.leaseDuration = try CLI.duration(lease)
            options.renewInterval = options.leaseDuration / 3
            options.leasesRenewedByNode = true
            options.reapInterval = try CLI.duration(reapInterval)
            var redisLogger = logger
            redisLogger[metadataKey: "node.id"] = "\(nodeID)"
            let pool = try connection.makePool(size: 2, clientName: "jobnode-\(nodeID)", logger: redisLogger)
            do {
                let health = try await pool.healthCheck()
                logger.notice(
                    "Node starting",
                    metadata: [
                        "node.id": "\(nodeID)", "node.name": "\(nodeName)", "queues": "\(queues)",
                        "concurrency": "\(concurrency)", "redis": "\(pool.configuration.url)", "redis.version": "\(health.version)",
                    ])
                await RedisSafety.warnIfUnsafe(pool, health: health, logger: logger)
            } catch {
                logger.error("Redis unreachable", metadata: ["redis": "\(pool.configuration.url)", "error": "\(error)"])
                throw error
            }
            let registry = JobRegistry()
            JobCatalog.register(in: registry)
            let worker = Worker(redis: pool, registry: registry, options: options, namespace: connection.namespace, logger: logger)
            var nodeOptions = NodeAgent.Options(
                name: nodeName, host: ProcessInfo.processInfo.hostName, pid: Int(ProcessInfo.processInfo.processIdentifier))
            nodeOptions.heartbeatInterval = try CLI.duration(heartbeat)
            nodeOptions.deadNodeTimeout = try CLI.duration(deadNodeTimeout)
            let groupBox = GroupBox()
            let agent = NodeAgent(
                redis: pool, worker: worker, options: nodeOptions, namespace: connection.namespace, logger: logger
            ) { _ in
                Task { await groupBox.group?.triggerGracefulShutdown() }
            }
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: agent)]
            if !noScheduler {
                let store = ScheduleStore(redis: pool, namespace: connection.namespace)
                // Code declares default schedules; syncing keeps operators' next ticks.
                try await store.sync(JobCatalog.defaultSchedules)
                services.append(.init(service: Scheduler(store: store, logger: logger)))
            }
            // The worker is last: on shutdown it drains first while the node keeps beating.
            services.append(.init(service: worker, successTerminationBehavior: .gracefullyShutdownGroup))
            let group = ServiceGroup(
                configuration: .init(
                    services: services,
                    gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            groupBox.group = group
            // A second SIGTERM/SIGINT stops at once: running jobs are canceled and handed back right away.
            let signals = SecondSignal { worker.stopNow() }
            try await group.run()
            _ = signals
            let (processed, failed) = worker.counters
            logger.notice("Node stopped", metadata: ["node.id": "\(nodeID)", "processed": "\(processed)", "failed": "\(failed)"])
            await pool.close()
        }
    }
}

/// Holds the service group for the remote-shutdown callback, which is created before the group.
final class GroupBox: @unchecked Sendable {
    // Invariant: written once before `run()`, read afterwards.
    var group: ServiceGroup?
}

/// Counts SIGTERM/SIGINT; from the second one on, calls `action`.
final class SecondSignal: @unchecked Sendable {
    // Invariant: the sources are immutable after init and only kept alive here.
    private final class Count: Sendable { let value = Atomic<Int>(0) }
    private let sources: [any DispatchSourceSignal]

    init(_ action: @escaping @Sendable () -> Void) {
        let queue = DispatchQueue(label: "jobnode.signals")
        let count = Count()
        sources = [SIGTERM, SIGINT].map { sig in
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler {
                if count.value.add(1, ordering: .relaxed).newValue >= 2 { action() }
            }
            source.resume()
            return source
        }
    }
}

enum NodeIdentity {
    static func makeID() -> String {
        let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz")
        return String((0..<10).map { _ in alphabet.randomElement()! })
    }

    static var defaultName: String {
        "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)"
    }
}

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

import ArgumentParser
import Foundation
import JobKit
import Jobs
import Logging
import ServiceLifecycle

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

    func validate() throws {
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level '\(logLevel)'") }
        guard ["text", "json"].contains(logFormat) else { throw ValidationError("--log-format is text or json") }
        _ = try WorkerOptions.parseQueues(queues)
        _ = try CLI.duration(grace)
        _ = try CLI.duration(lease)
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
            let group = ServiceGroup(
                configuration: .init(
                    services: [.init(service: worker, successTerminationBehavior: .gracefullyShutdownGroup)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
            let (processed, failed) = worker.counters
            logger.notice("Node stopped", metadata: ["node.id": "\(nodeID)", "processed": "\(processed)", "failed": "\(failed)"])
            await pool.close()
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

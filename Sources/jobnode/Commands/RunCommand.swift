import ArgumentParser
import Foundation
import JobKit
import JobKitHTTP
import Jobs
import Logging
import ServiceLifecycle
import Synchronization

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run a worker node: claims jobs from its queues until SIGTERM/SIGINT.")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var http: HTTPOptions
    @OptionGroup var telemetry: ObservabilityOptions
    @OptionGroup var store: DatabaseOptions
    /// The seed's layout (webhooks and payments, syncs, notifications, reports, maintenance), plus `default` for jobs
    /// enqueued without a queue.
    static let defaultQueues = "high_priority:6,medium_priority:3,default:2,notifications:2,reports:1,maintenance:1"
    @Option(name: .long, help: "Queues and weights, e.g. high:5,low:1 (default: the seed's layout, \(RunCommand.defaultQueues)).")
    var queues: String = RunCommand.defaultQueues
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
        guard leaseDuration >= beat * 3 else { throw ValidationError("--lease must be at least three times --heartbeat") }
        guard try CLI.duration(deadNodeTimeout) >= beat * 3 else {
            throw ValidationError("--dead-node-timeout must be at least three times --heartbeat")
        }
    }

    /// The node's configuration from the flags.
    func nodeConfiguration(logger: Logger) throws -> JobKit.JobNode.Configuration {
        let nodeID = NodeIdentity.makeID()
        var redisLogger = logger
        redisLogger[metadataKey: "node.id"] = "\(nodeID)"
        let redis = try RedisConfiguration(url: connection.redisURL, clientName: "jobnode-\(nodeID)", logger: redisLogger)
        var options = WorkerOptions(queues: try WorkerOptions.parseQueues(queues), concurrency: concurrency, nodeID: nodeID)
        options.strict = strict
        options.shutdownGrace = try CLI.duration(grace)
        options.burst = burst
        options.leaseDuration = try CLI.duration(lease)
        options.reapInterval = try CLI.duration(reapInterval)
        var node = NodeAgent.Options(
            name: name ?? NodeIdentity.defaultName, host: ProcessInfo.processInfo.hostName,
            pid: Int(ProcessInfo.processInfo.processIdentifier))
        node.heartbeatInterval = try CLI.duration(heartbeat)
        node.deadNodeTimeout = try CLI.duration(deadNodeTimeout)
        var configuration = JobKit.JobNode.Configuration(redis: redis, worker: options, node: node)
        configuration.namespace = connection.namespace
        configuration.runsScheduler = !noScheduler
        // Operators' routes (JOBKIT_ROUTES): refused here when they do not parse, and the default schedules fire into
        // their job's routed queue.
        let routes = try ConnectionOptions.routes()
        configuration.defaultSchedules = JobCatalog.defaultSchedules.map { schedule in
            var routed = schedule
            if let queue = routes.queue(for: schedule.job) { routed.queue = queue }
            return routed
        }
        return configuration
    }

    func run() async throws {
        // Flags and credentials first: a refused --http exits before anything starts.
        var httpConfiguration = try http.configuration()
        CLI.bootstrapLogging(level: logLevel, format: logFormat)
        let logger = Logger(label: "jobnode")
        await CLI.guarded {
            // Metrics and tracing before any part of the node makes a metric or a span.
            let observability = try telemetry.bootstrap(http: httpConfiguration != nil, logger: logger)
            httpConfiguration?.metrics = observability.registry
            let database = try store.makeDatabase(logger: logger)
            if let database { httpConfiguration?.dependencies.append(database) }
            let configuration = try nodeConfiguration(logger: logger)
            let redis = configuration.redis
            let registry = JobRegistry()
            // The HTTP server needs the node's pool, which the node makes: it gets it through a late-bound box.
            let intake = LateHTTPServer()
            // The breakers publish through the node's pool, which the node makes: bound late like the server.
            let board = LateBreakerBoard()
            // Plaid's calls get a client of their own, which shuts down after the worker (see PlaidHTTPClient).
            let plaidHTTP = PlaidHTTPClient(connections: concurrency)
            let node = try JobKit.JobNode(
                configuration: configuration, registry: registry,
                services: observability.services.map { ($0, .dependency) } + (database.map { [($0, .dependency)] } ?? [])
                    + [(board, .dependency), (plaidHTTP, .dependency)] + (httpConfiguration == nil ? [] : [(intake, .intake)]),
                logger: logger)
            let breakers = BreakerBoard(
                redis: node.redis, namespace: connection.namespace, nodeID: configuration.worker.nodeID, logger: logger)
            board.board = breakers
            let queue = JobQueue(
                redis: node.redis, namespace: connection.namespace, replicaAcknowledgement: connection.replicaAcknowledgement,
                logger: logger)
            if var httpConfiguration {
                if let database { httpConfiguration.dashboard?.tenants = DashboardTenants(database: database, logger: logger) }
                let stripeBreaker = await breakers.breaker("stripe", policy: .stripe)
                httpConfiguration.extraRoutes +=
                    try PlaidSetup.routes(queue: queue)
                    + StripeRoutes.registrations(queue: queue, database: database, breaker: stripeBreaker, logger: logger)
                    + NotificationRoutes(store: database.map { NotificationStore(database: $0, logger: logger) }).registrations
                intake.server = try JobKitHTTPServer(configuration: httpConfiguration, queue: queue, logger: logger)
            }
            let plaid = try await PlaidSetup.runner(
                database: database, breakers: breakers, queue: queue, http: plaidHTTP, logger: logger)
            if case .success = plaid { try await PlaidSetup.installLimits(redis: node.redis, namespace: connection.namespace) }
            let plans = try StripePlans.fromEnvironment()
            var stripeClient: StripeClient?
            if let stripe = try StripeConfiguration.fromEnvironment() {
                let breaker = await breakers.breaker("stripe", policy: .stripe)
                let limiter = StripeClient.rateLimiter(redis: node.redis, namespace: connection.namespace, configuration: stripe)
                stripeClient = StripeClient(configuration: stripe, breaker: breaker, rateLimiter: limiter, logger: logger)
            }
            let stripeEvents = database.map {
                StripeEventHandler(store: StripeStore(database: $0, logger: logger), plans: plans, queue: queue, client: stripeClient)
            }
            var dependencies = JobDependencies(
                redis: node.redis, namespace: connection.namespace, database: database, breakers: breakers, plaid: plaid,
                stripeEvents: stripeEvents)
            dependencies.reports = database.map { MonthlyReportBuilder(store: ReportStore(database: $0, logger: logger), queue: queue) }
            dependencies.notifications = database.map {
                NotificationSender(
                    store: NotificationStore(database: $0, logger: logger), email: EmailClient.fromEnvironment(),
                    signer: NotificationWebhookSigner.fromEnvironment())
            }
            if let database, let stripeClient {
                dependencies.stripe = .success(
                    StripeJobRunner(client: stripeClient, store: StripeStore(database: database, logger: logger), plans: plans, logger: logger))
                logger.info(
                    "Stripe jobs enabled", metadata: ["stripe": "\(stripeClient.configuration)", "plans": "\(plans.priceByPlan.keys.sorted())"])
            }
            JobCatalog.register(in: registry, dependencies: dependencies)
            // The first SIGTERM/SIGINT is also handed to the node itself: one that arrives while the node still checks
            // Redis or syncs its schedules (before its service group watches signals) would otherwise be lost, as
            // this process's own signal sources have replaced the default action. A second one stops at once:
            // running jobs are canceled and handed back right away.
            let signals = SecondSignal(first: { Task { await node.triggerGracefulShutdown() } }, then: { node.stopNow() })
            do {
                try await node.run()
            } catch let error as RedisError {
                logger.error("Redis unreachable", metadata: ["redis": "\(redis.url)", "error": "\(error)"])
                throw error
            }
            _ = signals
        }
    }
}

/// The node's HTTP server, set after the node (whose pool it uses) is built and before the node runs.
final class LateHTTPServer: Service, @unchecked Sendable {
    // Invariant: `server` is written once, before `JobNode.run()` starts the services, and only read after.
    var server: JobKitHTTPServer?

    func run() async throws {
        try await server?.run()
    }
}

/// The node's breaker board, set after the node (whose pool it publishes through) is built.
final class LateBreakerBoard: Service, @unchecked Sendable {
    // Invariant: `board` is written once, before `JobNode.run()` starts the services, and only read after.
    var board: BreakerBoard?

    func run() async throws {
        try await board?.run()
    }
}

/// Counts SIGTERM/SIGINT: calls `first` on the first one, `then` from the second one on.
final class SecondSignal: @unchecked Sendable {
    // Invariant: the sources are immutable after init and only kept alive here.
    private final class Count: Sendable { let value = Atomic<Int>(0) }
    private let sources: [any DispatchSourceSignal]

    init(first: @escaping @Sendable () -> Void, then action: @escaping @Sendable () -> Void) {
        let queue = DispatchQueue(label: "jobnode.signals")
        let count = Count()
        sources = [SIGTERM, SIGINT].map { sig in
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler {
                if count.value.add(1, ordering: .relaxed).newValue >= 2 { action() } else { first() }
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

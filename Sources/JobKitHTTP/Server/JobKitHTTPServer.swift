import Hummingbird
import HummingbirdCore
import HummingbirdAuth
import HummingbirdTLS
import JobKit
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// JobKit's HTTP surface as a `Service`: health, the webhook ledger's report and the job API over a
/// ``JobQueue``.
///
/// Run it inside a node's `ServiceGroup` as an intake service (`JobNode(…, services: [(server, .intake)])`),
/// which stops it first on shutdown, or alone in a group of its own (`jobnode serve`). On graceful shutdown
/// it stops accepting connections, finishes the requests in flight, then returns; its health pool is closed.
///
/// > Important: the server does not own `queue`'s pool; whoever made it closes it.
public final class JobKitHTTPServer: Service, Sendable {
    public let configuration: HTTPServerConfiguration
    public let queue: JobQueue
    public let checker: HealthChecker
    public let ledger: WebhookLedger
    let logger: Logger
    private let listening = ListeningPort()
    /// The dashboard's live feed (one per server, shared by every browser); `nil` without a dashboard.
    public let dashboardFeed: DashboardFeed?

    /// - Throws: ``HTTPServerConfiguration/Invalid`` (see ``HTTPServerConfiguration/validate()``).
    public init(configuration: HTTPServerConfiguration, queue: JobQueue, logger: Logger = Logger(label: "jobkit.http")) throws {
        try configuration.validate()
        self.configuration = configuration
        self.queue = queue
        self.checker = HealthChecker(
            configuration: queue.redis.configuration, servedPool: queue.redis, namespace: queue.namespace,
            dependencies: configuration.dependencies)
        self.ledger = WebhookLedger(redis: queue.redis, namespace: queue.namespace)
        self.logger = logger
        self.dashboardFeed = configuration.dashboard.map {
            DashboardFeed(queue: queue, interval: $0.feedInterval, logger: logger)
        }
        if configuration.dashboard != nil { _ = try DashboardRenderer() }
    }

    /// The router: request ids and logs, JSON errors, API keys, then the routes.
    public func makeRouter() -> Router<JobKitRequestContext> {
        let router = Router(context: JobKitRequestContext.self)
        // The key first, so that the metrics and the request log see its name (it refuses nothing itself: routes
        // that need a key sit behind IsAuthenticatedMiddleware).
        router.add(middleware: APIKeyAuthenticator(keys: configuration.apiKeys))
        if configuration.metrics != nil { router.add(middleware: HTTPMetricsMiddleware()) }
        // A server span per request, whose context the jobs it enqueues carry (only with a tracer bootstrapped).
        if JobTrace.isActive { router.add(middleware: TracingMiddleware()) }
        router.add(middleware: RequestLogMiddleware())
        router.add(middleware: ErrorMiddleware())
        if !configuration.rateLimits.isEmpty {
            router.add(middleware: RateLimitMiddleware(limits: configuration.rateLimits, redis: queue.redis, namespace: queue.namespace))
        }
        let needsKey = !configuration.apiKeys.isEmpty
        func group(open: Bool) -> RouterGroup<JobKitRequestContext> {
            let group = router.group()
            if needsKey && !open { group.add(middleware: IsAuthenticatedMiddleware<JobKitRequestContext>()) }
            return group
        }
        let health = HealthRoutes(checker: checker, ledger: ledger)
        health.register(on: group(open: configuration.publicHealth))
        health.registerWebhooks(on: group(open: false))
        let v1 = group(open: false).group("v1")
        JobRoutes(queue: queue, maxBodyBytes: configuration.maxBodyBytes).register(on: v1)
        QueueRoutes(queue: queue).register(on: v1)
        if let registry = configuration.metrics {
            MetricsRoutes(registry: registry, gauges: ClusterGauges(checker: checker, registry: registry))
                .register(on: group(open: configuration.publicMetrics))
        }
        if let dashboard = configuration.dashboard, let feed = dashboardFeed,
            let routes = try? DashboardRoutes(
                configuration: dashboard, queue: queue, apiKeys: configuration.apiKeys, ledger: ledger, feed: feed,
                secureCookie: configuration.tls != nil)
        {
            routes.register(on: router)
        }
        for extra in configuration.extraRoutes {
            let open: Bool
            switch extra.access {
            case .apiKey: open = false
            case .metrics: open = configuration.publicMetrics
            case .health: open = configuration.publicHealth
            case .open: open = true
            }
            extra.register(group(open: open))
        }
        return router
    }

    /// Serves until graceful shutdown (or cancellation).
    ///
    /// - Throws: a bind failure (address in use) or TLS setup error.
    public func run() async throws {
        let server: HTTPServerBuilder
        if let tls = configuration.tls {
            server = try .tls(.http1(), tlsConfiguration: try tls.serverConfiguration())
        } else {
            server = .http1()
        }
        let listening = self.listening
        let logger = self.logger
        let scheme = configuration.tls == nil ? "http" : "https"
        let app = Application(
            router: makeRouter(), server: server,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                logger.notice(
                    "HTTP listening",
                    metadata: ["http.address": "\(scheme)://\(channel.localAddress?.ipAddress ?? "?"):\(port)", "http.port": "\(port)"])
                listening.set(port)
            }, logger: logger)
        defer { listening.set(nil) }
        let feed = dashboardFeed
        do {
            // Open dashboard pages hold an event stream each: end them first, or shutdown would wait on them.
            try await withGracefulShutdownHandler {
                try await app.run()
            } onGracefulShutdown: {
                if let feed { Task { await feed.close() } }
            }
        } catch {
            await checker.redis.close()
            throw error
        }
        await checker.redis.close()
        logger.notice("HTTP stopped")
    }

    /// The bound port once the server listens (useful with port 0); `nil` if it stopped (or failed to bind)
    /// first.
    public func waitUntilListening() async -> Int? {
        await listening.wait()
    }
}

/// The bound port, and the callers waiting for it.
final class ListeningPort: Sendable {
    private struct State {
        var port: Int?
        var done = false
        var waiters: [CheckedContinuation<Int?, Never>] = []
    }
    private let state = Mutex(State())

    /// Records the port (or `nil`: the server stopped) and wakes every waiter.
    func set(_ port: Int?) {
        let waiters = state.withLock { s -> [CheckedContinuation<Int?, Never>] in
            guard !s.done else { return [] }
            s.done = true
            s.port = port
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume(returning: port) }
    }

    func wait() async -> Int? {
        await withCheckedContinuation { continuation in
            let ready: Int?? = state.withLock { s in
                if s.done { return .some(s.port) }
                s.waiters.append(continuation)
                return .none
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

import JobKit
import Prometheus
import Synchronization

/// Cluster-wide gauges read from Redis when `/metrics` is scraped: depth per queue and state, the age of
/// each queue's oldest ready job, paused queues, live nodes and their slots. One read serves every scrape
/// within ``maxAge`` (two Prometheus servers scraping every node cost one read per second per node).
///
/// The reads are the health checker's (one pipeline for the queues, one for the nodes, each under its
/// short timeouts); when Redis does not answer, the gauges keep their last values and
/// `jobkit_cluster_scrape_errors_total` counts the failure.
public actor ClusterGauges {
    /// How long one read serves scrapes.
    public static let maxAge: Duration = .seconds(1)

    let checker: HealthChecker
    let registry: PrometheusCollectorRegistry
    private var lastRead: ContinuousClock.Instant?
    private let liveNodes: Gauge
    private let busySlots: Gauge
    private let totalSlots: Gauge
    private let scrapeErrors: Counter
    /// Queues seen by an earlier read: a queue that vanished is set to zero, not left at its last depth.
    private var knownQueues: Set<String> = []

    static let states = ["ready", "scheduled", "retrying", "active", "dead"]

    /// `jobkit_<metric>_<unit>` with its help line.
    static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "jobkit", metricName: metric, unitName: unit, helpText: help)
    }

    public init(checker: HealthChecker, registry: PrometheusCollectorRegistry) {
        self.checker = checker
        self.registry = registry
        liveNodes = registry.makeGauge(descriptor: Self.name("nodes", "live", "Nodes with a live heartbeat"))
        busySlots = registry.makeGauge(descriptor: Self.name("slots", "busy", "Job slots running a job, over live nodes"))
        totalSlots = registry.makeGauge(descriptor: Self.name("slots", "", "Job slots (concurrency), over live nodes"))
        scrapeErrors = registry.makeCounter(
            descriptor: Self.name("cluster_scrape_errors", "total", "Scrapes whose cluster read from Redis failed"))
    }

    /// Reads Redis unless the last read is younger than ``maxAge``.
    public func refresh() async {
        let now = ContinuousClock.now
        if let lastRead, now - lastRead < Self.maxAge { return }
        lastRead = now
        async let queuesRead = checker.queuesCheck()
        async let nodesRead = checker.nodesCheck()
        let (queues, (nodes, _)) = await (queuesRead, nodesRead)
        if queues.error == nil {
            var seen: Set<String> = []
            for q in queues.queues {
                seen.insert(q.name)
                let counts = [q.ready, q.scheduled, q.retrying, q.active, q.dead]
                for (state, count) in zip(Self.states, counts) { depth(q.name, state).set(to: Double(count)) }
                oldest(q.name).set(to: Double(q.oldestReadyAgeMs ?? 0) / 1000)
                paused(q.name).set(to: q.paused ? 1 : 0)
            }
            for gone in knownQueues.subtracting(seen) {
                for state in Self.states { depth(gone, state).set(to: 0) }
                oldest(gone).set(to: 0)
            }
            knownQueues = seen
        } else {
            scrapeErrors.increment()
        }
        if nodes.error == nil {
            liveNodes.set(to: Double(nodes.live))
            busySlots.set(to: Double(nodes.nodes.reduce(0) { $0 + $1.busy }))
            totalSlots.set(to: Double(nodes.nodes.reduce(0) { $0 + $1.concurrency }))
        } else {
            scrapeErrors.increment()
        }
    }

    private func depth(_ queue: String, _ state: String) -> Gauge {
        registry.makeGauge(
            descriptor: Self.name("queue_jobs", "", "Jobs in a queue, by state"), labels: [("queue", queue), ("state", state)])
    }

    private func oldest(_ queue: String) -> Gauge {
        registry.makeGauge(
            descriptor: Self.name(
                "queue_oldest_ready_age", "seconds",
                "How long the queue's longest-waiting ready job has been due (0 when none is ready)"),
            labels: [("queue", queue)])
    }

    private func paused(_ queue: String) -> Gauge {
        registry.makeGauge(descriptor: Self.name("queue_paused", "", "1 when the queue is paused"), labels: [("queue", queue)])
    }
}

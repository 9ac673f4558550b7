import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// Claims jobs from Redis and runs them: one node's fetchers (`Worker+fetching`), job tasks and outcomes
/// (`Worker+running`) and its ``LeaseKeeper``. Expired leases are returned by a ``Reaper`` (Node/), which a
/// ``JobNode`` runs beside the worker.
///
/// Run it as a `Service` (``run()``): graceful shutdown stops claiming, lets running jobs finish within
/// ``WorkerOptions/shutdownGrace``, then cancels the rest and hands them back to `ready` at once.
///
/// > Important: a worker does nothing until ``run()`` is called.
public final class Worker: Service, Sendable {
    public let options: WorkerOptions
    public let namespace: String
    let redis: RedisPool
    let registry: JobRegistry
    let logger: Logger
    let slots: SlotGate
    let acker: Acker
    /// The one owner of running attempts and their leases.
    let leases: LeaseKeeper
    /// One dedicated connection per fetch loop, for its blocking waits.
    let fetchers: [RedisBlockingClient]
    let state = Mutex(State())
    let metrics: WorkerMetrics
    /// Tallies of ended attempts since the last heartbeat, which writes them to the history (``QueueHistory``).
    public let history = HistoryRecorder()

    struct State {
        var stopping = false
        var processed = 0
        var failed = 0
        /// Handlers that ignored a stop request past the cancellation grace (reported, slot kept).
        var ignoredCancellation = 0
        /// Set by a remote shutdown or drain; replaces ``WorkerOptions/shutdownGrace``.
        var graceOverride: Duration?
        var hardStop = false
    }

    /// Creates a worker.
    ///
    /// - Parameters:
    ///   - redis: the pool for ordinary commands (the worker opens one more connection per fetcher for
    ///     blocking waits).
    ///   - registry: the job handlers; the diagnostic `jobkit.*` jobs are added to it.
    ///   - options: queues, concurrency, leases, timeouts.
    ///   - namespace: key namespace (default `jobkit`).
    /// - Throws: `QueueError` `.invalidOptions` when the options don't work together
    ///   (``WorkerOptions/validate()``).
    public init(
        redis: RedisPool, registry: JobRegistry, options: WorkerOptions, namespace: String = "jobkit",
        logger: Logger = Logger(label: "jobkit.worker")
    ) throws {
        try options.validate()
        self.redis = redis
        self.registry = registry
        self.options = options
        self.namespace = namespace
        var logger = logger
        logger[metadataKey: "node.id"] = "\(options.nodeID)"
        self.logger = logger
        self.slots = SlotGate(capacity: options.concurrency)
        self.fetchers = (0..<(options.concurrency > 1 ? 2 : 1)).map {
            redis.makeBlockingClient(name: "jobkit-fetch-\(options.nodeID)-\($0)")
        }
        let ackLogger = logger
        let metrics = WorkerMetrics(registry: registry)
        self.metrics = metrics
        let leases = LeaseKeeper(
            namespace: namespace, nodeID: options.nodeID, queues: options.queues.map(\.name),
            leaseDuration: options.leaseDuration, interval: options.renewInterval, logger: logger)
        self.leases = leases
        self.acker = Acker(
            redis: redis, namespace: namespace, logger: logger,
            onRefused: { queue, ids in
                metrics.resultsRefused.increment(by: ids.count)
                ackLogger.warning(
                    "Completion refused: the lease was taken over or the job was deleted",
                    metadata: ["queue": "\(queue)", "job.ids": "\(ids.joined(separator: ","))"])
            },
            onSettled: { completions in
                leases.recorded(completions.map { LeaseKeeper.Key(id: $0.id, token: $0.token) })
            })
        DiagnosticJobs.register(in: registry)
    }

    /// Jobs running now (a handler that ignored a stop request keeps its slot until it returns).
    public var busy: Int { slots.busy }
    /// Jobs this worker finished successfully / unsuccessfully since it started.
    public var counters: (processed: Int, failed: Int) { state.withLock { ($0.processed, $0.failed) } }
    /// Handlers that ignored a stop request (timeout, cancel, shutdown) for longer than
    /// ``WorkerOptions/cancellationGrace``; each is logged at warning once.
    public var ignoredCancellations: Int { state.withLock { $0.ignoredCancellation } }

    /// Runs until graceful shutdown (or, in burst mode, until the queues are empty).
    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await runUntilStopped()
        } onGracefulShutdown: {
            self.beginShutdown()
        }
    }

    /// Stops claiming new jobs; running jobs get the grace period.
    public func beginShutdown() {
        let first = state.withLock { s -> Bool in
            defer { s.stopping = true }
            return !s.stopping
        }
        guard first else { return }
        logger.debug("Worker stopping")
        slots.close()
        for connection in fetchers { connection.closeNow() }
    }

    var isStopping: Bool { state.withLock { $0.stopping } }

    /// Stops claiming and gives running jobs `grace` (instead of the configured grace) to finish.
    public func beginShutdown(grace: Duration) {
        state.withLock { $0.graceOverride = grace }
        beginShutdown()
    }

    /// Stops at once: running jobs are canceled and handed back to `ready` right away.
    public func stopNow() {
        state.withLock { $0.hardStop = true }
        beginShutdown()
        for control in leases.all { control.stop(.shutdown) }
    }

    private func runUntilStopped() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.acker.run() }
            if !self.options.leasesRenewedByNode {
                group.addTask { await self.loop(every: self.options.renewInterval) { await self.leases.renew(self.redis) } }
            }
            group.addTask { await self.loop(every: .milliseconds(100)) { self.watchdog() } }
            // Two fetchers: while one waits for its claim's reply, the other can claim the slots freed meanwhile.
            await withDiscardingTaskGroup { fetchers in
                for index in 0..<self.fetchers.count {
                    fetchers.addTask { await self.fetchLoop(self.fetchers[index]) }
                }
            }
            await self.drainRunning()
            self.acker.finish()
            try? await self.acker.stopped.value()
            for connection in self.fetchers { await connection.close() }
            group.cancelAll()
        }
    }

    private func loop(every interval: Duration, _ body: () async -> Void) async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { return }
            await body()
        }
    }

    /// Reports handlers that ignore a stop request. Their slot stays taken and their lease renewed until
    /// they really return: the node never runs more than its concurrency, and the job never runs
    /// elsewhere at the same time.
    private func watchdog() {
        let now = ContinuousClock.now
        for control in leases.all where control.check(now: now, grace: options.cancellationGrace) {
            state.withLock { $0.ignoredCancellation += 1 }
            logger.warning(
                "Job ignores its stop request; its slot stays taken until it returns",
                metadata: [
                    "job.id": "\(control.job.id)", "job.name": "\(control.job.name)",
                    "reason": "\(control.reason.map { "\($0)" } ?? "?")",
                ])
        }
    }

    // MARK: Shutdown

    private func drainRunning() async {
        let grace = state.withLock { $0.graceOverride } ?? options.shutdownGrace
        let graceEnd = ContinuousClock.now + grace
        while slots.busy > 0, ContinuousClock.now < graceEnd, !state.withLock({ $0.hardStop }) {
            try? await Task.sleep(for: .milliseconds(20))
        }
        guard slots.busy > 0 else { return }
        logger.info("Grace period over; canceling and handing back running jobs", metadata: ["count": "\(leases.count)"])
        for control in leases.all { control.stop(.shutdown) }
        let hardEnd = ContinuousClock.now + options.cancellationGrace + .seconds(1)
        while slots.busy > 0, ContinuousClock.now < hardEnd {
            try? await Task.sleep(for: .milliseconds(20))
        }
        // Handlers still running ignore cancellation: the worker stops without them. Their jobs are
        // handed back now (the process is normally about to exit); a late return writes nothing.
        let stuck = leases.all.filter { $0.claimFinalization() }
        guard !stuck.isEmpty else { return }
        logger.warning(
            "Handlers ignored cancellation past the grace period; handing their jobs back",
            metadata: ["count": "\(stuck.count)", "job.ids": "\(stuck.map(\.job.id).joined(separator: ","))"])
        await release(stuck.map(\.job))
    }

    /// Stops a running job now (operator cancel). Returns false if this worker does not run it.
    @discardableResult
    func stopJob(_ id: String, reason: StopReason) -> Bool {
        let controls = leases.controls(id: id)
        for control in controls { control.stop(reason) }
        return !controls.isEmpty
    }
}

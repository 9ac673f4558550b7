import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// Claims jobs from Redis and runs them: the fetcher, the job slots, the lease keeper, the reaper and the
/// completion batcher of one node.
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
    /// One dedicated connection per fetch loop, for its blocking waits.
    private let fetchers: [RedisConnection]
    private let state = Mutex(State())

    struct State {
        var running: [String: JobControl] = [:]
        var stopping = false
        var processed = 0
        var failed = 0
        /// Set by a remote shutdown or drain; replaces ``WorkerOptions/shutdownGrace``.
        var graceOverride: Duration?
        var hardStop = false
    }

    /// Creates a worker.
    ///
    /// - Parameters:
    ///   - redis: the pool for ordinary commands (the worker opens one more connection for blocking waits).
    ///   - registry: the job handlers; the diagnostic `jobkit.*` jobs are added to it.
    ///   - options: queues, concurrency, leases, timeouts.
    ///   - namespace: key namespace (default `jobkit`).
    public init(redis: RedisPool, registry: JobRegistry, options: WorkerOptions, namespace: String = "jobkit", logger: Logger = Logger(label: "jobkit.worker")) {
        self.redis = redis
        self.registry = registry
        self.options = options
        self.namespace = namespace
        var logger = logger
        logger[metadataKey: "node.id"] = "\(options.nodeID)"
        self.logger = logger
        self.slots = SlotGate(capacity: options.concurrency)
        self.fetchers = (0..<(options.concurrency > 1 ? 2 : 1)).map {
            redis.makeDedicatedConnection(name: "jobkit-fetch-\(options.nodeID)-\($0)")
        }
        let ackLogger = logger
        let acker = Acker(redis: redis, namespace: namespace, logger: logger) { queue, ids in
            ackLogger.warning(
                "Completion refused: the lease was taken over or the job was deleted",
                metadata: ["queue.name": "\(queue)", "job.ids": "\(ids.joined(separator: ","))"])
        }
        self.acker = acker
        DiagnosticJobs.register(in: registry)
    }

    /// Jobs running now.
    public var busy: Int { slots.busy }
    /// Jobs this worker finished successfully / unsuccessfully since it started.
    public var counters: (processed: Int, failed: Int) { state.withLock { ($0.processed, $0.failed) } }
    /// The jobs running now.
    var runningJobs: [JobControl] { state.withLock { Array($0.running.values) } }

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
        for control in runningJobs { control.stop(.shutdown) }
    }

    private func runUntilStopped() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.acker.run() }
            if !self.options.leasesRenewedByNode {
                group.addTask { await self.loop(every: self.options.renewInterval) { await self.renewLeases() } }
            }
            group.addTask { await self.loop(every: self.options.reapInterval) { await self.reap() } }
            group.addTask { await self.loop(every: .milliseconds(100)) { await self.watchdog() } }
            await self.reap()
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

    private func loop(every interval: Duration, _ body: @Sendable () async -> Void) async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { return }
            await body()
        }
    }

    // MARK: Fetching

    private func fetchLoop(_ blocking: RedisConnection) async {
        var failures = 0
        while !isStopping {
            let free = await slots.reserveFree()
            if isStopping || free == 0 {
                slots.release(free)
                break
            }
            var claimed = 0
            var nextDue = Int.max
            do {
                for queue in queueOrder() where claimed < free {
                    let keys = QueueKeys(namespace: namespace, queue: queue)
                    let reply = try await redis.run(
                        LeaseScripts.claim, keys: [keys.ready],
                        arguments: [keys.prefix, min(free - claimed, 1000), Int(options.leaseDuration.milliseconds), options.nodeID])
                    let (_, due, jobs) = try ClaimedJob.parse(reply, queue: queue)
                    logger.trace(
                        "Claimed", metadata: ["queue.name": "\(queue)", "count": "\(jobs.count)", "next.due.ms": "\(due)"])
                    if due >= 0 { nextDue = min(nextDue, due) }
                    for job in jobs { start(job) }
                    claimed += jobs.count
                }
                failures = 0
            } catch {
                failures += 1
                logger.error("Redis unreachable; cannot claim jobs", metadata: ["error": "\(error)"])
                slots.release(free - claimed)
                try? await Task.sleep(for: retryDelay(afterFailures: failures))
                continue
            }
            slots.release(free - claimed)
            if claimed == 0 {
                if options.burst {
                    // Done when nothing runs and nothing is due within a minute (retries waiting out a short
                    // backoff are waited for; jobs scheduled further out are left for a later run).
                    if slots.busy == 0 && (nextDue == Int.max || nextDue > 60_000) { break }
                    await waitForWork(blocking, maxMilliseconds: slots.busy > 0 ? 20 : nextDue)
                    continue
                }
                await waitForWork(blocking, maxMilliseconds: nextDue)
            }
        }
    }

    /// Queue names in the order to try this round: strict order, or a weighted random order.
    private func queueOrder() -> [String] {
        if options.strict || options.queues.count == 1 { return options.queues.map(\.name) }
        var remaining = options.queues
        var order: [String] = []
        while !remaining.isEmpty {
            let total = remaining.reduce(0) { $0 + $1.weight }
            var pick = Int.random(in: 0..<total)
            let index = remaining.firstIndex { q in
                if pick < q.weight { return true }
                pick -= q.weight
                return false
            }!
            order.append(remaining.remove(at: index).name)
        }
        return order
    }

    /// Blocks on the queues' wake markers until new work is pushed or the next scheduled job is due.
    private func waitForWork(_ blocking: RedisConnection, maxMilliseconds: Int) async {
        let waitMs = min(Int(options.maxIdleWait.milliseconds), maxMilliseconds)
        logger.trace("Waiting for work", metadata: ["wait.ms": "\(waitMs)"])
        guard waitMs > 0 else { return }
        let wakeKeys = options.queues.map { QueueKeys(namespace: namespace, queue: $0.name).wake }
        let seconds = format3(Double(waitMs) / 1000)
        do {
            _ = try await blocking.sendBlocking(
                RedisCommand("BLPOP", strings: wakeKeys + [seconds]), timeout: .milliseconds(Int64(waitMs) + 5000))
        } catch {
            if !isStopping {
                logger.debug("Wake wait failed", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    // MARK: Running

    private func start(_ job: ClaimedJob) {
        let entry = registry.entry(job.name)
        let timeout: Duration =
            job.timeoutMs > 0 ? .milliseconds(job.timeoutMs) : (entry?.timeout ?? options.defaultTimeout)
        let control = JobControl(job: job, timeout: timeout)
        state.withLock { $0.running[job.id] = control }
        // One task per job, so that it can be canceled on its own (timeout, cancel request, lost lease).
        // Unstructured on purpose: a handler that ignores cancellation past the grace period is abandoned
        // by the watchdog, so that shutdown and slot accounting never wait on it forever.
        let task = Task { await self.execute(control, entry: entry) }
        control.attach(task)
    }

    private func execute(_ control: JobControl, entry: JobRegistry.Entry?) async {
        let job = control.job
        let context = JobContext(
            id: job.id, name: job.name, queue: job.queue, attempt: job.attempt, maxAttempts: job.maxAttempts,
            tenantID: job.tenant, correlationID: job.correlation, enqueuedAtMs: job.enqueuedAt, baseLogger: logger,
            namespace: namespace, redis: redis)
        let outcome: JobOutcome
        if let entry {
            do {
                outcome = .success(try await entry.handler(job.payload, context))
            } catch {
                outcome = .thrown(error)
            }
        } else {
            outcome = .thrown(JobPayloadError(description: "unknown job name '\(job.name)'"))
        }
        guard control.claimFinalization() else { return }  // abandoned: the watchdog wrote the outcome
        let reason = control.reason
        if case .success(let result) = outcome, reason != .leaseLost {
            acker.complete(queue: job.queue, .init(id: job.id, token: job.token, result: result))
            state.withLock { $0.processed += 1 }
        } else {
            await finalizeUnsuccessful(control, outcome: outcome, logger: context.logger)
        }
        finished(job.id)
    }

    /// Frees the job's slot.
    private func finished(_ id: String) {
        state.withLock { _ = $0.running.removeValue(forKey: id) }
        slots.release()
    }

    private func finalizeUnsuccessful(_ control: JobControl, outcome: JobOutcome, logger: Logger) async {
        let job = control.job
        let reason = control.reason
        switch reason {
        case .shutdown:
            await release([job])
            return
        case .leaseLost:
            logger.warning("Job stopped: its lease was taken over by another node")
            return
        case .canceled:
            await fail(job, kind: "canceled", error: "canceled", logger: logger)
            return
        case .timeout(let limit):
            await fail(job, kind: "error", error: "timed out after \(limit)", logger: logger)
            return
        case nil:
            break
        }
        switch outcome {
        case .thrown(let error as JobRetryLater):
            await fail(job, kind: "later", error: error.reason, delay: error.delay, logger: logger)
        case .thrown(let error as JobPayloadError):
            await fail(job, kind: "poison", error: error.description, logger: logger)
        case .thrown(let error):
            await fail(job, kind: "error", error: String(describing: error), logger: logger)
        case .abandoned, .success:
            await fail(job, kind: "error", error: "abandoned", logger: logger)
        }
    }

    private func fail(_ job: ClaimedJob, kind: String, error: String, delay: Duration = .zero, logger: Logger) async {
        let keys = QueueKeys(namespace: namespace, queue: job.queue)
        let text = String(error.prefix(4000))
        var failures = 0
        while true {
            do {
                let reply = try await redis.run(
                    LeaseScripts.fail, keys: [keys.active],
                    arguments: [
                        keys.prefix, job.id, job.token, kind, text, Int(delay.milliseconds),
                        Double.random(in: 0..<1), options.nodeID,
                    ])
                let outcome = reply.array?.first?.string ?? "?"
                switch outcome {
                case "dead":
                    state.withLock { $0.failed += 1 }
                    logger.warning("Job dead", metadata: ["error": "\(text)"])
                case "refused":
                    logger.warning("Failure refused: the job's lease is no longer ours")
                case "canceled":
                    state.withLock { $0.failed += 1 }
                    logger.info("Job canceled")
                default:
                    state.withLock { $0.failed += 1 }
                    logger.debug("Job failed; retrying", metadata: ["outcome": "\(outcome)", "error": "\(text)"])
                }
                return
            } catch {
                failures += 1
                logger.error("Cannot record job failure; retrying", metadata: ["error": "\(error)"])
                if failures >= 10 {
                    logger.error("Giving up recording the failure; the lease will expire and the reaper retries the job")
                    return
                }
                try? await Task.sleep(for: retryDelay(afterFailures: failures))
            }
        }
    }

    private func release(_ jobs: [ClaimedJob]) async {
        var byQueue: [String: [ClaimedJob]] = [:]
        for job in jobs { byQueue[job.queue, default: []].append(job) }
        for (queue, jobs) in byQueue {
            let keys = QueueKeys(namespace: namespace, queue: queue)
            var args: [any RESPArgument] = [keys.prefix]
            for job in jobs { args += [job.id, job.token] as [any RESPArgument] }
            do {
                _ = try await redis.run(LeaseScripts.release, keys: [keys.active], arguments: args)
                logger.debug("Jobs handed back", metadata: ["queue.name": "\(queue)", "count": "\(jobs.count)"])
            } catch {
                logger.error(
                    "Cannot hand jobs back; they run again when their leases expire",
                    metadata: ["queue.name": "\(queue)", "error": "\(error)"])
            }
        }
    }

    // MARK: Leases

    private func renewLeases() async {
        let calls = renewCalls()
        guard !calls.isEmpty else { return }
        do {
            let replies = try await redis.runBatch(LeaseScripts.renew, calls: calls.map { ($0.keys, $0.arguments) })
            for (call, reply) in zip(calls, replies) { applyRenewal(queue: call.queue, reply: reply) }
        } catch {
            logger.error("Lease renewal failed", metadata: ["error": "\(error)"])
        }
    }

    /// One renew call per queue for the leases held now (a node agent sends them with its heartbeat).
    func renewCalls() -> [(queue: String, keys: [String], arguments: [any RESPArgument])] {
        let running = runningJobs
        guard !running.isEmpty else { return [] }
        var byQueue: [String: [ClaimedJob]] = [:]
        for c in running { byQueue[c.job.queue, default: []].append(c.job) }
        return byQueue.map { queue, jobs in
            let keys = QueueKeys(namespace: namespace, queue: queue)
            var args: [any RESPArgument] = [keys.prefix, Int(options.leaseDuration.milliseconds)]
            for job in jobs { args += [job.id, job.token] as [any RESPArgument] }
            return (queue, [keys.active], args)
        }
    }

    /// Stops the jobs whose lease the renew reply says is lost.
    func applyRenewal(queue: String, reply: RESPValue) {
        if case .error(let text) = reply {
            logger.error("Lease renewal failed", metadata: ["queue.name": "\(queue)", "error": "\(String(buffer: text))"])
            return
        }
        for id in (reply.array ?? []).compactMap(\.string) {
            logger.warning("Lease lost; stopping the job", metadata: ["job.id": "\(id)", "queue.name": "\(queue)"])
            state.withLock { $0.running[id] }?.stop(.leaseLost)
        }
    }

    private func reap() async {
        for queue in options.queues {
            let keys = QueueKeys(namespace: namespace, queue: queue.name)
            do {
                let reply = try await redis.run(LeaseScripts.reap, keys: [keys.active], arguments: [keys.prefix, 1000])
                let counts = (reply.array ?? []).compactMap(\.int)
                if counts.count == 2, counts[0] + counts[1] > 0 {
                    logger.info(
                        "Expired leases reclaimed",
                        metadata: ["queue.name": "\(queue.name)", "requeued": "\(counts[0])", "dead": "\(counts[1])"])
                }
            } catch {
                logger.debug("Reaper failed", metadata: ["queue.name": "\(queue.name)", "error": "\(error)"])
            }
        }
    }

    private func watchdog() async {
        let now = ContinuousClock.now
        for control in runningJobs where control.check(now: now, grace: options.cancellationGrace) {
            guard control.claimFinalization() else { continue }
            logger.warning(
                "Job ignored cancellation; abandoning it",
                metadata: ["job.id": "\(control.job.id)", "job.name": "\(control.job.name)"])
            await finalizeUnsuccessful(control, outcome: .abandoned, logger: logger)
            finished(control.job.id)
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
        let running = runningJobs
        logger.info("Grace period over; canceling and handing back running jobs", metadata: ["count": "\(running.count)"])
        for control in running { control.stop(.shutdown) }
        let hardEnd = ContinuousClock.now + options.cancellationGrace + .seconds(1)
        while slots.busy > 0, ContinuousClock.now < hardEnd {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Stops a running job now (operator cancel). Returns false if this worker does not run it.
    @discardableResult
    func stopJob(_ id: String, reason: StopReason) -> Bool {
        guard let control = state.withLock({ $0.running[id] }) else { return false }
        control.stop(reason)
        return true
    }
}

/// Seconds with three decimals, for `BLPOP` timeouts.
func format3(_ value: Double) -> String {
    let ms = Int((value * 1000).rounded())
    let frac = ms % 1000
    return "\(ms / 1000)." + (frac < 10 ? "00" : frac < 100 ? "0" : "") + "\(frac)"
}

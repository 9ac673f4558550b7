import Logging
import NIOCore
import Tracing

/// Running: one task per claimed attempt, and recording how it ended (complete, retry, dead, cancel, hand
/// back) with fenced scripts.
extension Worker {
    func start(_ job: ClaimedJob) {
        let entry = registry.entry(job.name)
        let timeout: Duration =
            job.timeoutMs > 0 ? .milliseconds(job.timeoutMs) : (entry?.timeout ?? options.defaultTimeout)
        let control = JobControl(job: job, timeout: timeout)
        leases.add(control)
        // One task per attempt, so that it can be canceled on its own (timeout, cancel request, lost lease).
        // Unstructured on purpose: a handler that ignores cancellation past the shutdown grace is left
        // behind when the worker stops (its job handed back), so that shutdown never waits on it forever.
        let task = Task { await self.execute(control, entry: entry) }
        control.attach(task)
    }

    private func execute(_ control: JobControl, entry: JobRegistry.Entry?) async {
        let job = control.job
        let context = JobContext(
            id: job.id, name: job.name, queue: job.queue, attempt: job.attempt, maxAttempts: job.maxAttempts,
            tenantID: job.tenant, correlationID: job.correlation, enqueuedAtMs: job.enqueuedAt, baseLogger: logger,
            namespace: namespace, redis: redis, control: control)
        let series = metrics.job(queue: job.queue, name: job.name)
        series.started.increment()
        if let wait = job.waitMs { series.wait.recordMilliseconds(wait) }
        let began = ContinuousClock.now
        let outcome: JobOutcome
        if JobTrace.isActive {
            outcome = await runTraced(job, entry: entry, context: context)
        } else {
            outcome = await run(job, entry: entry, context: context)
        }
        let took = ContinuousClock.now - began
        series.duration.recordNanoseconds(took.components.seconds * 1_000_000_000 + took.components.attoseconds / 1_000_000_000)
        // Set once the attempt moved to the leases being recorded (which took it off the running ones).
        var recording = false
        defer { finished(control, stillRunning: !recording) }
        // Handed back by a worker that stopped without waiting for this handler: nothing to write.
        guard control.claimFinalization() else { return }
        // A normal return after a stop request (timeout, cancel, shutdown) is that outcome, not success:
        // `for await` loops and `try? await Task.sleep` end normally on cancellation. Unless the handler
        // said its work is done.
        let reason = control.reason
        let historySeries = HistoryRecorder.Series(queue: job.queue, job: series.label)
        if case .success(let result) = outcome, reason == nil || (control.finishedByHandler && reason != .leaseLost) {
            // The lease stays renewed until the completion is written, however long Redis takes to answer.
            leases.recording(control)
            recording = true
            acker.complete(queue: job.queue, .init(id: job.id, token: job.token, result: result))
            state.withLock { $0.processed += 1 }
            series.completed.increment()
            history.record(historySeries, completed: true, runMs: took.milliseconds, waitMs: job.waitMs)
        } else {
            switch reason {
            case nil, .timeout:
                history.record(historySeries, completed: false, runMs: took.milliseconds, waitMs: job.waitMs)
            case .canceled, .shutdown, .leaseLost:
                break
            }
            var logger = context.logger
            logger[metadataKey: "duration_ms"] = "\(took.milliseconds)"
            await finalizeUnsuccessful(control, outcome: outcome, logger: logger)
        }
    }

    private func run(_ job: ClaimedJob, entry: JobRegistry.Entry?, context: JobContext) async -> JobOutcome {
        guard let entry else { return .thrown(JobPayloadError(description: "unknown job name '\(job.name)'")) }
        do {
            return .success(try await entry.handler(job.payload, context))
        } catch {
            return .thrown(error)
        }
    }

    /// The attempt inside a `jobkit.run` consumer span, a child of the producer's span when the job carries
    /// its trace context; the handler's own spans are children of it.
    private func runTraced(_ job: ClaimedJob, entry: JobRegistry.Entry?, context: JobContext) async -> JobOutcome {
        let parent = job.trace.map(JobTrace.extract) ?? .topLevel
        return await withSpan("jobkit.run", context: parent, ofKind: .consumer) { span in
            span.attributes["job.id"] = job.id
            span.attributes["job.name"] = job.name
            span.attributes["queue"] = job.queue
            span.attributes["jobkit.attempt"] = job.attempt
            let outcome = await run(job, entry: entry, context: context)
            if case .thrown(let error) = outcome {
                span.recordError(error)
                span.setStatus(SpanStatus(code: .error))
            }
            return outcome
        }
    }

    /// Frees the attempt's slot: only here, when its handler really returned. `stillRunning`: the attempt is
    /// still among the running ones (not moved to the leases being recorded).
    private func finished(_ control: JobControl, stillRunning: Bool) {
        if stillRunning { leases.remove(control) }
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
            await fail(job, kind: .canceled, error: "canceled", logger: logger)
            return
        case .timeout(let limit):
            await fail(job, kind: .error, error: "timed out after \(limit)", logger: logger)
            return
        case nil:
            break
        }
        switch outcome {
        case .thrown(let error as JobRetryLater):
            await fail(job, kind: .later, error: error.reason, delay: error.delay, logger: logger)
        case .thrown(let error as JobPayloadError):
            await fail(job, kind: .poison, error: error.description, logger: logger)
        case .thrown(let error as JobFatalError):
            await fail(job, kind: .poison, error: error.reason, logger: logger)
        case .thrown(let error):
            await fail(job, kind: .error, error: String(describing: error), logger: logger)
        case .success:
            // Unreachable: a success is only unsuccessful with a stop reason, handled above.
            await fail(job, kind: .error, error: "returned after a stop request", logger: logger)
        }
    }

    private func fail(
        _ job: ClaimedJob, kind: LeaseScripts.FailKind, error: String, delay: Duration = .zero, logger: Logger
    ) async {
        let keys = QueueKeys(namespace: namespace, queue: job.queue)
        let text = String(error.prefix(4000))
        var failures = 0
        while true {
            do {
                let reply = try await redis.run(
                    LeaseScripts.fail(
                        keys, id: job.id, token: job.token, kind: kind, error: text, delay: delay,
                        jitter: Double.random(in: 0..<1), node: options.nodeID))
                let outcome = try LeaseScripts.failOutcome(reply)
                let series = metrics.job(queue: job.queue, name: job.name)
                if kind == .error || kind == .poison, outcome != .refused { series.failed.increment() }
                switch outcome {
                case .dead:
                    series.dead.increment()
                    state.withLock { $0.failed += 1 }
                    logger.warning("Job dead", metadata: ["error": "\(text)"])
                case .refused:
                    metrics.resultsRefused.increment()
                    logger.warning("Failure refused: the job's lease is no longer ours")
                case .canceled:
                    series.canceled.increment()
                    state.withLock { $0.failed += 1 }
                    logger.info("Job canceled")
                case .retrying, .scheduled:
                    series.retried.increment()
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

    func release(_ jobs: [ClaimedJob]) async {
        var byQueue: [String: [ClaimedJob]] = [:]
        for job in jobs { byQueue[job.queue, default: []].append(job) }
        for (queue, jobs) in byQueue {
            let keys = QueueKeys(namespace: namespace, queue: queue)
            do {
                _ = try await redis.run(LeaseScripts.release(keys, jobs))
                logger.debug("Jobs handed back", metadata: ["queue": "\(queue)", "count": "\(jobs.count)"])
            } catch {
                logger.error(
                    "Cannot hand jobs back; they run again when their leases expire",
                    metadata: ["queue": "\(queue)", "error": "\(error)"])
            }
        }
    }
}

import Logging
import NIOCore

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
        defer { finished(control) }
        // Handed back by a worker that stopped without waiting for this handler: nothing to write.
        guard control.claimFinalization() else { return }
        // A normal return after a stop request (timeout, cancel, shutdown) is that outcome, not success:
        // `for await` loops and `try? await Task.sleep` end normally on cancellation. Unless the handler
        // said its work is done.
        let reason = control.reason
        if case .success(let result) = outcome, reason == nil || (control.finishedByHandler && reason != .leaseLost) {
            acker.complete(queue: job.queue, .init(id: job.id, token: job.token, result: result))
            state.withLock { $0.processed += 1 }
        } else {
            await finalizeUnsuccessful(control, outcome: outcome, logger: context.logger)
        }
    }

    /// Frees the attempt's slot: only here, when its handler really returned.
    private func finished(_ control: JobControl) {
        leases.remove(control)
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
                switch outcome {
                case .dead:
                    state.withLock { $0.failed += 1 }
                    logger.warning("Job dead", metadata: ["error": "\(text)"])
                case .refused:
                    logger.warning("Failure refused: the job's lease is no longer ours")
                case .canceled:
                    state.withLock { $0.failed += 1 }
                    logger.info("Job canceled")
                case .retrying, .scheduled:
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
                logger.debug("Jobs handed back", metadata: ["queue.name": "\(queue)", "count": "\(jobs.count)"])
            } catch {
                logger.error(
                    "Cannot hand jobs back; they run again when their leases expire",
                    metadata: ["queue.name": "\(queue)", "error": "\(error)"])
            }
        }
    }
}

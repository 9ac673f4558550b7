import NIOCore

/// Fetching: claim as many jobs as there are free slots, by queue weight or in strict order, then block on
/// the queues' wake markers until new work is pushed or the next scheduled job is due.
extension Worker {
    func fetchLoop(_ blocking: RedisBlockingClient) async {
        var failures = 0
        // The wake markers this fetcher took, while it has not claimed with them yet (on a cluster, waits on
        // several slots can each take one).
        var markers: [String] = []
        while !isStopping {
            if !markers.isEmpty, !slots.hasFree {
                // Woken, but the other fetcher took every free slot: pass the markers on to another node
                // rather than swallow them while waiting for a slot.
                let keys = markers
                markers = []
                _ = try? await redis.pipeline(keys.flatMap { [RedisCommand("LPUSH", $0, "1"), RedisCommand("LTRIM", $0, 0, 0)] })
            }
            let free = await slots.reserveFree()
            markers = []
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
                        LeaseScripts.claim(keys, count: min(free - claimed, 1000), lease: options.leaseDuration, node: options.nodeID))
                    let (_, due, jobs) = try ClaimedJob.parse(reply, queue: queue)
                    if !jobs.isEmpty { metrics.claimBatch.record(jobs.count) }
                    logger.trace(
                        "Claimed", metadata: ["queue": "\(queue)", "count": "\(jobs.count)", "next.due.ms": "\(due)"])
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
                markers = await waitForWork(blocking, maxMilliseconds: nextDue)
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
    /// Returns the wake keys whose markers it took (none on a timeout).
    @discardableResult
    private func waitForWork(_ blocking: RedisBlockingClient, maxMilliseconds: Int) async -> [String] {
        let waitMs = min(Int(options.maxIdleWait.milliseconds), maxMilliseconds)
        logger.trace("Waiting for work", metadata: ["wait.ms": "\(waitMs)"])
        guard waitMs > 0 else { return [] }
        let wakeKeys = options.queues.map { QueueKeys(namespace: namespace, queue: $0.name).wake }
        do {
            return try await blocking.pop(from: wakeKeys, waitMilliseconds: waitMs)
        } catch {
            if !isStopping {
                logger.debug("Wake wait failed", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(100))
            }
            return []
        }
    }
}

import Logging

/// Returns abandoned jobs to work: leases that expired (any node may run it, each job moves once), and at
/// once the jobs of a node declared dead by the registry.
///
/// A lost lease is not a failed attempt: the attempt is given back and counted as an expiry instead; a
/// job whose lease is lost ``maxExpiries`` times (it keeps killing its node) ends `dead` with a reason
/// that says so.
struct Reaper: Sendable {
    let redis: RedisPool
    let namespace: String
    let logger: Logger
    /// See ``LeaseKeeper/pauseThresholdMs``.
    let pauseThresholdMs: Int
    let maxExpiries: Int

    /// Reaps expired leases on `queues`.
    func reap(queues: [String]) async {
        for queue in queues {
            let keys = QueueKeys(namespace: namespace, queue: queue)
            do {
                let reply = try await redis.run(
                    LeaseScripts.reap, keys: [keys.active], arguments: [keys.prefix, 1000, pauseThresholdMs, maxExpiries])
                let counts = (reply.array ?? []).compactMap(\.int)
                if counts.count == 2, counts[0] + counts[1] > 0 {
                    logger.info(
                        "Expired leases reclaimed",
                        metadata: ["queue.name": "\(queue)", "requeued": "\(counts[0])", "dead": "\(counts[1])"])
                }
            } catch {
                logger.debug("Reaper failed", metadata: ["queue.name": "\(queue)", "error": "\(error)"])
            }
        }
    }

    /// Re-runs at once the jobs of a node declared dead, in every known queue. Only leases ending at or
    /// before `cutoffMs` are taken (leases the node renewed after it came back stay its own).
    func reclaim(node: String, cutoffMs: Int64) async throws -> (requeued: Int, dead: Int) {
        let queues = (try await redis.send(RedisCommand("SMEMBERS", QueueKeys.queueSet(namespace: namespace))).array ?? [])
            .compactMap(\.string)
        var requeued = 0
        var dead = 0
        for queue in queues {
            let k = QueueKeys(namespace: namespace, queue: queue)
            let reply = try await redis.run(
                LeaseScripts.reclaimNode, keys: [k.active], arguments: [k.prefix, node, cutoffMs, maxExpiries])
            let counts = (reply.array ?? []).compactMap(\.int)
            if counts.count == 2 {
                requeued += counts[0]
                dead += counts[1]
            }
        }
        return (requeued, dead)
    }
}

import Logging
import ServiceLifecycle

/// Returns abandoned jobs to work: leases that expired (any node may run it, each job moves once), and at
/// once the jobs of a node declared dead by the registry. As a `Service` (a ``JobNode`` runs one), it reaps
/// its ``queues`` every ``interval`` and trims finished jobs past their retention age about once a minute.
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
    /// The queues the service reaps.
    var queues: [String] = []
    /// How often the service reaps.
    var interval: Duration = .seconds(5)

    /// Reaps expired leases on `queues`.
    func reap(queues: [String]) async {
        for queue in queues {
            let keys = QueueKeys(namespace: namespace, queue: queue)
            do {
                let moved = try LeaseScripts.Moved(
                    try await redis.run(
                        LeaseScripts.reap(keys, limit: 1000, pauseThresholdMs: pauseThresholdMs, maxExpiries: maxExpiries)))
                ReclaimMetrics.record(moved)
                if moved.requeued + moved.dead > 0 {
                    logger.info(
                        "Expired leases reclaimed",
                        metadata: ["queue": "\(queue)", "requeued": "\(moved.requeued)", "dead": "\(moved.dead)"])
                }
            } catch {
                logger.debug("Reaper failed", metadata: ["queue": "\(queue)", "error": "\(error)"])
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
            let moved = try LeaseScripts.Moved(
                try await redis.run(LeaseScripts.reclaimNode(k, node: node, cutoffMs: cutoffMs, maxExpiries: maxExpiries)))
            ReclaimMetrics.record(moved)
            requeued += moved.requeued
            dead += moved.dead
        }
        return (requeued, dead)
    }
}

extension Reaper: Service {
    /// Reaps at once (leases that expired while no node ran), then every ``interval`` until graceful
    /// shutdown.
    func run() async throws {
        await reap(queues: queues)
        let trimEvery = max(1, Int(Duration.seconds(60) / interval))
        let trimmer = JobQueue(redis: redis, namespace: namespace, logger: logger)
        await cancelWhenGracefulShutdown {
            var round = 0
            while !Task.isCancelled {
                do { try await Task.sleep(for: interval) } catch { return }
                await reap(queues: queues)
                round += 1
                if round % trimEvery == 0 {
                    for queue in queues { _ = try? await trimmer.trimFinished(queue: queue) }
                }
            }
        }
    }
}

import Logging
import NIOCore
import ServiceLifecycle

/// Fires due schedule ticks. Every node runs one; each tick still enqueues exactly one job, because
/// claiming it is a compare-and-set of its due score inside the script that enqueues the job.
///
/// The loop sleeps until the nearest due tick (at most ``maximumWait``), and wakes early when schedules
/// change (``ScheduleStore`` pushes a marker).
public final class Scheduler: Service, Sendable {
    public let store: ScheduleStore
    let logger: Logger
    let maximumWait: Duration
    private let blocking: RedisBlockingClient

    public init(store: ScheduleStore, maximumWait: Duration = .seconds(5), logger: Logger = Logger(label: "jobkit.scheduler")) {
        self.store = store
        self.logger = logger
        self.maximumWait = maximumWait
        self.blocking = store.redis.makeBlockingClient(name: "jobkit-scheduler")
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                let wait: Int64
                do {
                    wait = try await runOnce()
                } catch {
                    logger.error("Scheduler pass failed: Redis unreachable?", metadata: ["error": "\(error)"])
                    wait = 1000
                }
                if Task.isShuttingDownGracefully { break }
                await sleep(milliseconds: wait)
            }
        } onGracefulShutdown: {
            self.blocking.closeNow()
        }
        await blocking.close()
    }

    /// Fires every due tick once; returns ms until the nearest next tick (capped at ``maximumWait``).
    @discardableResult
    public func runOnce() async throws -> Int64 {
        let redis = store.redis
        let flat = try await redis.send(RedisCommand("HVALS", store.index)).array ?? []
        let queues = Set(flat.compactMap(\.string)).sorted()
        var nearest = maximumWait.milliseconds
        guard !queues.isEmpty else { return nearest }
        let now = try await redis.timeMilliseconds()
        let replies = try await redis.pipeline(
            queues.map { RedisCommand("ZRANGE", store.keys($0).schedulesDue, 0, 99, "WITHSCORES") })
        for (queue, reply) in zip(queues, replies) {
            for (name, score) in reply.pairs {
                guard let tick = score.double.map({ Int64($0) }) else { continue }
                if tick > now {
                    nearest = min(nearest, tick - now)
                    continue
                }
                let next = try await fire(queue: queue, name: name, tick: tick, now: now)
                if let next { nearest = min(nearest, max(0, next - now)) }
            }
        }
        return max(0, nearest)
    }

    /// Claims one due tick; returns the schedule's next tick.
    private func fire(queue: String, name: String, tick: Int64, now: Int64) async throws -> Int64? {
        let k = store.keys(queue)
        guard let text = try await store.redis.send(RedisCommand("HGET", k.schedules, name)).string,
            let schedule = Schedule.decode(text)
        else {
            _ = try await store.redis.send(RedisCommand("ZREM", k.schedulesDue, name))
            return nil
        }
        let (fire, next) = schedule.plan(dueTick: tick, now: now)
        let jobs = fire.map { t in
            ScheduleScripts.TickJob(tick: t, runAtMs: t + schedule.jitter(for: t), id: JobID.make())
        }
        let call = ScheduleScripts.tick(k, name: name, schedule: schedule, expectedTick: tick, nextTick: next, jobs: jobs)
        let reply = try ScheduleScripts.TickReply(try await store.redis.run(call))
        switch reply.status {
        case .fired:
            if !reply.ids.isEmpty {
                logger.debug(
                    "Schedule fired", metadata: ["schedule": "\(name)", "tick": "\(tick)", "job.ids": "\(reply.ids)"])
            }
            if let replaced = reply.replaced {
                // `replace` found the previous run still running: tell its node.
                let queueClient = JobQueue(redis: store.redis, namespace: store.namespace, logger: logger)
                try await queueClient.requestCancel(jobs: [replaced], queue: queue)
            }
        case .skipped:
            logger.debug("Schedule tick skipped: previous run still going", metadata: ["schedule": "\(name)"])
        case .claimedElsewhere, .notDue:
            break  // another node claimed it, or it is not due by Redis time yet
        }
        return next
    }

    private func sleep(milliseconds: Int64) async {
        guard milliseconds > 0 else { return }
        do {
            _ = try await blocking.pop(
                from: [QueueKeys.schedulerWake(namespace: store.namespace)], waitMilliseconds: Int(milliseconds))
        } catch {
            if !Task.isShuttingDownGracefully { try? await Task.sleep(for: .milliseconds(100)) }
        }
    }
}

import Logging
import NIOCore
import Synchronization

/// Batches job completions: while one `complete` call is in flight, the next ones gather, so under load
/// one script call acknowledges many jobs.
final class Acker: Sendable {
    struct Completion: Sendable {
        var id: String
        var token: String
        var result: ByteBuffer
    }

    private struct State {
        var pending: [String: [Completion]] = [:]
        var count = 0
        var waiter: CheckedContinuation<Void, Never>?
        var finishing = false
    }

    private let state = Mutex(State())
    private let redis: RedisPool
    private let namespace: String
    private let logger: Logger
    /// Called with the ids whose completion was refused (lease lost).
    private let onRefused: @Sendable (String, [String]) -> Void
    /// Called with every completion once its batch is written (accepted or refused) or given up.
    private let onSettled: @Sendable ([Completion]) -> Void

    init(
        redis: RedisPool, namespace: String, logger: Logger, onRefused: @escaping @Sendable (String, [String]) -> Void,
        onSettled: @escaping @Sendable ([Completion]) -> Void
    ) {
        self.redis = redis
        self.namespace = namespace
        self.logger = logger
        self.onRefused = onRefused
        self.onSettled = onSettled
    }

    func complete(queue: String, _ completion: Completion) {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.pending[queue, default: []].append(completion)
            s.count += 1
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }

    /// Resolved when ``run()`` has written everything after ``finish()``.
    let stopped = OneShot<Void>()

    /// Flushes until ``finish()`` is called and everything is written.
    func run() async {
        while let batch = await nextBatch() {
            await flush(batch)
        }
        stopped.resolve(.success(()))
    }

    private func nextBatch() async -> [String: [Completion]]? {
        while true {
            let (batch, done): ([String: [Completion]]?, Bool) = state.withLock { s in
                if s.count > 0 {
                    let b = s.pending
                    s.pending = [:]
                    s.count = 0
                    return (b, false)
                }
                return (nil, s.finishing)
            }
            if let batch { return batch }
            if done { return nil }
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.count > 0 || s.finishing { return true }
                    s.waiter = c
                    return false
                }
                if resumeNow { c.resume() }
            }
        }
    }

    private func flush(_ batch: [String: [Completion]]) async {
        defer { onSettled(batch.values.flatMap { $0 }) }
        var queues: [String] = []
        var calls: [RedisScriptCall] = []
        for (queue, items) in batch {
            let keys = QueueKeys(namespace: namespace, queue: queue)
            var start = 0
            while start < items.count {
                let end = min(items.count, start + 500)
                queues.append(queue)
                calls.append(LeaseScripts.complete(keys, items[start..<end]))
                start = end
            }
        }
        var failures = 0
        while true {
            do {
                let replies = try await redis.run(calls)
                for (queue, reply) in zip(queues, replies) {
                    if case .error(let text) = reply {
                        logger.error("Completion script failed", metadata: ["queue": "\(queue)", "error": "\(String(buffer: text))"])
                        continue
                    }
                    let refused = (reply.array ?? []).compactMap(\.string)
                    if !refused.isEmpty { onRefused(queue, refused) }
                }
                return
            } catch {
                failures += 1
                logger.error(
                    "Completion write failed; retrying (leases keep the jobs safe)",
                    metadata: ["error": "\(error)", "jobs": "\(calls.count)"])
                let finishing = state.withLock { $0.finishing }
                if finishing && failures >= 5 {
                    logger.error("Giving up on completions at shutdown; their leases will expire and the jobs run again")
                    return
                }
                try? await Task.sleep(for: retryDelay(afterFailures: failures))
            }
        }
    }

    /// Stops accepting waits: ``run()`` returns once pending completions are written.
    func finish() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.finishing = true
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }
}

import JobKit
import Logging
import NIOCore

/// A namespace, a pool, a producer and helpers to run workers against the shared test Redis.
public struct EngineHarness: Sendable {
    public let namespace: String
    public let redis: RedisPool
    public let queue: JobQueue
    public let registry = JobRegistry()

    public init(namespace: String) throws {
        self.namespace = namespace
        self.redis = RedisPool(configuration: try TestEnvironment.redisConfiguration(), size: 2)
        self.queue = JobQueue(redis: redis, namespace: namespace, logger: TestEnvironment.logger)
    }

    /// A worker on `queues` with test-friendly timings.
    public func worker(
        queues: String = "default", concurrency: Int = 4, configure: (inout WorkerOptions) -> Void = { _ in }
    ) throws -> Worker {
        var options = WorkerOptions(
            queues: try WorkerOptions.parseQueues(queues), concurrency: concurrency,
            nodeID: "test-\(Int.random(in: 1000...9999))")
        options.shutdownGrace = .seconds(5)
        configure(&options)
        return try Worker(redis: redis, registry: registry, options: options, namespace: namespace, logger: TestEnvironment.logger)
    }

    /// Runs `worker` while `body` runs, then shuts it down gracefully and waits for it to stop.
    @discardableResult
    public func running<T: Sendable>(_ worker: Worker, _ body: () async throws -> T) async throws -> T {
        let task = Task { try await worker.run() }
        do {
            let result = try await body()
            worker.beginShutdown()
            try await task.value
            return result
        } catch {
            worker.beginShutdown()
            _ = try? await task.value
            throw error
        }
    }

    /// The entries `jobkit.record` appended under `key`.
    public func recorded(_ key: String) async throws -> [String] {
        (try await redis.send(RedisCommand("LRANGE", "\(namespace):diag:\(key)", 0, -1)).array ?? []).compactMap(\.string)
    }

    /// Runs `body` with a fresh harness whose keys are deleted afterwards.
    public static func with<T: Sendable>(_ body: (EngineHarness) async throws -> T) async throws -> T {
        try await withTestNamespace { ns in
            let harness = try EngineHarness(namespace: ns)
            do {
                let r = try await body(harness)
                await harness.redis.close()
                return r
            } catch {
                await harness.redis.close()
                throw error
            }
        }
    }
}

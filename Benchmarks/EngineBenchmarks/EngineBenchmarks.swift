import Benchmark
import Foundation
import JobKit
import NIOCore
import Synchronization

// The engine's hot paths against a real redis-server at `REDIS_URL`, through the public API:
//
//     cd Benchmarks && REDIS_URL=redis://127.0.0.1:6379 \
//         swift package --disable-sandbox benchmark run --target EngineBenchmarks
//
// One iteration is 1,000 jobs and the scaling factor is `.kilo`, so the throughput column reads as thousands of
// jobs per second and the scaled malloc figures are mallocs per job. End-to-end figures against the Python peers
// come from `scripts/bench-adapter` (see docs/performance.md).
let benchmarks: @Sendable () -> Void = {
    let configuration = Benchmark.Configuration(
        metrics: [.throughput, .wallClock, .mallocCountTotal],
        warmupIterations: 2,
        scalingFactor: .kilo,
        maxDuration: .seconds(5),
        maxIterations: 200
    )
    let fixture = EngineFixture()

    Benchmark("Engine: enqueue | 1,000 jobs | 64 concurrent callers", configuration: configuration) { benchmark in
        let queue = fixture.queue()
        let counter = Counter()
        let total = benchmark.scaledIterations.count
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<64 {
                group.addTask {
                    while counter.value.add(1, ordering: .relaxed).oldValue < total {
                        try await queue.enqueue(EngineFixture.job("enqueue"))
                    }
                }
            }
            try await group.waitForAll()
        }
    } setup: {
        try await fixture.open()
    } teardown: {
        try await fixture.close()
    }

    Benchmark("Engine: bulk enqueue | 1,000 jobs", configuration: configuration) { benchmark in
        let jobs = (0..<benchmark.scaledIterations.count).map { _ in EngineFixture.job("bulk") }
        try await fixture.queue().enqueueBulk(jobs)
    } setup: {
        try await fixture.open()
    } teardown: {
        try await fixture.close()
    }

    // Claim, run (no-op) and acknowledge: the jobs are enqueued before the measurement starts, then one worker
    // with 16 slots drains them.
    Benchmark("Engine: claim+run+ack | 1,000 jobs | 16 slots", configuration: configuration) { benchmark in
        let n = benchmark.scaledIterations.count
        let queueName = "drain-\(UUID().uuidString.prefix(8))"
        var options = EnqueueOptions(queue: queueName, maxAttempts: 1)
        options.maxAttempts = 1
        let queue = fixture.queue()
        try await queue.setRetention(queue: queueName, completed: .keepNothing)
        try await queue.enqueueBulk((0..<n).map { _ in JobQueue.Job(name: "jobkit.noop", payload: ByteBuffer(string: "{}"), options: options) })
        let registry = JobRegistry()
        var workerOptions = WorkerOptions(queues: [.init(queueName)], concurrency: 16, nodeID: "bench")
        workerOptions.burst = true
        let worker = try! Worker(redis: fixture.pool(), registry: registry, options: workerOptions, namespace: EngineFixture.namespace)
        benchmark.startMeasurement()
        try await worker.run()  // burst: returns once the queue is empty and nothing runs
        benchmark.stopMeasurement()
    } setup: {
        try await fixture.open()
    } teardown: {
        try await fixture.close()
    }
}

final class Counter: Sendable {
    let value = Atomic<Int>(0)
}

/// One pool and producer per benchmark run, in a namespace of its own that teardown deletes.
final class EngineFixture: Sendable {
    static let namespace = "jobkit-bench-engine"
    private let state = Mutex<(RedisPool, JobQueue)?>(nil)

    static func job(_ tag: String) -> JobQueue.Job {
        JobQueue.Job(name: "jobkit.noop", payload: ByteBuffer(string: #"{"tag":"\#(tag)"}"#), options: EnqueueOptions(queue: "bench-\(tag)"))
    }

    func open() async throws {
        guard let url = ProcessInfo.processInfo.environment["REDIS_URL"] else {
            fatalError("EngineBenchmarks need REDIS_URL (a throwaway redis-server; see Benchmarks/scripts/redis-bench)")
        }
        let pool = RedisPool(configuration: try RedisConfiguration(url: url, clientName: "jobkit-engine-bench"), size: 2)
        try await pool.warmUp()
        state.withLock { $0 = (pool, JobQueue(redis: pool, namespace: Self.namespace)) }
    }

    func pool() -> RedisPool { state.withLock { $0!.0 } }
    func queue() -> JobQueue { state.withLock { $0!.1 } }

    func close() async throws {
        guard let (pool, _) = state.withLock({ $0 }) else { return }
        try await pool.deleteKeys(matching: "\(Self.namespace):*")
        await pool.close()
        state.withLock { $0 = nil }
    }
}

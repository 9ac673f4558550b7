// The JobKit side of ../shared/bench/peers's adapter contract (see its README):
//   BenchAdapter enqueue --n N [--bulk] [--tasks T]   (T = 1 by default: one caller awaiting each, like the peers)
//   BenchAdapter enqueue --rate R --seconds T
//   BenchAdapter drain --n N --concurrency C [--warmup K] [--latency-out FILE] [--timeout S]
//   BenchAdapter describe --concurrency C
// The last line of stdout is one JSON object. Jobs are `bench.noop` with the payload {"i": k, "t": unix time}.
import Foundation
import JobKit
import Logging
import NIOCore
import NIOPosix
import Synchronization
import InMemoryTracing
import Tracing

#if canImport(Glibc)
import Glibc
#endif

let environment = ProcessInfo.processInfo.environment
let redisURL = environment["BENCH_REDIS_URL"] ?? "redis://127.0.0.1:6399/0"
let queueName = environment["BENCH_QUEUE"] ?? "bench"
/// `BENCH_QUEUES=a,b,c` spreads the jobs over several queues (job k to queue k mod count) and drains them all, for
/// Redis Cluster runs with one queue per shard (`Benchmarks/scripts/cluster-bench`).
let queueNames = environment["BENCH_QUEUES"].map { $0.split(separator: ",").map(String.init) } ?? [queueName]
let jobName = NoopJob.jobName

func unixTime() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
        + Double(usage.ru_stime.tv_usec) / 1e6
}

func emit(_ object: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
    fflush(nil)
}

func log(_ text: String) { FileHandle.standardError.write(Data("bench-adapter: \(text)\n".utf8)) }

func argument(_ name: String) -> String? {
    let args = CommandLine.arguments
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
    return args[i + 1]
}

func flag(_ name: String) -> Bool { CommandLine.arguments.contains(name) }

func payload(_ i: Int, _ t: Double) -> ByteBuffer { ByteBuffer(string: "{\"i\":\(i),\"t\":\(t)}") }

func quietLogger() -> Logger {
    var l = Logger(label: "bench")
    l.logLevel = .error
    return l
}

func makePool(size: Int) throws -> RedisPool {
    RedisPool(configuration: try RedisConfiguration(url: redisURL, clientName: "jobkit-bench", logger: quietLogger()), size: size)
}

// MARK: enqueue

final class Counter: Sendable {
    let value = Atomic<Int>(0)
}

func enqueueCount(n: Int, bulk: Bool, tasks: Int) async throws {
    let pool = try makePool(size: 2)
    try await pool.warmUp()
    let queue = JobQueue(redis: pool, namespace: "jobkit", logger: quietLogger())
    let spread = queueNames.map { EnqueueOptions(queue: $0, maxAttempts: 1) }
    // Register the queue name (one SADD per process) outside the timed loop, as connecting is.
    _ = try await queue.enqueueBulk([])
    let cpu0 = cpuSeconds()
    let start = ContinuousClock.now
    if bulk {
        var k = 0
        while k < n {
            let end = min(n, k + 10_000)
            let t = unixTime()
            try await queue.enqueueBulk((k..<end).map { JobQueue.Job(name: jobName, payload: payload($0, t), options: spread[$0 % spread.count]) })
            k = end
        }
    } else {
        // The ordinary one-job API, from `tasks` callers: 1 by default, one caller awaiting each enqueue as the
        // peers' producers do; `--tasks 64` shows concurrent callers (automatic pipelining shares round trips).
        let next = Counter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<tasks {
                group.addTask {
                    while true {
                        let i = next.value.add(1, ordering: .relaxed).oldValue
                        if i >= n { return }
                        try await queue.enqueue(JobQueue.Job(name: jobName, payload: payload(i, unixTime()), options: spread[i % spread.count]))
                    }
                }
            }
            try await group.waitForAll()
        }
    }
    let seconds = Double((ContinuousClock.now - start).components.attoseconds) / 1e18
        + Double((ContinuousClock.now - start).components.seconds)
    let cpu = cpuSeconds() - cpu0
    await pool.close()
    emit(["n": n, "seconds": seconds, "rate": Double(n) / seconds, "cpu_s": cpu, "tasks": bulk ? 1 : tasks])
}

/// The client's floor: one caller awaiting `n` round trips of `PING` or `EVAL "return 1" 0`, the
/// commands `redis-benchmark -c 1 -P 1` times, through the same pool the engine uses.
func probe(n: Int, command: String) async throws {
    let pool = try makePool(size: 2)
    try await pool.warmUp()
    let cmd = command == "ping" ? RedisCommand("PING") : RedisCommand("EVAL", "return 1", "0")
    let start = ContinuousClock.now
    for _ in 0..<n { _ = try await pool.send(cmd) }
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    await pool.close()
    emit(["n": n, "seconds": seconds, "rate": Double(n) / seconds, "command": command])
}

func enqueuePaced(rate: Double, seconds: Double) async throws {
    let pool = try makePool(size: 1)
    try await pool.warmUp()
    let queue = JobQueue(redis: pool, namespace: "jobkit", logger: quietLogger())
    let options = EnqueueOptions(queue: queueName, maxAttempts: 1)
    _ = try await queue.enqueueBulk([])
    let total = Int(rate * seconds)
    let start = ContinuousClock.now
    for k in 0..<total {
        let due = start + .nanoseconds(Int64(Double(k) / rate * 1e9))
        if due > .now { try await Task.sleep(until: due, clock: .continuous) }
        try await queue.enqueue(JobQueue.Job(name: jobName, payload: payload(k, unixTime()), options: options))
    }
    let elapsed = ContinuousClock.now - start
    let s = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    await pool.close()
    emit(["n": total, "seconds": s, "rate": Double(total) / s])
}

// MARK: drain

/// What the workers saw: kept in memory, never in Redis.
final class Probe: Sendable {
    struct State {
        var done = 0
        var firstStart: Double?
        var lastStart: Double = 0
        var cpuAtFirst: Double = 0
        var cpuAtLast: Double = 0
        /// (i, start − t, start): the harness reads the first two columns; the third (unix time of the start)
        /// lines a slow job up with other traces (`perf sched`, `MONITOR`).
        var latencies: [(Int, Double, Double)] = []
        var warmupDone = 0
        /// The drain's waiter; set and taken under the same lock as `done`, so no wake-up is lost.
        var waiter: CheckedContinuation<Void, Never>?
        var timedOut = false
    }
    let state = Mutex(State())
    let target: Int
    let warm = Mutex<CheckedContinuation<Void, Never>?>(nil)
    let warmupTarget: Int

    /// Takes the waiter out, so that exactly one side resumes it.
    func takeWaiter() -> CheckedContinuation<Void, Never>? {
        state.withLock { s in
            defer { s.waiter = nil }
            return s.waiter
        }
    }

    /// Waits until `target` jobs ran (or ``takeWaiter()`` is resumed by the timeout).
    func waitForTarget() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { s -> Bool in
                if s.done >= target || s.timedOut { return true }
                s.waiter = c
                return false
            }
            if ready { c.resume() }
        }
    }

    func timeOut() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.timedOut = true
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }

    init(target: Int, warmup: Int) {
        self.target = target
        self.warmupTarget = warmup
    }

    func record(i: Int, t: Double) {
        let now = unixTime()
        var finish = false
        var warmed = false
        state.withLock { s in
            if i < 0 {
                s.warmupDone += 1
                warmed = s.warmupDone == warmupTarget
                return
            }
            if s.firstStart == nil {
                s.firstStart = now
                s.cpuAtFirst = cpuSeconds()
            }
            s.done += 1
            s.lastStart = now
            s.latencies.append((i, now - t, now))
            if s.done == target {
                s.cpuAtLast = cpuSeconds()
                finish = true
            }
        }
        if finish { takeWaiter()?.resume() }
        if warmed { warm.withLock { c in defer { c = nil }; return c }?.resume() }
    }
}

/// The job's argument, `{"i": k, "t": unix time}`. The handler decodes it with the ordinary typed API
/// (`JobRegistry.register`, Foundation's `JSONDecoder`), as the peers' libraries decode their JSON messages.
struct NoopJob: JobPayload {
    static let jobName = "bench.noop"
    var i: Int
    var t: Double
}

func drain(n: Int, concurrency: Int, warmup: Int, latencyOut: String?, timeout: Double) async throws {
    let pool = try makePool(size: 2)
    try await pool.warmUp()
    let queue = JobQueue(redis: pool, namespace: "jobkit", logger: quietLogger())
    // Fire-and-forget, as the peers run (no result backend): finished jobs are not retained.
    for name in queueNames { try await queue.setRetention(queue: name, completed: .keepNothing) }
    // BENCH_LIMIT=fixed-window|sliding-window|token-bucket attaches a limit to the queue that never binds (10^9 per
    // second), to show what a limit checked inside the claim costs.
    let limits = LimitStore(redis: pool, namespace: "jobkit")
    _ = try await limits.remove("bench")
    if let strategy = environment["BENCH_LIMIT"].flatMap(RateLimit.Strategy.init(rawValue:)) {
        try await limits.set(QueueLimit(name: "bench", queue: queueName, rate: RateLimit(strategy, limit: 1_000_000_000, per: .seconds(1))))
    }
    let probe = Probe(target: n, warmup: warmup)
    let registry = JobRegistry()
    registry.register(NoopJob.self) { job, _ in probe.record(i: job.i, t: job.t) }
    var options = WorkerOptions(queues: queueNames.map { .init($0) }, concurrency: concurrency, nodeID: "bench-\(getpid())")
    options.shutdownGrace = .seconds(2)
    let worker = try Worker(redis: pool, registry: registry, options: options, namespace: "jobkit", logger: quietLogger())
    let run = Task { try await worker.run() }
    signal(SIGTERM, SIG_IGN)
    let sigterm = DispatchSource.makeSignalSource(signal: SIGTERM)
    sigterm.setEventHandler { worker.beginShutdown() }
    sigterm.resume()

    if warmup > 0 {
        let warmupOptions = EnqueueOptions(queue: queueName, maxAttempts: 1)
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            probe.warm.withLock { $0 = c }
            Task {
                _ = try? await queue.enqueueBulk(
                    (0..<warmup).map { _ in JobQueue.Job(name: jobName, payload: payload(-1, unixTime()), options: warmupOptions) })
            }
        }
        print("READY")
        fflush(nil)
    }
    // Wait for N jobs, or the timeout.
    await withTaskGroup(of: Void.self) { group in
        group.addTask { await probe.waitForTarget() }
        group.addTask {
            try? await Task.sleep(for: .milliseconds(Int64(timeout * 1000)))
            probe.timeOut()
        }
        await group.next()
        group.cancelAll()
        probe.timeOut()  // unblocks the waiter if the timeout won
    }
    worker.beginShutdown()
    _ = try? await run.value
    let s = probe.state.withLock { $0 }
    if let latencyOut {
        var text = ""
        for (i, d, start) in s.latencies { text += "\(i) \(String(format: "%.6f", d)) \(String(format: "%.6f", start))\n" }
        try text.write(toFile: latencyOut, atomically: true, encoding: .utf8)
    }
    let seconds = s.firstStart.map { s.lastStart - $0 } ?? 0
    await pool.close()
    emit([
        "n": n, "done": s.done, "seconds": seconds, "rate": seconds > 0 ? Double(s.done) / seconds : 0,
        "workers": "1 proc x \(concurrency) slots", "worker_cpu_s": s.cpuAtLast - s.cpuAtFirst,
        "worker_cpu_jobs": max(0, s.done - 1),
    ])
    exit(s.done >= n ? 0 : 1)
}

// MARK: limits

/// `limiter --n N --tasks T [--strategy S]`: rate limiter decisions from T concurrent callers on a pool of 4, over
/// 100 keys of one limit that never binds.
func limiterBench(n: Int, tasks: Int, strategy: RateLimit.Strategy) async throws {
    let pool = try makePool(size: 4)
    try await pool.warmUp()
    let limiter = RateLimiter(redis: pool, namespace: "jobkit", name: "bench", limit: RateLimit(strategy, limit: 1_000_000_000, per: .seconds(1)))
    let next = Counter()
    let cpu0 = cpuSeconds()
    let start = ContinuousClock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<tasks {
            group.addTask {
                while true {
                    let i = next.value.add(1, ordering: .relaxed).oldValue
                    if i >= n { return }
                    _ = try await limiter.acquire("k\(i % 100)")
                }
            }
        }
        try await group.waitForAll()
    }
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    await pool.close()
    emit(["n": n, "tasks": tasks, "strategy": strategy.rawValue, "seconds": seconds, "rate": Double(n) / seconds, "cpu_s": cpuSeconds() - cpu0])
}

/// `cache --n N`: tenant cache gets of one stored value by one caller, each timed: p50, p99, max.
func cacheBench(n: Int) async throws {
    let pool = try makePool(size: 1)
    try await pool.warmUp()
    let cache = TenantCache(redis: pool, namespace: "jobkit")
    await cache.set(tenant: "t1", key: "accounts", value: ["checking": 1250, "savings": 8000])
    var samples: [Double] = []
    samples.reserveCapacity(n)
    for _ in 0..<n {
        let t0 = ContinuousClock.now
        _ = await cache.get([String: Int].self, tenant: "t1", key: "accounts")
        let d = ContinuousClock.now - t0
        samples.append(Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15)
    }
    samples.sort()
    await pool.close()
    emit([
        "n": n, "p50_ms": samples[n / 2], "p99_ms": samples[n * 99 / 100], "max_ms": samples[n - 1],
        "hits": cache.counts.hits,
    ])
}

// MARK: main

// BENCH_TRACER=inmemory bootstraps swift-distributed-tracing's in-memory tracer (every span kept in memory), to
// show what tracing costs when it is on; by default no tracer is bootstrapped, as in a node without --otlp-endpoint.
if environment["BENCH_TRACER"] == "inmemory" {
    InstrumentationSystem.bootstrap(InMemoryTracer())
}

if environment["JOBKIT_NIO_EXECUTOR"] != "0" {
    // Swift concurrency runs on NIO's event-loop threads: no thread hop between a task and its connection.
    _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
}

let command = CommandLine.arguments.dropFirst().first ?? ""
do {
    switch command {
    case "enqueue":
        if let rate = argument("--rate").flatMap(Double.init), let seconds = argument("--seconds").flatMap(Double.init) {
            try await enqueuePaced(rate: rate, seconds: seconds)
        } else {
            let n = Int(argument("--n") ?? "20000") ?? 20000
            try await enqueueCount(n: n, bulk: flag("--bulk"), tasks: Int(argument("--tasks") ?? "1") ?? 1)
        }
    case "drain":
        try await drain(
            n: Int(argument("--n") ?? "20000") ?? 20000, concurrency: Int(argument("--concurrency") ?? "16") ?? 16,
            warmup: Int(argument("--warmup") ?? "0") ?? 0, latencyOut: argument("--latency-out"),
            timeout: Double(argument("--timeout") ?? "600") ?? 600)
    case "probe":
        try await probe(n: Int(argument("--n") ?? "20000") ?? 20000, command: argument("--command") ?? "eval")
    case "limiter":
        try await limiterBench(
            n: Int(argument("--n") ?? "200000") ?? 200_000, tasks: Int(argument("--tasks") ?? "64") ?? 64,
            strategy: RateLimit.Strategy(rawValue: argument("--strategy") ?? "token-bucket") ?? .tokenBucket)
    case "cache":
        try await cacheBench(n: Int(argument("--n") ?? "20000") ?? 20_000)
    case "describe":
        let c = argument("--concurrency") ?? "16"
        emit(["workers": "1 proc x \(c) slots", "bulk_api": "JobQueue.enqueueBulk"])
    default:
        log("usage: enqueue --n N [--bulk] | enqueue --rate R --seconds T | drain --n N --concurrency C | describe")
        exit(2)
    }
} catch {
    log("failed: \(error)")
    exit(1)
}

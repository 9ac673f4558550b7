import Benchmark
import Foundation
import JobKit
import Synchronization

// JobKit's Redis client against a real redis-server at `REDIS_URL` (`scripts/redis-bench` starts one), plus the
// codec micro benchmarks in RESPBenchmarks.swift, which need no server.
//
//     cd Benchmarks && REDIS_URL=redis://127.0.0.1:6379 \
//         swift package --disable-sandbox benchmark run --target RedisBenchmarks --filter 'Redis:.*'
let benchmarks: @Sendable () -> Void = {
    registerRESPBenchmarks()
    registerRedisBenchmarks()
}

/// "Redis: GET+SET | T tasks | C connection(s)" for T in 1, 16, 128 over one `RedisConnection` and over a
/// `RedisPool` of 4.
///
/// One iteration is a batch of `scalingFactor` (1,000) commands that T concurrent tasks share: each task
/// alternately SETs `bench:key:<task>` to a 3-byte value and GETs it. Because one iteration is 1,000 commands
/// and the scaling factor is `.kilo`, the throughput column, shown in K, reads as thousands of commands per
/// second, and the scaled (`*`) malloc and instruction figures are per command. Connecting, `PING` and the
/// first SET of each key happen in the setup hook, outside the measurement.
///
/// A batch this small includes starting T tasks and draining them at the end; for steady-state figures next to
/// redis-benchmark, `scripts/redis-bench` runs `RedisThroughput`, which keeps every task busy for seconds.
func registerRedisBenchmarks() {
    let configuration = Benchmark.Configuration(
        metrics: [.throughput, .wallClock, .mallocCountTotal, .instructions],
        warmupIterations: 3,
        scalingFactor: .kilo,
        maxDuration: .seconds(5),
        maxIterations: 10_000
    )

    for topology in [RedisFixture.Topology.connection, .pool(size: 4)] {
        for tasks in [1, 16, 128] {
            let fixture = RedisFixture(topology: topology, tasks: tasks)
            let name = "Redis: GET+SET | \(counted(tasks, "task")) | \(counted(topology.connections, "connection"))"
            Benchmark(name, configuration: configuration) { benchmark in
                try await runGetSetBatch(
                    on: fixture.client(), keys: fixture.keys, value: RedisFixture.value,
                    commands: benchmark.scaledIterations.count)
            } setup: {
                try await fixture.open()
            } teardown: {
                try await fixture.close()
            }
        }
    }
}

/// "1 task", "16 tasks".
func counted(_ count: Int, _ noun: String) -> String {
    "\(count) \(noun)\(count == 1 ? "" : "s")"
}

/// Runs `commands` commands shared by `keys.count` concurrent tasks; task `i` alternately SETs `keys[i]` to
/// `value` and GETs it.
func runGetSetBatch(on client: any RedisCommandable, keys: [String], value: String, commands: Int) async throws {
    let tasks = keys.count
    try await withThrowingTaskGroup(of: Void.self) { group in
        for task in 0..<tasks {
            let share = commands / tasks + (task < commands % tasks ? 1 : 0)
            guard share > 0 else { continue }
            let key = keys[task]
            group.addTask {
                for i in 0..<share {
                    if i.isMultiple(of: 2) {
                        try await client.set(key, value)
                    } else {
                        _ = try await client.get(key)
                    }
                }
            }
        }
        try await group.waitForAll()
    }
}

/// The client of one Redis benchmark: opened by the benchmark's setup hook and closed by its teardown hook, so
/// that neither connecting nor cleaning up is measured.
final class RedisFixture: Sendable {
    enum Topology: Sendable {
        case connection
        case pool(size: Int)

        var connections: Int {
            switch self {
            case .connection: 1
            case .pool(let size): size
            }
        }
    }

    private enum Client: Sendable {
        case connection(RedisConnection)
        case pool(RedisPool)

        var commandable: any RedisCommandable {
            switch self {
            case .connection(let connection): connection
            case .pool(let pool): pool
            }
        }

        func close() async {
            switch self {
            case .connection(let connection): await connection.close()
            case .pool(let pool): await pool.close()
            }
        }
    }

    /// The 3-byte value every SET writes.
    static let value = "abc"

    let topology: Topology
    /// `bench:key:<task>`, one per task.
    let keys: [String]
    private let state = Mutex<Client?>(nil)

    init(topology: Topology, tasks: Int) {
        self.topology = topology
        self.keys = (0..<tasks).map { "bench:key:\($0)" }
    }

    /// The open client; only between `open()` and `close()`.
    func client() -> any RedisCommandable {
        guard let client = state.withLock({ $0 }) else {
            preconditionFailure("RedisFixture.client() called outside the benchmark's setup and teardown")
        }
        return client.commandable
    }

    /// Connects every connection, checks it with `PING`, and SETs each key once.
    func open() async throws {
        let configuration = try RedisConfiguration(url: Self.redisURL(), clientName: "jobkit-bench")
        let client: Client
        switch topology {
        case .connection:
            let connection = RedisConnection(configuration: configuration)
            try await connection.ping()
            client = .connection(connection)
        case .pool(let size):
            let pool = RedisPool(configuration: configuration, size: size)
            try await pool.warmUp()
            client = .pool(pool)
        }
        for key in keys {
            try await client.commandable.set(key, Self.value)
        }
        let previous = state.withLock { state in
            defer { state = client }
            return state
        }
        await previous?.close()
    }

    /// Deletes the benchmark's keys and closes the client.
    func close() async throws {
        let client = state.withLock { state in
            defer { state = nil }
            return state
        }
        guard let client else { return }
        var cleanupError: (any Error)?
        do {
            try await client.commandable.del(keys)
        } catch {
            cleanupError = error
        }
        await client.close()
        if let cleanupError { throw cleanupError }
    }

    /// `REDIS_URL`, or a fatal error that says how to get a server.
    static func redisURL() -> String {
        guard let url = ProcessInfo.processInfo.environment["REDIS_URL"], !url.isEmpty else {
            fatalError(
                """
                REDIS_URL is not set: the 'Redis:' benchmarks need a real redis-server.
                Run Benchmarks/scripts/redis-bench, which starts a throwaway one, or start one yourself and run
                  REDIS_URL=redis://127.0.0.1:6379 swift package --disable-sandbox benchmark run \
                --target RedisBenchmarks --filter 'Redis:.*'
                The codec benchmarks need no server: --filter 'RESP:.*'
                """
            )
        }
        return url
    }
}

// Steady-state GET+SET throughput of JobKit's Redis client against the redis-server at REDIS_URL, one JSON line per
// scenario on stdout, for `scripts/redis-bench` to set beside redis-benchmark's figures.
//
//     REDIS_URL=redis://127.0.0.1:6379 RedisThroughput [--seconds 3] [--warmup 1] [--tasks 1,16,128] [--pool-size 4]
//
// Each scenario is T tasks over one `RedisConnection`, then over a `RedisPool`. Every task alternately SETs
// `bench:key:<task>` to a 3-byte value (as redis-benchmark's default `-d 3`) and GETs it, back to back, until the
// time is up. A warm-up run of the same shape comes first and isn't counted. Progress goes to stderr.
//
//     {"name":"Redis: GET+SET | 128 tasks | 1 connection","tasks":128,"connections":1,"ops_per_s":251234.5,
//      "ops":753704,"seconds":3.0001}   (on one line)

import Foundation
import JobKit

struct Options {
    var seconds = 3.0
    var warmupSeconds = 1.0
    var tasks = [1, 16, 128]
    var poolSize = 4

    static let usage = """
        usage: RedisThroughput [--seconds S] [--warmup S] [--tasks T,T,...] [--pool-size N]
          REDIS_URL must name the server, e.g. redis://127.0.0.1:6379
          --seconds S     measured time per scenario (default 3)
          --warmup S      unmeasured warm-up per scenario (default 1)
          --tasks T,...   concurrent task counts (default 1,16,128)
          --pool-size N   connections in the RedisPool scenarios (default 4)
        """

    init(arguments: [String]) throws(UsageError) {
        var rest = arguments[...]
        func value(_ option: String) throws(UsageError) -> String {
            guard let value = rest.popFirst() else { throw UsageError("\(option) needs a value") }
            return value
        }
        while let option = rest.popFirst() {
            switch option {
            case "--seconds":
                guard let s = Double(try value(option)), s > 0 else { throw UsageError("--seconds must be > 0") }
                seconds = s
            case "--warmup":
                guard let s = Double(try value(option)), s >= 0 else { throw UsageError("--warmup must be >= 0") }
                warmupSeconds = s
            case "--tasks":
                let list = try value(option).split(separator: ",").map { Int($0) }
                guard !list.isEmpty, list.allSatisfy({ ($0 ?? 0) > 0 }) else {
                    throw UsageError("--tasks takes positive integers separated by commas")
                }
                tasks = list.compactMap { $0 }
            case "--pool-size":
                guard let n = Int(try value(option)), n > 0 else { throw UsageError("--pool-size must be > 0") }
                poolSize = n
            case "-h", "--help":
                throw UsageError(nil)
            default:
                throw UsageError("unknown option '\(option)'")
            }
        }
    }
}

struct UsageError: Error {
    var message: String?
    init(_ message: String?) { self.message = message }
}

/// One scenario's result, printed as a JSON line.
struct ScenarioResult: Encodable {
    var name: String
    var tasks: Int
    var connections: Int
    var opsPerSecond: Double
    var ops: Int
    var seconds: Double

    enum CodingKeys: String, CodingKey {
        case name, tasks, connections
        case opsPerSecond = "ops_per_s"
        case ops, seconds
    }
}

enum Throughput {
    static let value = "abc"

    static func run(_ options: Options) async throws {
        guard let url = ProcessInfo.processInfo.environment["REDIS_URL"], !url.isEmpty else {
            throw UsageError("REDIS_URL is not set: run Benchmarks/scripts/redis-bench, or set it to a redis-server")
        }
        let configuration = try RedisConfiguration(url: url, clientName: "jobkit-throughput")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]

        for connections in [1, options.poolSize] {
            for tasks in options.tasks {
                let name = "Redis: GET+SET | \(counted(tasks, "task")) | \(counted(connections, "connection"))"
                progress("\(name): warming up \(options.warmupSeconds) s, measuring \(options.seconds) s")
                let client: any RedisCommandable
                let close: @Sendable () async -> Void
                if connections == 1 {
                    let connection = RedisConnection(configuration: configuration)
                    try await connection.ping()
                    client = connection
                    close = { await connection.close() }
                } else {
                    let pool = RedisPool(configuration: configuration, size: connections)
                    try await pool.warmUp()
                    client = pool
                    close = { await pool.close() }
                }
                let keys = (0..<tasks).map { "bench:key:\($0)" }
                let result: Result<(ops: Int, elapsed: Duration), any Error>
                do {
                    if options.warmupSeconds > 0 {
                        _ = try await measure(client, keys: keys, for: .seconds(options.warmupSeconds))
                    }
                    let measured = try await measure(client, keys: keys, for: .seconds(options.seconds))
                    try await client.del(keys)
                    result = .success(measured)
                } catch {
                    result = .failure(error)
                }
                await close()
                let (ops, elapsed) = try result.get()

                let seconds = elapsed.inSeconds
                let line = ScenarioResult(
                    name: name, tasks: tasks, connections: connections,
                    opsPerSecond: (Double(ops) / seconds * 10).rounded() / 10, ops: ops, seconds: seconds)
                var data = try encoder.encode(line)
                data.append(UInt8(ascii: "\n"))
                FileHandle.standardOutput.write(data)
            }
        }
    }

    /// Runs every task until `duration` has passed; returns the commands completed and the time they took.
    static func measure(
        _ client: any RedisCommandable, keys: [String], for duration: Duration
    ) async throws -> (ops: Int, elapsed: Duration) {
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + duration
        let ops = try await withThrowingTaskGroup(of: Int.self, returning: Int.self) { group in
            for key in keys {
                group.addTask {
                    var ops = 0
                    while clock.now < deadline {
                        try await client.set(key, value)
                        _ = try await client.get(key)
                        ops += 2
                    }
                    return ops
                }
            }
            return try await group.reduce(0, +)
        }
        return (ops, start.duration(to: clock.now))
    }
}

/// "1 task", "16 tasks".
func counted(_ count: Int, _ noun: String) -> String {
    "\(count) \(noun)\(count == 1 ? "" : "s")"
}

func progress(_ message: String) {
    FileHandle.standardError.write(Data("RedisThroughput: \(message)\n".utf8))
}

extension Duration {
    var inSeconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}

do {
    let options = try Options(arguments: Array(CommandLine.arguments.dropFirst()))
    try await Throughput.run(options)
} catch let error as UsageError {
    if let message = error.message {
        progress(message)
        FileHandle.standardError.write(Data((Options.usage + "\n").utf8))
        exit(2)
    }
    FileHandle.standardOutput.write(Data((Options.usage + "\n").utf8))
} catch {
    progress("failed: \(error)")
    exit(1)
}

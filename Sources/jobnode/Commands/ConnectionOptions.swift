import ArgumentParser
import Foundation
import JobKit
import JobKitHTTP
import Logging

/// `--redis` and `--namespace`, taken by every command.
struct ConnectionOptions: ParsableArguments {
    @Option(
        name: .long,
        help: "Redis URL (default: $REDIS_URL, else redis://127.0.0.1:6379); redis+cluster://h1:p1,h2:p2 for a Redis Cluster.")
    var redis: String?

    @Flag(name: .long, help: "The Redis URL names seed nodes of a Redis Cluster (same as redis+cluster://).")
    var redisCluster = false

    @Option(name: .long, help: "Key namespace.")
    var namespace: String = "jobkit"

    @Option(
        name: .long,
        help: "Replicas that must confirm each enqueue (Redis WAIT, 1 s) before it succeeds; 0 (default) waits for none.")
    var waitReplicas: Int = 0

    @Option(
        name: .customLong("queue-tags"),
        help: "Pin queues to Redis Cluster slots: queue=tag or queue=@slot, comma-separated (default: $JOBKIT_QUEUE_TAGS).")
    var queueTags: String?

    func validate() throws {
        guard waitReplicas >= 0 else { throw ValidationError("--wait-replicas must be 0 or more") }
        // Strictly, as with JOBKIT_ROUTES: a process that silently dropped its pins would use other keys than its
        // peers. The flag becomes this process's JOBKIT_QUEUE_TAGS before any key is built.
        let text = queueTags ?? ProcessInfo.processInfo.environment[QueueTags.variable] ?? ""
        do {
            _ = try QueueTags.parse(text)
        } catch let error as QueueError {
            throw ValidationError(error.message)
        }
        if let queueTags { setenv(QueueTags.variable, queueTags, 1) }
    }

    /// `--wait-replicas` as the queue's option (`nil` for 0).
    var replicaAcknowledgement: JobQueue.ReplicaAcknowledgement? {
        waitReplicas > 0 ? .init(replicas: waitReplicas) : nil
    }

    var redisURL: String {
        let url = redis ?? ProcessInfo.processInfo.environment["REDIS_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? "redis://127.0.0.1:6379"
        guard redisCluster else { return url }
        // `--redis-cluster` with redis:// (or rediss://) seeds: the same URL as a cluster's.
        for scheme in ["redis://", "rediss://"] where url.hasPrefix(scheme) {
            return scheme.dropLast(3) + "+cluster://" + url.dropFirst(scheme.count)
        }
        return url
    }

    /// A pool for CLI commands: fails fast when Redis is unreachable.
    func makePool(size: Int = 1, clientName: String = "jobnode-cli", logger: Logger = CLI.quietLogger) throws -> RedisPool {
        var config = try RedisConfiguration(url: redisURL, clientName: clientName, logger: logger)
        config.connectTimeout = .seconds(3)
        return RedisPool(configuration: config, size: size)
    }

    func makeQueue(logger: Logger = CLI.quietLogger) throws -> JobQueue {
        JobQueue(
            redis: try makePool(logger: logger), namespace: namespace, routes: try Self.routes(),
            replicaAcknowledgement: replicaAcknowledgement, logger: logger)
    }

    /// This process's `JOBKIT_ROUTES`, strictly: every command refuses routes that do not parse, naming the entry
    /// (a producer that silently dropped them would enqueue to other queues than the nodes).
    static func routes() throws -> QueueRoutes {
        try QueueRoutes.parse(ProcessInfo.processInfo.environment[QueueRoutes.variable] ?? "")
    }

    /// ``makePool(size:clientName:logger:)``, after checking the server against `RedisRequirements` (one
    /// `INFO server` round trip), so that an old Redis is named as the problem.
    func makeCheckedPool() async throws -> RedisPool {
        let pool = try makePool()
        try await RedisRequirements.check(pool)
        return pool
    }

    /// ``makeQueue(logger:)``, after checking the server against `RedisRequirements`.
    func makeCheckedQueue() async throws -> JobQueue {
        JobQueue(
            redis: try await makeCheckedPool(), namespace: namespace, routes: try Self.routes(),
            replicaAcknowledgement: replicaAcknowledgement, logger: CLI.quietLogger)
    }
}

extension JobQueue {
    /// Throws "unknown queue" unless `queue` has been used in this namespace.
    func requireQueue(_ queue: String) async throws {
        guard try await queueExists(queue) else { throw QueueError(.unknownQueue, "unknown queue '\(queue)'") }
    }
}

enum CLI {
    static var quietLogger: Logger {
        var l = Logger(label: "jobnode")
        l.logLevel = .critical
        return l
    }

    /// Prints `message` as one line on stderr and exits non-zero.
    static func fail(_ message: String, code: Int32 = 1) -> Never {
        FileHandle.standardError.write(Data("jobnode: error: \(message)\n".utf8))
        exit(code)
    }

    /// Runs `body`, turning any error into one clear line on stderr and exit code 1.
    static func guarded<T>(_ body: () async throws -> T) async -> T {
        do {
            return try await body()
        } catch let error as ExitCode {
            exit(error.rawValue)
        } catch let error as RedisError {
            switch error.code {
            case .connectionClosed, .timeout, .tls, .authenticationFailed:
                fail("Redis unreachable: \(error.message)")
            default:
                fail(error.description)
            }
        } catch let error as QueueError {
            fail(error.message)
        } catch {
            fail("\(error)")
        }
    }

    /// Parses `30s`, `500ms`, `2m`, `1h`, `1d` or a plain number of seconds.
    static func duration(_ text: String) throws -> Duration {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            if let v = Double(text.dropLast(suffix.count)), v >= 0 { return .milliseconds(Int64(v * scale * 1000)) }
        }
        if let v = Double(text), v >= 0 { return .milliseconds(Int64(v * 1000)) }
        throw ValidationError("invalid duration '\(text)' (use e.g. 500ms, 30s, 5m, 1h)")
    }

    /// Parses a rate `N/DURATION` (`50/1m`, `5/60s`, `100/1s`) given to `flag`.
    static func rate(_ text: String, flag: String) throws -> (Int, Duration) {
        let parts = text.split(separator: "/", maxSplits: 1)
        guard parts.count == 2, let n = Int(parts[0]), n >= 1 else {
            throw ValidationError("\(flag) is N/DURATION such as 50/1m, not '\(text)'")
        }
        let period = try duration(String(parts[1]))
        guard period >= .milliseconds(1) else { throw ValidationError("\(flag): the period must be at least 1ms") }
        return (n, period)
    }

    /// Prints `value` in JobKit's JSON shape (``JSONOutput``, which the HTTP API answers with too) and a newline.
    static func printJSON<T: Encodable>(_ value: T) throws {
        print(String(decoding: try JSONOutput.data(value), as: UTF8.self))
    }
}

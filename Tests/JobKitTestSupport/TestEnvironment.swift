import Foundation
import JobKit
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Where the test command (`scripts/test`) put its servers.
public enum TestEnvironment {
    public struct Missing: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// `REDIS_URL`, exported by `scripts/test`. Missing is a failure, never a skip.
    public static func redisURL() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["REDIS_URL"], !url.isEmpty else {
            throw Missing(description: "REDIS_URL is not set: run the tests with scripts/test, which starts redis-server")
        }
        return url
    }

    /// An environment variable that `scripts/test` sets; missing is a failure naming `why`.
    public static func required(_ name: String, _ why: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
            throw Missing(description: "\(name) is not set: \(why)")
        }
        return value
    }

    /// The `redis-server` binary that tests may start privately (for restarts, TLS, AUTH).
    public static func redisServerBinary() throws -> String {
        if let bin = ProcessInfo.processInfo.environment["JOBKIT_REDIS_SERVER"], !bin.isEmpty { return bin }
        for candidate in ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
        where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        throw Missing(description: "redis-server not found: run the tests with scripts/test")
    }

    /// A logger for tests: warnings and above only, unless `JOBKIT_TEST_LOG` names a level.
    public static var logger: Logger {
        var logger = Logger(label: "jobkit.test")
        let level = ProcessInfo.processInfo.environment["JOBKIT_TEST_LOG"].flatMap(Logger.Level.init(rawValue:))
        logger.logLevel = level ?? .warning
        return logger
    }

    /// A configuration for the shared test server.
    public static func redisConfiguration(clientName: String? = nil) throws -> RedisConfiguration {
        try RedisConfiguration(url: redisURL(), clientName: clientName, logger: logger)
    }

    /// A temporary directory for one test, under `JOBKIT_TEST_TMPDIR` when set.
    public static func makeTemporaryDirectory(_ prefix: String = "jobkit") throws -> String {
        let base = ProcessInfo.processInfo.environment["JOBKIT_TEST_TMPDIR"] ?? NSTemporaryDirectory()
        let path = (base as NSString).appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A TCP port on 127.0.0.1 that was free a moment ago.
    public static func freePort() throws -> Int {
        let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).wait()
        let port = channel.localAddress!.port!
        try channel.close().wait()
        return port
    }
}

/// A unique key namespace for one test, whose keys are deleted afterwards even when the test throws.
public func withTestNamespace<T>(
    _ body: (String) async throws -> T
) async throws -> T {
    let namespace = "jobkit-test-\(UUID().uuidString.prefix(12).lowercased())"
    let pool = RedisPool(configuration: try TestEnvironment.redisConfiguration(), size: 1)
    do {
        let result = try await body(namespace)
        _ = try? await pool.deleteKeys(matching: "\(namespace):*")
        await pool.close()
        return result
    } catch {
        _ = try? await pool.deleteKeys(matching: "\(namespace):*")
        await pool.close()
        throw error
    }
}

extension TestEnvironment {
    /// The `jobnode` binary built by `scripts/test` (`JOBNODE_BIN`).
    public static func jobnodeBinary() throws -> String {
        if let bin = ProcessInfo.processInfo.environment["JOBNODE_BIN"], FileManager.default.isExecutableFile(atPath: bin) {
            return bin
        }
        let guess = FileManager.default.currentDirectoryPath + "/.build/debug/jobnode"
        if FileManager.default.isExecutableFile(atPath: guess) { return guess }
        throw Missing(description: "jobnode binary not found: run the tests with scripts/test (it exports JOBNODE_BIN)")
    }
}

/// A `jobnode` process started by a test.
public final class JobNodeProcess: Sendable {
    public let process: ChildProcess
    public let logPath: String

    /// Starts `jobnode <arguments>` with `REDIS_URL` set to the shared test server, in this process's
    /// environment plus `extraEnvironment`.
    public init(_ arguments: [String], logPath: String, extraEnvironment: [String: String] = [:]) throws {
        var environment = ProcessInfo.processInfo.environment.merging(extraEnvironment) { $1 }
        environment["REDIS_URL"] = try TestEnvironment.redisURL()
        self.logPath = logPath
        self.process = try ChildProcess(try TestEnvironment.jobnodeBinary(), arguments, outputPath: logPath, environment: environment)
    }

    /// The process's output so far.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
}

/// Kills the server-side connections whose client name is `name` (`CLIENT KILL ID`), leaving every other
/// test's connections alone; returns how many were killed.
@discardableResult
public func killClients(named name: String, using redis: some RedisCommandable) async throws -> Int {
    var killed = 0
    // On a cluster, every primary's clients.
    for server in try await (redis as? RedisPool)?.keyServers() ?? [redis] {
        let list = try await server.send(RedisCommand("CLIENT", "LIST")).string ?? ""
        for line in list.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.contains(where: { $0 == "name=\(name)" }),
                let id = fields.first(where: { $0.hasPrefix("id=") })?.dropFirst(3)
            else { continue }
            killed += try await server.send(RedisCommand("CLIENT", "KILL", "ID", String(id))).int ?? 0
        }
    }
    return killed
}

/// A value shared by a test and the tasks or callbacks it starts (a `Mutex` in a class, so closures can hold it).
public final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    public init(_ value: Value) { mutex = Mutex(value) }
    public var value: Value { mutex.withLock { $0 } }
    @discardableResult
    public func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}

/// Re-checks `condition` (every 20 ms, at most `timeout`), for states no event announces (a job's state in Redis,
/// another process's progress).
///
/// - Throws: ``TestEnvironment/Missing`` when the condition is not met in time, which fails the test.
public func waitUntil(
    timeout: Duration = .seconds(10), _ what: String = "condition", _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw TestEnvironment.Missing(description: "\(what) not met within \(timeout)")
}

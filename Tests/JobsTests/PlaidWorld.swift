import AsyncHTTPClient
import Foundation
import JobKit
import JobKitTestSupport
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import PostgresNIO
@testable import Jobs

/// The fake Plaid (`scripts/fakes/fake-plaid.py`) started by a test: real HTTP on loopback, Plaid's wire format,
/// every request body checked against the OpenAPI subset; its control API (`/_fake/…`) injects faults.
final class FakePlaid: Sendable {
    let process: ChildProcess
    let port: Int
    let logPath: String
    static let clientID = "5f3c0ffee0ddba11c0ffee01"
    static let secret = "sandbox_secret_0123456789abcdef0123456789"

    init(directory: String, enforceLimits: Bool = false) async throws {
        let script = try TestEnvironment.required("JOBKIT_FAKE_PLAID", "scripts/fakes/fake-plaid.py (scripts/test exports it)")
        logPath = "\(directory)/fake-plaid.log"
        (process, port) = try await LoopbackFake.start(
            script: script, arguments: enforceLimits ? ["--enforce-limits"] : [], log: logPath)
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// A control call; the decoded JSON answer.
    @discardableResult
    func control(_ method: HTTPMethod = .POST, _ path: String, _ body: [String: Any]? = nil) async throws -> Any {
        try await LoopbackFake.control(method, baseURL + path, body)
    }

    /// Request bodies the fake rejected against the OpenAPI subset (must stay empty).
    func violations() async throws -> [[String: Any]] { try await control(.GET, "/_fake/violations") as? [[String: Any]] ?? [] }

    /// Every Plaid call the fake answered.
    func calls(endpoint: String? = nil) async throws -> [[String: Any]] {
        let query = endpoint.map { "?endpoint=\($0)" } ?? ""
        return try await control(.GET, "/_fake/calls\(query)") as? [[String: Any]] ?? []
    }

    func stop() async { await process.terminate(grace: .seconds(5)) }
}

/// One test's world: a database of its own (migrated by `jobnode migrate`), the fake Plaid, a Redis namespace, and
/// the environment its jobnodes run with.
final class PlaidWorld: Sendable {
    let databaseURL: String
    let databaseName: String
    let namespace: String
    let directory: String
    let plaid: FakePlaid
    let tokenKey: String
    let redis: RedisPool
    let queue: JobQueue
    let database: StoreDatabase
    let store: PlaidStore
    let nodes = Locked<[JobNodeProcess]>([])

    static let logger = Logger(label: "plaid-test")

    /// Runs `body` in a fresh world and tears it down (processes by PID, database dropped, keys deleted).
    static func with<T: Sendable>(enforceLimits: Bool = false, _ body: @Sendable (PlaidWorld) async throws -> T) async throws -> T {
        let base = try TestEnvironment.required("DATABASE_URL", "the test PostgreSQL (scripts/test exports it)")
        let name = "jobkit_plaid_\(UUID().uuidString.prefix(8).lowercased())"
        try await admin(base, "CREATE DATABASE \(name)")
        let url = base.replacingOccurrences(of: #"/[^/]*$"#, with: "/\(name)", options: .regularExpression)
        let directory = try TestEnvironment.makeTemporaryDirectory("plaid")
        do {
            let migrate = try JobNodeProcess(["migrate", "--database", url], logPath: "\(directory)/migrate.log")
            guard await migrate.process.wait() == 0 else { throw TestEnvironment.Missing(description: "migrate failed: \(migrate.log)") }
            let plaid = try await FakePlaid(directory: directory, enforceLimits: enforceLimits)
            let result = try await withTestNamespace { namespace in
                let world = try PlaidWorld(url: url, name: name, namespace: namespace, directory: directory, plaid: plaid)
                return try await withThrowingTaskGroup(of: T?.self) { group in
                    group.addTask {
                        try await world.database.run()
                        return nil
                    }
                    defer { group.cancelAll() }
                    do {
                        let value = try await body(world)
                        await world.stopAll()
                        await world.redis.close()
                        return value
                    } catch {
                        await world.stopAll()
                        await world.redis.close()
                        throw error
                    }
                }
            }
            await plaid.stop()
            try await admin(base, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
            return result
        } catch {
            try? await admin(base, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
            throw error
        }
    }

    static func admin(_ url: String, _ sql: String) async throws {
        let database = try StoreDatabase(url: url, maxConnections: 1, logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await database.client.run() }
            try await database.client.query(PostgresQuery(unsafeSQL: sql), logger: logger)
            group.cancelAll()
        }
    }

    init(url: String, name: String, namespace: String, directory: String, plaid: FakePlaid) throws {
        databaseURL = url
        databaseName = name
        self.namespace = namespace
        self.directory = directory
        self.plaid = plaid
        tokenKey = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        redis = RedisPool(configuration: try TestEnvironment.redisConfiguration(clientName: "plaid-test"), size: 2)
        queue = JobQueue(redis: redis, namespace: namespace, logger: Self.logger)
        database = try StoreDatabase(url: url, maxConnections: 4, logger: Self.logger)
        store = PlaidStore(database: database, cipher: try TokenCipher(key: tokenKey), logger: Self.logger)
    }

    /// A Plaid client on the fake, as the nodes have.
    var client: PlaidClient {
        PlaidClient(configuration: PlaidConfiguration(baseURL: plaid.baseURL, clientID: FakePlaid.clientID, secret: FakePlaid.secret))
    }

    /// What a jobnode of this world runs with.
    var environment: [String: String] {
        [
            "PLAID_CLIENT_ID": FakePlaid.clientID, "PLAID_SECRET": FakePlaid.secret, "PLAID_BASE_URL": plaid.baseURL,
            "PLAID_ENV": "sandbox", "JOBKIT_TOKEN_KEY": tokenKey, "DATABASE_URL": databaseURL,
        ]
    }

    /// Starts `jobnode run` on the Plaid queue (and `--http` when asked; the port is returned).
    @discardableResult
    func startNode(
        _ name: String, http: Bool = false, queues: String = PlaidJobs.queue, concurrency: Int = 8, extra: [String] = [],
        environment more: [String: String] = [:]
    ) throws -> (JobNodeProcess, Int?) {
        let port = http ? try TestEnvironment.freePort() : nil
        var arguments = [
            "run", "--namespace", namespace, "--queues", queues, "--concurrency", "\(concurrency)", "--name", name, "--heartbeat", "200ms",
            "--lease", "2s", "--dead-node-timeout", "1s",
        ]
        if let port { arguments += ["--http", "127.0.0.1:\(port)"] }
        let node = try JobNodeProcess(
            arguments + extra, logPath: "\(directory)/\(name).log", extraEnvironment: environment.merging(more) { $1 })
        nodes.withLock { $0.append(node) }
        return (node, port)
    }

    func stopAll() async {
        for node in nodes.withLock({ $0 }) { await node.process.terminate(grace: .seconds(10)) }
    }

    /// Links a new sandbox item for `tenant` through `plaid.item.link` and waits for it; returns the item id.
    func link(tenant: String) async throws -> String {
        let token = try await client.sandboxCreatePublicToken(institutionID: "ins_109508").publicToken
        let handle = try await PlaidService(queue: queue).link(tenant: tenant, publicToken: token)
        return try await handle.result(as: PlaidLinkResult.self, timeout: .seconds(60)).item
    }

    /// Waits until `condition` holds, checking after every job event of the Plaid queue (or every 100 ms).
    func eventually(_ what: String, timeout: Duration = .seconds(60), _ condition: @Sendable () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await !condition() {
            guard ContinuousClock.now < deadline else { throw TestEnvironment.Missing(description: "timed out waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(100))  // state in PostgreSQL written by other processes: polled
        }
    }

    /// The jobs of the Plaid queue in `state`.
    func jobs(_ state: JobState, queue name: String = PlaidJobs.queue) async throws -> [JobRecord] {
        try await queue.list(name, state: state, limit: 1000)
    }

    var logs: String { nodes.withLock { $0 }.map(\.log).joined(separator: "\n---\n") }
}

import Foundation
import JobKitTestSupport
import Logging
import NIOCore
import Testing

@testable import JobKit

#if canImport(Glibc)
import Glibc
#endif

/// One line of `MONITOR` output: the client (`lua` for commands a script ran) and the quoted arguments.
struct MonitorLine {
    var client: String
    var arguments: [String]

    /// Parses `1700000000.000000 [0 127.0.0.1:5000] "EVALSHA" "ab" "1" "k"`.
    init?(_ line: Substring) {
        guard let open = line.firstIndex(of: "["), let close = line[open...].firstIndex(of: "]") else { return nil }
        let inside = line[line.index(after: open)..<close].split(separator: " ")
        client = inside.count > 1 ? String(inside[1]) : ""
        arguments = []
        var i = line.index(after: close)
        while i < line.endIndex {
            guard line[i] == "\"" else {
                i = line.index(after: i)
                continue
            }
            var token = ""
            i = line.index(after: i)
            while i < line.endIndex, line[i] != "\"" {
                if line[i] == "\\", line.index(after: i) < line.endIndex {
                    i = line.index(after: i)
                }
                token.append(line[i])
                i = line.index(after: i)
            }
            arguments.append(token)
            if i < line.endIndex { i = line.index(after: i) }
        }
    }
}

/// The hash tag of a key (what Redis Cluster hashes), or the whole key without one.
func hashTag(_ key: String) -> String {
    guard let open = key.firstIndex(of: "{") else { return key }
    let rest = key[key.index(after: open)...]
    guard let close = rest.firstIndex(of: "}"), close != rest.startIndex else { return key }
    return String(rest[rest.startIndex..<close])
}

@Suite("Every script declares every key")
struct ScriptKeysTests {
    @Test("every registered script takes its key prefix from KEYS and builds no key from ARGV", arguments: JobKitScripts.all.map(\.name))
    func staticContract(name: String) throws {
        let script = try #require(JobKitScripts.all.first { $0.name == name }?.script)
        let source = script.source
        #expect(!source.contains("local P = ARGV"), "\(name): the prefix comes from ARGV")
        #expect(source.contains("local P = KEYS[1]"), "\(name): the prefix must come from KEYS[1]")
        // No command's first key argument is an ARGV value.
        let pattern = try Regex(#"redis\.call\(\s*'[A-Za-z]+'\s*,\s*ARGV"#)
        #expect(source.firstMatch(of: pattern) == nil, "\(name): a key taken from ARGV")
    }

    @Test("every registered script compiles (SCRIPT LOAD on the test server)", arguments: JobKitScripts.all.map(\.name))
    func compiles(name: String) async throws {
        let script = try #require(JobKitScripts.all.first { $0.name == name }?.script)
        let pool = RedisPool(configuration: try TestEnvironment.redisConfiguration(), size: 1)
        defer { Task { await pool.close() } }
        let reply = try await pool.send(RedisCommand("SCRIPT", "LOAD", script.source))
        #expect(reply.string == script.sha1, "\(name): \(reply)")
    }

    @Test("the catalog lists every script in the sources")
    func catalogComplete() throws {
        let root = FileManager.default.currentDirectoryPath + "/Sources/JobKit"
        let files = try #require(FileManager.default.enumerator(atPath: root)).compactMap { $0 as? String }
            .filter { $0.hasSuffix(".swift") }
        var declared = 0
        for file in files {
            let text = try String(contentsOfFile: "\(root)/\(file)", encoding: .utf8)
            declared += text.components(separatedBy: "= RedisScript(").count - 1
        }
        #expect(declared == JobKitScripts.all.count, "\(declared) scripts declared, \(JobKitScripts.all.count) in JobKitScripts.all")
    }

    @Test("run under MONITOR, every script call touches only keys of its KEYS[1] hash slot, and every script ran")
    func runtimeSlots() async throws {
        try await RedisServerProcess.with { server in
            let dir = try TestEnvironment.makeTemporaryDirectory("monitor")
            let monitorPath = "\(dir)/monitor.log"
            let cli = try ChildProcess(
                "/usr/bin/env", ["redis-cli", "-p", "\(server.port)", "monitor"], outputPath: monitorPath)
            defer { cli.signal(SIGKILL) }
            try await waitUntil {
                ((try? String(contentsOfFile: monitorPath, encoding: .utf8)) ?? "").hasPrefix("OK")
            }
            let namespace = "keys"
            let config = try RedisConfiguration(url: server.url, logger: TestEnvironment.logger)
            let redis = RedisPool(configuration: config, size: 1)
            let queue = JobQueue(redis: redis, namespace: namespace, logger: TestEnvironment.logger)
            let registry = JobRegistry()
            // A node: heartbeats, renewals, reaps, claims, completions, failures, schedules, hand-backs.
            var configuration = JobNode.Configuration.inProcessTest(
                redis: config, namespace: namespace, name: "keys", queues: ["default", "other"], concurrency: 4,
                worker: {
                    $0.leaseDuration = .seconds(3)
                    $0.reapInterval = .milliseconds(200)
                    $0.shutdownGrace = .zero
                },
                node: {
                    $0.heartbeatInterval = .milliseconds(200)
                    $0.deadNodeTimeout = .seconds(1)
                })
            configuration.defaultSchedules = [Schedule.every("keys.every", .seconds(1), job: "jobkit.noop", queue: "other")]
            let jobNode = try JobNode(configuration: configuration, registry: registry, logger: TestEnvironment.logger)
            let nodeTask = Task { try await jobNode.run() }

            let noop = JobQueue.Job(name: "jobkit.noop", payload: ByteBuffer())
            var delayed = EnqueueOptions(delay: .seconds(60))
            delayed.idempotencyKey = "once"
            let bulk = try await queue.enqueueBulk([noop, noop, JobQueue.Job(name: "jobkit.noop", payload: ByteBuffer(), options: delayed)])
            #expect(try await queue.releaseIdempotencyKey("once", queue: "default", heldBy: bulk[2].id))
            let failing = try await queue.enqueue(
                JobQueue.Job(name: "jobkit.fail", payload: ByteBuffer(string: "{\"times\": -1}"), options: EnqueueOptions(maxAttempts: 1)))
            _ = try? await failing.result(timeout: .seconds(10))
            _ = try await queue.requeue([failing.id], queue: "default")
            _ = try await queue.requeueAllDead(queue: "default")
            _ = try await queue.trimFinished(queue: "default")
            let running = try await queue.enqueue(
                JobQueue.Job(name: "jobkit.sleep", payload: ByteBuffer(string: "{\"ms\": 30000}")))
            try await waitUntil { try await queue.job(running.id)?.state == .active }
            _ = try await queue.cancel(running.id)
            let waiting = try await queue.enqueue(JobQueue.Job(name: "jobkit.noop", payload: ByteBuffer(), options: delayed))
            _ = try await queue.cancel(waiting.id)
            _ = try await queue.enqueue(JobQueue.Job(name: "jobkit.noop", payload: ByteBuffer(), options: EnqueueOptions(delay: .seconds(60))))
            _ = try await queue.cancelWaiting(queue: "default")
            let doomed = try await queue.enqueue(JobQueue.Job(name: "jobkit.noop", payload: ByteBuffer(), options: EnqueueOptions(delay: .seconds(60))))
            _ = try await queue.delete([doomed.id], queue: "default")
            // The dashboard's: move to dead, delete unless running, search, the history's read (its write rides the heartbeats).
            let buried = try await queue.enqueue(JobQueue.Job(name: "jobkit.noop", payload: ByteBuffer(), options: EnqueueOptions(delay: .seconds(60))))
            _ = try await queue.moveToDead([buried.id], queue: "default")
            _ = try await queue.deleteIdle([buried.id], queue: "default")
            _ = try await queue.search(JobSearch(text: "x"), queues: ["default"])
            _ = try await QueueHistory(redis: redis, namespace: namespace).buckets(.minute, count: 2)
            _ = try await queue.snapshots(["default"])
            _ = try await queue.enqueue(JobQueue.Job(name: "jobkit.noop", payload: ByteBuffer(), options: EnqueueOptions(delay: .seconds(60))))
            _ = try await queue.purge(queue: "default")
            for strategy in RateLimit.Strategy.allCases {
                _ = try await RateLimiter(redis: redis, namespace: namespace, name: "keys", limit: .init(strategy, limit: 5, per: .seconds(1)))
                    .acquire("k{1}:x")
            }
            let cache = TenantCache(redis: redis, namespace: namespace)
            await cache.set(tenant: "t{1}", key: "a:b", value: 1)
            _ = await cache.get(Int.self, tenant: "t{1}", key: "a:b")
            _ = try await cache.getOrCompute(tenant: "t{1}", key: "c") { 2 }
            await cache.delete(tenant: "t{1}", key: "a:b")
            await cache.invalidate(tenant: "t{1}")
            let board = BreakerBoard(redis: redis, namespace: namespace, nodeID: "keys-node", logger: TestEnvironment.logger)
            _ = await board.breaker("svc", policy: .stripe)
            try await board.publishAll()
            _ = try await BreakerBoard.read(redis: redis, namespace: namespace)
            let sessions = SessionStore(redis: redis, namespace: namespace)
            let session = try await sessions.create(tenant: "t{1}", user: "u:1")
            _ = try await sessions.get(session.id)
            _ = try await sessions.update(session.id, data: "{}")
            _ = try await sessions.revoke(session.id)
            _ = try await sessions.cleanup()
            // A tick of the interval schedule, and a hand-back at shutdown.
            try await waitUntil { try await queue.counts("other").completed >= 1 }
            // A heartbeat after those completions has written the history (history.record rides the heartbeats).
            try await waitUntil("a heartbeat writing the history") {
                try await QueueHistory(redis: redis, namespace: namespace).buckets(.minute, count: 2).buckets
                    .contains { $0.total(queue: "other").completed >= 1 }
            }
            let store = ScheduleStore(redis: redis, namespace: namespace)
            _ = try await store.remove("keys.every")
            _ = try await queue.enqueue(JobQueue.Job(name: "jobkit.sleep", payload: ByteBuffer(string: "{\"ms\": 30000}")))
            try await waitUntil { try await queue.counts("default").active == 1 }
            await jobNode.triggerGracefulShutdown()
            try await nodeTask.value
            // A dead node's reclaim.
            let reaper = Reaper(redis: redis, namespace: namespace, logger: TestEnvironment.logger, pauseThresholdMs: 0, maxExpiries: 3)
            _ = try await reaper.reclaim(node: "gone", cutoffMs: 0)
            _ = try await redis.send(RedisCommand("PING"))
            await redis.close()
            try await waitUntil { ((try? String(contentsOfFile: monitorPath, encoding: .utf8)) ?? "").contains("\"PING\"") }

            let text = try String(contentsOfFile: monitorPath, encoding: .utf8)
            let byHash = Dictionary(uniqueKeysWithValues: JobKitScripts.all.map { ($0.script.sha1, $0.name) })
            var seen = Set<String>()
            var current: (name: String, tag: String)?
            var violations: [String] = []
            for raw in text.split(separator: "\n") {
                guard let line = MonitorLine(raw), let command = line.arguments.first?.uppercased() else { continue }
                if line.client == "lua" {
                    guard let call = current else { continue }
                    for argument in line.arguments.dropFirst() where argument.hasPrefix("\(namespace):") {
                        if hashTag(argument) != call.tag {
                            violations.append("\(call.name): \(command) \(argument) (KEYS[1] tag {\(call.tag)})")
                        }
                    }
                    continue
                }
                current = nil
                if command == "EVALSHA" || command == "EVAL", line.arguments.count >= 4 {
                    let hash = command == "EVALSHA" ? line.arguments[1] : SHA1.hex(Array(line.arguments[1].utf8))
                    guard let name = byHash[hash] else { continue }
                    seen.insert(name)
                    #expect(line.arguments[2] == "1", "\(name): one key declared")
                    current = (name, hashTag(line.arguments[3]))
                }
            }
            #expect(violations.isEmpty, "\(violations.prefix(10))")
            let missing = Set(JobKitScripts.all.map(\.name)).subtracting(seen)
            #expect(missing.isEmpty, "scripts the scenario did not run: \(missing.sorted())")
        }
    }
}

import Foundation
import JobKitTestSupport
import Logging
import NIOCore
import Synchronization
import Testing

@testable import JobKit

#if canImport(Glibc)
import Glibc
#endif

/// The chaos soak: four `jobnode` processes, each behind its own fault proxy, work `jobkit.record` jobs of mixed
/// priorities, delays and failures on a private Redis with AOF, while a controller injects faults in a random
/// order. At the end every job is terminal, each job's runs are counted from its record list, nothing is lost
/// and the runs beyond one per attempt stay within the documented bound.
///
/// The test command runs the short version (3,000 jobs, each fault once). `scripts/chaos` runs the long one
/// through the same test with `JOBKIT_CHAOS_JOBS`, `JOBKIT_CHAOS_ROUNDS`, `JOBKIT_CHAOS_SEED` and
/// `JOBKIT_CHAOS_REPORT` (a file the table is written to).
@Suite("Chaos soak", .serialized)
struct ChaosTests {
    /// The soak's size, from the environment.
    struct Settings {
        var jobs = 3_000
        var rounds = 1
        var seed = UInt64.random(in: 1...UInt64(UInt32.max))
        var nodes = 4
        var concurrency = 8
        var report: String?
        /// `JOBKIT_CHAOS_LOGS`: a directory the nodes' logs are copied to at the end; `JOBKIT_CHAOS_LOG_LEVEL`
        /// their level (`warning`).
        var logs: String?
        var logLevel = "warning"
        /// `JOBKIT_CHAOS_FAULTS`: the faults to inject (names of ``Fault`` cases, comma-separated), in this order
        /// when given; every fault, shuffled, otherwise.
        var faults: [Fault]?
        var unknownFaults: [String] = []

        init() {
            let env = ProcessInfo.processInfo.environment
            if let n = env["JOBKIT_CHAOS_JOBS"].flatMap(Int.init), n > 0 { jobs = n }
            if let n = env["JOBKIT_CHAOS_ROUNDS"].flatMap(Int.init), n > 0 { rounds = n }
            if let n = env["JOBKIT_CHAOS_SEED"].flatMap(UInt64.init) { seed = n }
            report = env["JOBKIT_CHAOS_REPORT"]
            logs = env["JOBKIT_CHAOS_LOGS"]
            if let level = env["JOBKIT_CHAOS_LOG_LEVEL"] { logLevel = level }
            if let names = env["JOBKIT_CHAOS_FAULTS"] {
                faults = names.split(separator: ",").map { name in Fault.allCases.first { "\($0)" == name } }.compactMap { $0 }
                unknownFaults = names.split(separator: ",").filter { name in !Fault.allCases.contains { "\($0)" == name } }.map(String.init)
            }
        }
    }

    /// The faults the controller injects, each once per round, in a random order.
    enum Fault: String, CaseIterable {
        case killNode = "kill -9 a node, start it again"
        case pauseRedis = "pause Redis (SIGSTOP 4 s)"
        case restartRedis = "restart Redis (SIGTERM, AOF)"
        case cutConnections = "cut a node's connections"
        case delayReplies = "delay a node's replies (250 ms, 4 s)"
        case stepClock = "step a node's wall clock (±1 h)"
    }

    /// One row of the table.
    struct Row {
        var fault: Fault
        var target: String
        var recovery: Duration?
        var completedBefore: Int
        /// The node that came back last.
        var lastBack = "-"
    }

    /// A `jobnode run` process behind its own proxy; the wall clock of node 0 can be stepped (`scripts/lib/clockstep.c`).
    final class ChaosNode: @unchecked Sendable {
        // Invariant: used by the controller task alone.
        let index: Int
        let proxy: FaultProxy
        let directory: String
        /// The file of node 0's clock offset, with the shim that reads it.
        let clock: (file: String, shim: String)?
        let settings: Settings
        private(set) var process: ChildProcess!
        private var starts = 0

        init(index: Int, proxy: FaultProxy, directory: String, clock: (file: String, shim: String)?, settings: Settings) throws {
            self.index = index
            self.proxy = proxy
            self.directory = directory
            self.clock = clock
            self.settings = settings
            try start()
        }

        /// Starts (again) `jobnode run` for this node: a new process, a new node id, the same name.
        func start() throws {
            var environment = ProcessInfo.processInfo.environment
            // `JOBKIT_CHAOS_DIRECT=1` (a diagnosis aid): the nodes talk to Redis directly; cuts and delays do nothing.
            environment["REDIS_URL"] =
                environment["JOBKIT_CHAOS_DIRECT"] == "1" ? "redis://\(proxy.upstreamHost):\(proxy.upstreamPort)/0" : proxy.url
            if let clock {
                // scripts/lib/clockstep.c: the wall clock moves by the file's seconds; the monotonic clocks do not.
                environment["LD_PRELOAD"] = clock.shim
                environment["JK_CLOCK_OFFSET_FILE"] = clock.file
            }
            process = try ChildProcess(
                try TestEnvironment.jobnodeBinary(),
                [
                    "run", "--namespace", ChaosTests.namespace, "--queues", "probe,chaos", "--strict",
                    "--concurrency", "\(settings.concurrency)", "--name", "chaos-\(index)", "--lease", "6s", "--heartbeat", "500ms",
                    "--dead-node-timeout", "3s", "--reap-interval", "500ms", "--grace", "2s", "--no-scheduler",
                    "--log-level", settings.logLevel,
                ],
                outputPath: "\(directory)/node-\(index)-\(starts).log", environment: environment)
            starts += 1
        }

        /// The `jobnode` process's id.
        var pid: Int { Int(process.pid) }

        /// `kill -9` of the `jobnode` process.
        func kill() async {
            process.signal(SIGKILL)
            _ = await process.wait(timeout: .seconds(10))
        }
    }

    static let namespace = "chaos"

    /// Builds `scripts/lib/clockstep.c` into a shared object with the system's C compiler (`cc`, else a
    /// `clang`); `nil` (and the clock step skipped, saying so) without one.
    static func buildClockShim(in dir: String) async -> String? {
        let source = FileManager.default.currentDirectoryPath + "/scripts/lib/clockstep.c"
        for compiler in ["/usr/bin/cc", "/usr/bin/clang", "/opt/swift/usr/bin/clang"] where FileManager.default.isExecutableFile(atPath: compiler) {
            let output = "\(dir)/clockstep.so"
            guard let process = try? ChildProcess(compiler, ["-shared", "-fPIC", "-O2", "-o", output, source, "-ldl"]) else { continue }
            if await process.wait(timeout: .seconds(60)) == 0 { return output }
        }
        return nil
    }

    @Test("the chaos soak: every job terminal, none lost, runs beyond one per attempt within the bound", .timeLimit(.minutes(60)))
    func soak() async throws {
        let settings = Settings()
        try #require(settings.unknownFaults.isEmpty, "JOBKIT_CHAOS_FAULTS names no fault \(settings.unknownFaults); known: \(Fault.allCases)")
        try #require(settings.faults?.isEmpty != true, "JOBKIT_CHAOS_FAULTS is empty")
        var rng = SplitMix64(seed: settings.seed)
        let dir = try TestEnvironment.makeTemporaryDirectory("chaos")
        let redis = try await RedisServerProcess(extraArguments: ["--appendonly", "yes", "--appendfsync", "everysec"])
        // The controller's own connection to Redis (no proxy); it waits out the faults it causes.
        var directConfiguration = try RedisConfiguration(url: redis.url, logger: TestEnvironment.logger)
        directConfiguration.commandTimeout = .seconds(30)
        let direct = RedisPool(configuration: directConfiguration, size: 2)
        let queue = JobQueue(redis: direct, namespace: Self.namespace, logger: TestEnvironment.logger)
        let registry = NodeRegistry(redis: direct, namespace: Self.namespace)
        let shim = await Self.buildClockShim(in: dir)
        if shim == nil { Issue.record("scripts/lib/clockstep.c did not build (no cc or clang?): the wall-clock step cannot run") }
        var nodes: [ChaosNode] = []
        for i in 0..<settings.nodes {
            var clock: (file: String, shim: String)?
            if i == 0, let shim {
                clock = ("\(dir)/clock-\(i)", shim)
                try "0".write(toFile: "\(dir)/clock-\(i)", atomically: true, encoding: .utf8)
            }
            nodes.append(
                try ChaosNode(
                    index: i, proxy: try await FaultProxy(upstreamHost: "127.0.0.1", upstreamPort: redis.port), directory: dir,
                    clock: clock, settings: settings))
        }
        defer {
            for node in nodes { node.process.signal(SIGKILL) }
        }
        /// The last lines of every node's logs, for a failure's message.
        func logs() -> String {
            let files = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".log") }.sorted()
            return files.map { name in let text = (try? String(contentsOfFile: "\(dir)/\(name)", encoding: .utf8)) ?? ""; return "\(name): \(text.prefix(1500)) … \(text.suffix(1500))" }.joined(separator: "\n")
        }
        do {
            try await waitUntil(timeout: .seconds(60), "every node registered") { try await registry.nodes().count == settings.nodes }
        } catch {
            Issue.record("\(error)\n\(logs())")
            throw error
        }

        // The producer: chunks of 250, spread over the run; a refused chunk (Redis paused or restarting) is sent
        // again under the same idempotency keys, so a retry never makes a second job.
        let faults = settings.faults ?? Array(repeating: Fault.allCases, count: settings.rounds).flatMap { $0 }.shuffled(using: &rng)
        // Chunks follow the faults: chunk i waits until i × faults / chunks faults have started, so every fault
        // meets work in the queue, however long the recoveries take.
        let chunk = 250
        let chunks = (settings.jobs + chunk - 1) / chunk
        let faultsStarted = Mutex(0)
        struct Planned: Sendable {
            var fail: Int
            var job: JobQueue.Job
        }
        var plan: [Planned] = []
        for i in 0..<settings.jobs {
            let fail = rng.next() % 10 == 0 ? 1 : 0
            let delayed = rng.next() % 10 == 0
            let priority = [0, 0, 1, 5, -1][Int(rng.next() % 5)]
            let payload = fail > 0 ? #"{"key":"soak","fail":1}"# : #"{"key":"soak"}"#
            plan.append(
                Planned(
                    fail: fail,
                    job: JobQueue.Job(
                        name: DiagnosticJobs.Record.jobName, payload: ByteBuffer(string: payload),
                        options: EnqueueOptions(
                            queue: "chaos", priority: priority, delay: delayed ? .milliseconds(500 + Int(rng.next() % 4_500)) : nil,
                            maxAttempts: 25, backoff: .fixed(.milliseconds(300)), idempotencyKey: "job-\(i)"))))
        }
        let planned = plan
        let accepted = Mutex<[String: Int]>([:])
        let refusedChunks = Mutex(0)
        let faultCount = faults.count
        let producer = Task {
            for (index, start) in stride(from: 0, to: planned.count, by: chunk).enumerated() {
                let due = index * faultCount / chunks
                while faultsStarted.withLock({ $0 }) < due { try await Task.sleep(for: .milliseconds(50)) }
                let part = Array(planned[start..<min(start + chunk, planned.count)])
                while true {
                    do {
                        let handles = try await queue.enqueueBulk(part.map(\.job))
                        accepted.withLock { a in for (h, p) in zip(handles, part) { a[h.id] = p.fail } }
                        break
                    } catch {
                        refusedChunks.withLock { $0 += 1 }
                        try await Task.sleep(for: .milliseconds(200))
                    }
                }
                // Between chunks, a moment for the nodes: the queue fills and drains during each fault.
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        defer { producer.cancel() }

        // The controller.
        func completed() async -> Int { (try? await queue.counts("chaos").completed) ?? -1 }
        /// Waits until every node process is back at work after a fault: each has a fresh record whose
        /// `processed` grew past `baseline` (a restarted node: past 0), and `gone` (a killed node's id) has
        /// been declared dead and its jobs handed back. Probe jobs (150 ms sleeps, 64 at a time) give every
        /// node work; a new burst goes out each second while waiting.
        func recover(from end: ContinuousClock.Instant, baseline: [Int: Int], gone: String?) async throws -> (Duration, Int)? {
            let deadline = end + .seconds(90)
            var backAt: [Int: Duration] = [:]
            var lastBurst = ContinuousClock.now - .seconds(2)
            while ContinuousClock.now < deadline {
                if ContinuousClock.now - lastBurst >= .seconds(1) {
                    _ = try? await queue.enqueueBulk(
                        (0..<64).map { _ in JobQueue.Job(name: DiagnosticJobs.Sleep.jobName, payload: ByteBuffer(string: #"{"ms":150}"#), options: .init(queue: "probe")) })
                    lastBurst = .now
                }
                if let records = try? await registry.nodes() {
                    for node in nodes where backAt[node.index] == nil {
                        let pid = node.pid
                        if let record = records.first(where: { $0.pid == pid }), record.processed > (baseline[pid] ?? 0) {
                            backAt[node.index] = .now - end
                        }
                    }
                    if backAt.count == nodes.count, gone.map({ id in !records.contains { $0.id == id } }) ?? true {
                        let last = backAt.max { $0.value < $1.value }!.key
                        return (.now - end, last)
                    }
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            return nil
        }
        /// `body`, tried again while Redis does not answer yet (the controller's own connection lives through the
        /// faults too), for up to two minutes; the last error names `what`.
        func retrying<T: Sendable>(_ what: String, _ body: () async throws -> T) async throws -> T {
            let deadline = ContinuousClock.now + .seconds(120)
            while true {
                do {
                    return try await body()
                } catch where ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(100))
                } catch {
                    throw TestEnvironment.Missing(description: "the controller could not \(what) for two minutes: \(error)")
                }
            }
        }
        func nodesNow() async throws -> [NodeRecord] { try await retrying("read the node registry") { try await registry.nodes() } }
        func processedByPID() async throws -> [Int: Int] {
            Dictionary(try await nodesNow().map { ($0.pid, $0.processed) }, uniquingKeysWith: { max($0, $1) })
        }

        var rows: [Row] = []
        var kills = 0
        var clockSign = 1
        for fault in faults {
            faultsStarted.withLock { $0 += 1 }
            let before = await completed()
            var gone: String?
            var target = "redis"
            let end: ContinuousClock.Instant
            switch fault {
            case .killNode:
                let node = nodes[Int(rng.next() % UInt64(nodes.count))]
                target = "node \(node.index)"
                let pid = node.pid
                gone = try await nodesNow().first { $0.pid == pid }?.id
                await node.kill()
                kills += 1
                try node.start()
                end = .now
            case .pauseRedis:
                redis.signal(SIGSTOP)
                try await Task.sleep(for: .seconds(4))
                redis.signal(SIGCONT)
                end = .now
            case .restartRedis:
                do {
                    try await redis.restart()
                } catch {
                    throw TestEnvironment.Missing(description: "restarting Redis: \(error)")
                }
                end = .now
            case .cutConnections:
                let node = nodes[Int(rng.next() % UInt64(nodes.count))]
                target = "node \(node.index)"
                await node.proxy.cutAll()
                end = .now
            case .delayReplies:
                let node = nodes[Int(rng.next() % UInt64(nodes.count))]
                target = "node \(node.index)"
                await node.proxy.delay(.milliseconds(250))
                try await Task.sleep(for: .seconds(4))
                await node.proxy.delay(.zero)
                end = .now
            case .stepClock:
                guard let node = nodes.first(where: { $0.clock != nil }), let file = node.clock?.file else {
                    rows.append(Row(fault: fault, target: "skipped: no C compiler for the clock shim", recovery: .zero, completedBefore: before, lastBack: "-"))
                    continue
                }
                target = "node \(node.index) \(clockSign > 0 ? "+1 h" : "-1 h")"
                try (clockSign > 0 ? "3600" : "-3600").write(toFile: file, atomically: true, encoding: .utf8)
                clockSign = -clockSign
                end = .now
            }
            let baseline = try await processedByPID()
            let recovered = try await recover(from: end, baseline: baseline, gone: gone)
            let recovery = recovered?.0
            rows.append(
                Row(fault: fault, target: target, recovery: recovery, completedBefore: before, lastBack: recovered.map { "node \($0.1)" } ?? "-"))
            if recovery == nil {
                var pids: [Int] = []
                for node in nodes { pids.append(node.pid) }
                let view = ((try? await registry.nodes()) ?? []).map { "\($0.id) pid \($0.pid) busy \($0.busy) processed \($0.processed)" }
                Issue.record("\(fault.rawValue) on \(target): not back at work within 90 s; node pids \(pids), gone \(gone ?? "-"), baseline \(baseline), registry \(view)\n\(logs())")
            }
            // A quiet moment between faults: the soak measures each recovery on its own.
            try await Task.sleep(for: .seconds(2))
        }
        try await producer.value
        let all = accepted.withLock { $0 }
        #expect(all.count == settings.jobs)

        // Every job terminal: nothing waiting, running or retrying; none dead.
        let drainStarted = ContinuousClock.now
        try await waitUntil(timeout: .seconds(300), "every job terminal") {
            guard let c = try? await queue.counts("chaos") else { return false }
            return c.ready + c.scheduled + c.retrying + c.active == 0
        }
        let counts = try await retrying("read the queue's counts") { try await queue.counts("chaos") }
        #expect(counts.dead == 0 && counts.canceled == 0, "dead \(counts.dead), canceled \(counts.canceled)")
        #expect(counts.completed == settings.jobs, "completed \(counts.completed) of \(settings.jobs)")

        // Each job's runs from the record list: an entry per run, `<id>:<attempt>`. A job that fails once runs
        // twice; every run beyond that is a duplicate.
        let entries = try await retrying("read the record list") {
            (try await direct.send(RedisCommand("LRANGE", "\(Self.namespace):diag:soak", 0, -1)).array ?? []).compactMap(\.string)
        }
        var runs: [String: [Int]] = [:]
        for entry in entries {
            let parts = entry.split(separator: ":")
            guard parts.count == 2, let attempt = Int(parts[1]) else { continue }
            runs[String(parts[0]), default: []].append(attempt)
        }
        var lost = 0
        var duplicates = 0
        for (id, fail) in all {
            let attempts = runs[id] ?? []
            if !attempts.contains(where: { $0 > fail }) { lost += 1 }
            duplicates += max(0, attempts.count - (fail + 1))
        }
        let unknown = Set(runs.keys).subtracting(all.keys).count
        // The bound (docs/reliability.md): a node killed with N jobs running runs at most those N again, and so does
        // a node cut off from Redis for longer than its lease (after a Redis restart, nodes behind a connection
        // that stays open without replies wait two command timeouts before they reconnect). A pause, a cut, a
        // delay or a clock step runs nothing twice.
        let restarts = rows.filter { $0.fault == .restartRedis }.count
        let bound = (kills + restarts * settings.nodes) * settings.concurrency
        #expect(lost == 0, "lost \(lost)")
        #expect(unknown == 0, "runs of jobs never enqueued: \(unknown)")
        #expect(duplicates <= bound, "duplicates \(duplicates) > bound \(bound)")

        let recoveries = rows.compactMap(\.recovery)
        func seconds(_ d: Duration) -> String { String(format: "%.2f s", Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18) }
        var table = """
            | # | fault | target | jobs completed before | every node back at work after | last back |
            |---|---|---|---|---|---|

            """
        for (i, row) in rows.enumerated() {
            table += "| \(i + 1) | \(row.fault.rawValue) | \(row.target) | \(row.completedBefore) | \(row.recovery.map(seconds) ?? "not within 90 s") | \(row.lastBack) |\n"
        }
        table += """

            | jobs | runs | lost | duplicates (bound) | dead | refused enqueue chunks (retried) | faults | slowest recovery | drain after the last fault |
            |---|---|---|---|---|---|---|---|---|
            | \(settings.jobs) | \(entries.count) | \(lost) | \(duplicates) (≤ \(bound): (\(kills) kills + \(restarts) restarts × \(settings.nodes) nodes) × \(settings.concurrency)) | \(counts.dead) | \(refusedChunks.withLock { $0 }) | \(rows.count) | \(recoveries.max().map(seconds) ?? "-") | \(seconds(ContinuousClock.now - drainStarted)) |

            seed \(settings.seed), \(settings.nodes) nodes × \(settings.concurrency), lease 6 s, heartbeat 500 ms, dead-node timeout 3 s

            """
        print(table)
        if let path = settings.report { try table.write(toFile: path, atomically: true, encoding: .utf8) }

        for node in nodes {
            node.process.signal(SIGTERM)
            _ = await node.process.wait(timeout: .seconds(10))
            await node.proxy.close()
        }
        await direct.close()
        await redis.stop()
        if let keep = settings.logs {
            try? FileManager.default.createDirectory(atPath: keep, withIntermediateDirectories: true)
            for file in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where file.hasSuffix(".log") {
                try? FileManager.default.removeItem(atPath: "\(keep)/\(file)")
                try? FileManager.default.copyItem(atPath: "\(dir)/\(file)", toPath: "\(keep)/\(file)")
            }
        }
        try? FileManager.default.removeItem(atPath: dir)
    }
}

import Foundation
import JobKit
import JobKitTestSupport
import NIOCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("jobnode processes")
struct NodeProcessTests {
    @Test("kill -9 of a node mid-job loses nothing: every job of thousands ends completed")
    func killNineLosesNothing() async throws {
        try await EngineHarness.with { h in
            let dir = try TestEnvironment.makeTemporaryDirectory("crash")
            let total = 3000
            let handles = try await h.queue.enqueueBulk(
                (0..<total).map { _ in JobQueue.Job(name: "jobkit.record", payload: ByteBuffer(string: #"{"key":"crash"}"#)) })
            let common = ["run", "--namespace", h.namespace, "--concurrency", "16", "--lease", "2s", "--heartbeat", "500ms", "--reap-interval", "300ms"]
            let victim = try JobNodeProcess(common + ["--name", "victim"], logPath: "\(dir)/victim.log")
            // Let the victim get going, then kill it while it holds leases. It is frozen (SIGSTOP) first, so that
            // the leases it holds can be read before it dies: with no other node running, none changes hands.
            try await waitUntil(timeout: .seconds(30)) { try await h.recorded("crash").count >= 300 }
            var held: [ActiveJob] = []
            for _ in 0..<50 {
                victim.process.signal(SIGSTOP)
                try await waitUntil { processState(victim.process.pid) == "T" }
                held = try await h.queue.activeJobs()
                if !held.isEmpty { break }
                // Caught between two claims: let it run on until it has done some more, and try again.
                let done = try await h.recorded("crash").count
                victim.process.signal(SIGCONT)
                try await waitUntil(timeout: .seconds(30)) { try await h.recorded("crash").count > done }
            }
            #expect(!held.isEmpty, "the victim held no lease when it was killed")
            victim.process.signal(SIGKILL)
            #expect(await victim.process.wait(timeout: .seconds(10)) == 128 + SIGKILL)
            let survivor = try JobNodeProcess(common + ["--name", "survivor"], logPath: "\(dir)/survivor.log")
            try await waitUntil(timeout: .seconds(60)) { try await h.queue.counts("default").completed == total }
            let counts = try await h.queue.counts("default")
            #expect(counts.ready == 0 && counts.active == 0 && counts.retrying == 0 && counts.dead == 0)
            #expect(counts.completed == total)
            let recordedIDs = Set(try await h.recorded("crash").map { String($0.split(separator: ":")[0]) })
            #expect(recordedIDs == Set(handles.map(\.id)), "every job ran at least once")
            survivor.process.signal(SIGTERM)
            #expect(await survivor.process.wait(timeout: .seconds(30)) == 0, "survivor log: \(survivor.log.suffix(2000))")
            // Jobs the victim held when it died were reclaimed (their history names the victim's lost lease).
            let victimNode = try #require(held.first?.node)
            let completed = try await h.queue.list("default", state: .completed, limit: total)
            let reclaimed = completed.filter { $0.history.contains { $0.kind == "lease" } }
            #expect(!reclaimed.isEmpty)
            #expect(reclaimed.allSatisfy { $0.history.contains { $0.kind == "lease" && $0.node == victimNode } })
            #expect(!Set(held.map(\.id)).isDisjoint(with: reclaimed.map(\.id)), "no job held at the kill was reclaimed")
        }
    }

    @Test("SIGTERM lets running jobs finish within the grace period and hands the rest back at once")
    func sigtermHandsBack() async throws {
        try await EngineHarness.with { h in
            let dir = try TestEnvironment.makeTemporaryDirectory("term")
            // The short jobs run 1.5 s, so that the moment all four run is long enough to be seen on a loaded
            // machine (at 300 ms a slow poll could miss it), and well within the 5 s grace.
            let short = try await h.queue.enqueueBulk((0..<2).map { _ in
                JobQueue.Job(name: "jobkit.sleep", payload: ByteBuffer(string: #"{"ms": 1500}"#), options: EnqueueOptions(priority: 5))
            })
            let long = try await h.queue.enqueueBulk((0..<2).map { _ in
                JobQueue.Job(name: "jobkit.sleep", payload: ByteBuffer(string: #"{"ms": 600000}"#))
            })
            let node = try JobNodeProcess(
                ["run", "--namespace", h.namespace, "--concurrency", "4", "--grace", "5s"], logPath: "\(dir)/node.log")
            try await waitUntil(timeout: .seconds(30)) { try await h.queue.counts("default").active == 4 }
            node.process.signal(SIGTERM)
            #expect(await node.process.wait(timeout: .seconds(20)) == 0, "node log: \(node.log.suffix(2000))")
            for handle in short {
                #expect(try await h.queue.job(handle.id)?.state == .completed)
            }
            for handle in long {
                let record = try #require(try await h.queue.job(handle.id))
                #expect(record.state == .ready, "handed back, not left to lease expiry")
                #expect(record.attempts == 0)
            }
        }
    }

    @Test("every command and subcommand accepts --redis and --namespace")
    func everyCommandTakesConnectionOptions() async throws {
        try await EngineHarness.with { h in
            let dir = try TestEnvironment.makeTemporaryDirectory("flags")
            let connection = ["--redis", try TestEnvironment.redisURL(), "--namespace", h.namespace]
            var step = 0
            func jobnode(_ args: [String], exit expected: Int32 = 0) async throws -> String {
                step += 1
                let p = try JobNodeProcess(args + connection, logPath: "\(dir)/\(step).log")
                let status = await p.process.wait(timeout: .seconds(60))
                #expect(!p.log.contains("Unknown option"), "jobnode \(args.joined(separator: " ")): \(p.log)")
                #expect(status == expected, "jobnode \(args.joined(separator: " ")) exited \(String(describing: status)): \(p.log)")
                return p.log
            }
            let id = try await jobnode(["enqueue", "jobkit.noop", "--queue", "cliq"]).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(try await h.queue.job(id, queue: "cliq")?.state == .ready, "enqueue used --namespace")
            _ = try await jobnode(["queues"])
            _ = try await jobnode(["queues", "list", "--json"])
            _ = try await jobnode(["queues", "pause", "cliq"])
            _ = try await jobnode(["queues", "resume", "cliq"])
            _ = try await jobnode(["jobs", "show", id])
            _ = try await jobnode(["jobs", "list", "--queue", "cliq", "--state", "ready"])
            _ = try await jobnode(["jobs", "cancel", id])
            _ = try await jobnode(["jobs", "retry", id])
            _ = try await jobnode(["jobs", "cancel", "--queue", "cliq"])
            _ = try await jobnode(["jobs", "cancel", "--tenant", "nobody"])
            _ = try await jobnode(["jobs", "retry", "--dead", "--queue", "cliq"])
            _ = try await jobnode(["jobs", "delete", id])
            _ = try await jobnode(["queues", "purge", "cliq", "--yes"])
            _ = try await jobnode(["nodes"])
            _ = try await jobnode(["nodes", "list", "--json"])
            _ = try await jobnode(["nodes", "shutdown", "--all"])
            _ = try await jobnode(["nodes", "drain", "nobody"], exit: 1)
            _ = try await jobnode(["inspect", "active"])
            _ = try await jobnode(["schedules", "add", "flags", "--every", "1h", "--job", "jobkit.noop", "--queue", "cliq"])
            _ = try await jobnode(["schedules"])
            _ = try await jobnode(["schedules", "list", "--json"])
            _ = try await jobnode(["schedules", "disable", "flags"])
            _ = try await jobnode(["schedules", "enable", "flags"])
            _ = try await jobnode(["schedules", "trigger", "flags"])
            _ = try await jobnode(["schedules", "remove", "flags"])
            let next = try await jobnode(["schedules", "next", "0 * * * *", "--from", "2026-01-01T00:30:00Z", "--count", "2"])
            #expect(next.split(separator: "\n") == ["2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"])
            _ = try await jobnode(["run", "--burst", "--queues", "cliq", "--no-scheduler"])
        }
    }

    @Test("--queue-tags pins a queue to a chosen slot: enqueue, run and queues agree on its keys; a bad pin is refused")
    func queueTags() async throws {
        try await EngineHarness.with { h in
            let dir = try TestEnvironment.makeTemporaryDirectory("tags")
            // Any slot will do; the queue's own name hashes elsewhere.
            let slot = 4_242
            #expect(HashSlot.of("pinned") != slot)
            let pin = ["--queue-tags", "pinned=@\(slot)", "--namespace", h.namespace]
            let enqueue = try JobNodeProcess(
                ["enqueue", "jobkit.record", "--queue", "pinned", "--json", #"{"key":"pin"}"#] + pin, logPath: "\(dir)/enqueue.log")
            #expect(await enqueue.process.wait() == 0, "\(enqueue.log)")
            let id = enqueue.log.trimmingCharacters(in: .whitespacesAndNewlines)
            let tags = try QueueTags.parse("pinned=@\(slot)")
            let keys = QueueKeys(namespace: h.namespace, queue: "pinned", tags: tags)
            #expect(keys.prefix == "\(h.namespace):{\(try #require(tags.tag(for: "pinned")))}=pinned:")
            #expect(HashSlot.of(keys.job(id)) == slot)
            #expect(try await h.redis.send(RedisCommand("EXISTS", keys.job(id))).int == 1, "the job is under the pinned keys")
            #expect(try await h.queue.counts("pinned").ready == 0, "and not under the unpinned ones")
            let run = try JobNodeProcess(["run", "--burst", "--queues", "pinned", "--no-scheduler"] + pin, logPath: "\(dir)/run.log")
            #expect(await run.process.wait(timeout: .seconds(60)) == 0, "\(run.log)")
            #expect(try await h.recorded("pin").map { String($0.split(separator: ":")[0]) } == [id], "the pinned node ran it")
            let queues = try JobNodeProcess(["queues", "list", "--json"] + pin, logPath: "\(dir)/queues.log")
            #expect(await queues.process.wait() == 0)
            #expect(queues.log.contains(#""name":"pinned""#) && queues.log.contains(#""completed":1"#), "\(queues.log)")
            // The variable works as the flag does; a pin that does not parse stops every command with exit 64.
            let viaEnvironment = try JobNodeProcess(
                ["jobs", "show", id, "--namespace", h.namespace], logPath: "\(dir)/show.log",
                extraEnvironment: [QueueTags.variable: "pinned=@\(slot)"])
            #expect(await viaEnvironment.process.wait() == 0 && viaEnvironment.log.contains("completed"), "\(viaEnvironment.log)")
            for bad in ["pinned", "pinned=@16384", "pinned=a{b", "pinned=x,pinned=y"] {
                let refused = try JobNodeProcess(["queues", "--queue-tags", bad, "--namespace", h.namespace], logPath: "\(dir)/bad.log")
                #expect(await refused.process.wait() == 64, "\(bad): \(refused.log)")
                #expect(refused.log.contains("JOBKIT_QUEUE_TAGS"), "\(bad): \(refused.log)")
            }
        }
    }

    @Test("enqueue --wait exits non-zero when the job ends dead; --wait-replicas without a replica fails; CLI errors are one line")
    func cliExitCodes() async throws {
        try await EngineHarness.with { h in
            let dir = try TestEnvironment.makeTemporaryDirectory("cli")
            let node = try JobNodeProcess(["run", "--namespace", h.namespace], logPath: "\(dir)/node.log")
            let ok = try JobNodeProcess(
                ["enqueue", "jobkit.fail", "--json", #"{"times":1}"#, "--namespace", h.namespace, "--wait"],
                logPath: "\(dir)/ok.log")
            #expect(await ok.process.wait() == 0, "\(ok.log)")
            let bad = try JobNodeProcess(
                ["enqueue", "jobkit.fail", "--json", #"{"times":-1}"#, "--max-attempts", "1", "--namespace", h.namespace, "--wait"],
                logPath: "\(dir)/bad.log")
            #expect(await bad.process.wait() != 0)
            #expect(bad.log.contains("failed: jobkit.fail: deliberate failure"))
            let unreachable = try JobNodeProcess(["queues", "--redis", "redis://127.0.0.1:1"], logPath: "\(dir)/unreach.log")
            #expect(await unreachable.process.wait() == 1)
            #expect(unreachable.log.hasPrefix("jobnode: error: Redis unreachable"))
            #expect(unreachable.log.split(separator: "\n").count == 1)
            let badURL = try JobNodeProcess(["queues", "--redis", "http://x"], logPath: "\(dir)/url.log")
            #expect(await badURL.process.wait() == 1)
            #expect(badURL.log.contains("invalid Redis URL"))
            let unknownQueue = try JobNodeProcess(
                ["jobs", "list", "--queue", "nope", "--state", "dead", "--namespace", h.namespace], logPath: "\(dir)/q.log")
            #expect(await unknownQueue.process.wait() == 1)
            #expect(unknownQueue.log.contains("unknown queue 'nope'"))
            // The test servers have no replica: an enqueue that must be confirmed by one fails, and says so.
            let unreplicated = try JobNodeProcess(
                ["enqueue", "jobkit.noop", "--wait-replicas", "1", "--namespace", h.namespace], logPath: "\(dir)/wait.log")
            #expect(await unreplicated.process.wait() == 1)
            #expect(unreplicated.log.contains("0 of 1 replica(s) confirmed"), "\(unreplicated.log)")
            node.process.signal(SIGTERM)
            #expect(await node.process.wait(timeout: .seconds(30)) == 0)
        }
    }
}

/// The state letter of a process from `/proc/<pid>/stat` (`R`, `S`, `T` for stopped, ...), or nil.
func processState(_ pid: pid_t) -> Character? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return nil }
    return stat[stat.index(after: close)...].first { $0 != " " }
}

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
            // Let the victim get going, then kill it while it holds leases.
            try await waitUntil(timeout: .seconds(30)) { try await h.recorded("crash").count >= 300 }
            let activeBefore = try await h.queue.counts("default").active
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
            // Jobs the victim held when it died were reclaimed by the reaper (their history says so).
            let completed = try await h.queue.list("default", state: .completed, limit: total)
            let reclaimed = completed.filter { $0.history.contains { $0.kind == "lease" } }
            if activeBefore > 0 { #expect(!reclaimed.isEmpty) }
            #expect(reclaimed.allSatisfy { $0.history.first?.node.isEmpty == false })
        }
    }

    @Test("SIGTERM lets running jobs finish within the grace period and hands the rest back at once")
    func sigtermHandsBack() async throws {
        try await EngineHarness.with { h in
            let dir = try TestEnvironment.makeTemporaryDirectory("term")
            let short = try await h.queue.enqueueBulk((0..<2).map { _ in
                JobQueue.Job(name: "jobkit.sleep", payload: ByteBuffer(string: #"{"ms": 300}"#), options: EnqueueOptions(priority: 5))
            })
            let long = try await h.queue.enqueueBulk((0..<2).map { _ in
                JobQueue.Job(name: "jobkit.sleep", payload: ByteBuffer(string: #"{"ms": 600000}"#))
            })
            let node = try JobNodeProcess(
                ["run", "--namespace", h.namespace, "--concurrency", "4", "--grace", "2s"], logPath: "\(dir)/node.log")
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

    @Test("enqueue --wait exits non-zero when the job ends dead; CLI errors are one line")
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
            node.process.signal(SIGTERM)
            #expect(await node.process.wait(timeout: .seconds(30)) == 0)
        }
    }
}

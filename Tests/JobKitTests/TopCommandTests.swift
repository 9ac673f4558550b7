import Foundation
import JobKitTestSupport
import NIOCore
import Testing

@testable import JobKit

#if canImport(Glibc)
import Glibc
#endif

/// `jobnode top`: plain frames when piped, keys on a terminal (driven through a pseudo-terminal).
@Suite("jobnode top", .serialized)
struct TopCommandTests {
    static func sleeps(_ count: Int, queue: String) -> [JobQueue.Job] {
        (0..<count).map { _ in
            JobQueue.Job(name: "jobkit.sleep", payload: ByteBuffer(string: #"{"ms": 30000}"#), options: EnqueueOptions(queue: queue))
        }
    }

    @Test("piped: one plain frame with every queue's counts and head age, the live node, the running jobs; --frames gives rates from the second frame; no escape codes")
    func plainFrames() async throws {
        try await EngineHarness.with { h in
            let dir = try TestEnvironment.makeTemporaryDirectory("top")
            _ = try await h.queue.enqueueBulk(
                (0..<3).map { _ in JobQueue.Job(name: "jobkit.noop", payload: ByteBuffer(string: "{}"), options: EnqueueOptions(queue: "topwait")) })
            _ = try await h.queue.enqueueBulk(Self.sleeps(2, queue: "toprun"))
            let node = try JobNodeProcess(
                ["run", "--namespace", h.namespace, "--queues", "toprun", "--concurrency", "2", "--name", "top-node", "--grace", "1s",
                 "--heartbeat", "200ms"],
                logPath: "\(dir)/node.log")
            try await waitUntil(timeout: .seconds(20)) { try await h.queue.counts("toprun").active == 2 }
            let once = try JobNodeProcess(["top", "--once", "--namespace", h.namespace], logPath: "\(dir)/once.log")
            #expect(await once.process.wait() == 0)
            let lines = once.log.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(lines.first?.hasPrefix("jobnode top — ") == true, "\(once.log)")
            #expect(!once.log.contains("\u{1B}"))
            let waiting = try #require(lines.first { $0.hasPrefix("topwait") }, "\(once.log)")
            #expect(waiting.split(separator: " ", omittingEmptySubsequences: true).prefix(3) == ["topwait", "3", "0"])
            let running = try #require(lines.first { $0.hasPrefix("toprun") })
            #expect(running.split(separator: " ", omittingEmptySubsequences: true).prefix(3) == ["toprun", "0", "2"])
            #expect(lines.contains { $0.hasPrefix("top-node") && $0.contains("toprun") })
            #expect(lines.filter { $0.hasPrefix("jobkit.sleep") }.count == 2)

            let two = try JobNodeProcess(
                ["top", "--frames", "2", "--interval", "200ms", "--namespace", h.namespace], logPath: "\(dir)/two.log")
            #expect(await two.process.wait() == 0)
            let rows = two.log.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.hasPrefix("topwait") }
            #expect(rows.count == 2)
            // DONE/S and FAIL/S: unknown in the first frame, measured in the second.
            #expect(rows.first?.contains(" - ") == true && rows.last?.contains("0.0") == true, "\(rows)")
            node.process.signal(SIGTERM)
            #expect(await node.process.wait(timeout: .seconds(20)) == 0)
        }
    }

    @Test("on a terminal: p pauses the selected queue, tab + d + y drains the selected node, q quits and restores the terminal")
    func keys() async throws {
        let drive = try TestEnvironment.required("JOBKIT_PTY_DRIVE", "scripts/lib/pty-drive.py (scripts/test exports it)")
        try await EngineHarness.with { h in
            let dir = try TestEnvironment.makeTemporaryDirectory("top-keys")
            _ = try await h.queue.enqueueBulk(
                (0..<2).map { _ in JobQueue.Job(name: "jobkit.noop", payload: ByteBuffer(string: "{}"), options: EnqueueOptions(queue: "akeys")) })
            let node = try JobNodeProcess(
                ["run", "--namespace", h.namespace, "--queues", "bkeys", "--concurrency", "1", "--name", "keys-node", "--heartbeat", "200ms"],
                logPath: "\(dir)/node.log")
            let registry = NodeRegistry(redis: h.redis, namespace: h.namespace)
            try await waitUntil(timeout: .seconds(20)) { try await registry.nodes().contains { $0.name == "keys-node" } }
            var environment = ProcessInfo.processInfo.environment
            environment["REDIS_URL"] = try TestEnvironment.redisURL()
            let top = try ChildProcess(
                "/usr/bin/env",
                [
                    "python3", drive, "wait:keys-node", "send:p", "wait:paused akeys", "send:\\t", "send:d", "wait:y/n", "send:y",
                    "wait:drain requested: keys-node", "send:q", "--", try TestEnvironment.jobnodeBinary(), "top", "--interval", "200ms",
                    "--namespace", h.namespace,
                ],
                outputPath: "\(dir)/top.log", environment: environment)
            let status = await top.wait(timeout: .seconds(60))
            let screen = (try? String(contentsOfFile: "\(dir)/top.log", encoding: .utf8)) ?? ""
            #expect(status == 0, "\(screen)")
            #expect(try await h.queue.counts("akeys").paused)
            // Drained: the node stops claiming and exits by itself.
            #expect(await node.process.wait(timeout: .seconds(20)) == 0)
            // The cursor is shown again on the way out.
            #expect(screen.hasSuffix("\u{1B}[?25h"), "\(screen.suffix(200))")
        }
    }
}

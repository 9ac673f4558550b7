import Foundation
import JobKitTestSupport
import NIOCore
import Testing

@testable import JobKit

#if canImport(Glibc)
import Glibc
#endif

/// Fast heartbeats so that tests see dead nodes and fallbacks within seconds.
private let fastNode = ["--heartbeat", "500ms", "--dead-node-timeout", "2s", "--lease", "60s", "--reap-interval", "60s"]

private func sleepJob(_ ms: Int, queue: String = "default", options: EnqueueOptions? = nil) -> JobQueue.Job {
    var o = options ?? EnqueueOptions()
    o.queue = queue
    return JobQueue.Job(name: "jobkit.sleep", payload: ByteBuffer(string: "{\"ms\": \(ms)}"), options: o)
}

@Suite("Nodes: heartbeats, registry, cancellation, control")
struct NodeControlTests {
    @Test("SIGTERM while the node is still starting (registered, before its services watch signals): it stops gracefully, five times out of five")
    func sigtermDuringStart() async throws {
        try await EngineHarness.with { h in
            let dir = try TestEnvironment.makeTemporaryDirectory("early-term")
            let registry = NodeRegistry(redis: h.redis, namespace: h.namespace)
            for i in 0..<5 {
                let node = try JobNodeProcess(
                    ["run", "--namespace", h.namespace, "--queues", "early", "--name", "early-\(i)"], logPath: "\(dir)/early-\(i).log")
                // The node registers itself before it syncs its schedules and starts its service group.
                try await waitUntil(timeout: .seconds(20)) { try await registry.nodes().contains { $0.name == "early-\(i)" } }
                node.process.signal(SIGTERM)
                #expect(await node.process.wait(timeout: .seconds(20)) == 0, "\(node.log)")
            }
        }
    }

    @Test("kill -9 of a node running long jobs: another node re-runs them within the dead-node timeout, not the lease")
    func deadNodeReclaimedAtOnce() async throws {
        try await EngineHarness.with { h in
            let dir = try TestEnvironment.makeTemporaryDirectory("dead")
            let handles = try await h.queue.enqueueBulk((0..<4).map { _ in sleepJob(1000) })
            let victim = try JobNodeProcess(
                ["run", "--namespace", h.namespace, "--concurrency", "4", "--name", "victim"] + fastNode,
                logPath: "\(dir)/victim.log")
            try await waitUntil { try await h.queue.counts("default").active == 4 }
            victim.process.signal(SIGKILL)
            #expect(await victim.process.wait() == 128 + SIGKILL)
            let killedAt = ContinuousClock.now
            let survivor = try JobNodeProcess(
                ["run", "--namespace", h.namespace, "--concurrency", "4", "--name", "survivor"] + fastNode,
                logPath: "\(dir)/survivor.log")
            for handle in handles { _ = try await handle.result(timeout: .seconds(30)) }
            // The lease is 60 s: finishing well before it shows the dead node's jobs were reclaimed at once.
            #expect(ContinuousClock.now - killedAt < .seconds(30))
            for handle in handles {
                let record = try #require(try await h.queue.job(handle.id))
                #expect(record.state == .completed)
                #expect(record.history.contains { $0.error.contains("died (missed heartbeats)") })
            }
            survivor.process.signal(SIGTERM)
            #expect(await survivor.process.wait() == 0)
        }
    }

    @Test("canceling a running jobkit.sleep stops it within a second; it ends canceled and is not retried")
    func cancelRunning() async throws {
        try await EngineHarness.with { h in
            let dir = try TestEnvironment.makeTemporaryDirectory("cancel")
            let node = try JobNodeProcess(["run", "--namespace", h.namespace] + fastNode, logPath: "\(dir)/node.log")
            let handle = try await h.queue.enqueue(sleepJob(60_000))
            try await waitUntil { try await h.queue.counts("default").active == 1 }
            let started = ContinuousClock.now
            #expect(try await h.queue.cancel(handle.id) == .requested)
            await #expect { _ = try await handle.result(timeout: .seconds(10)) } throws: {
                ($0 as? QueueError)?.code == .jobCanceled
            }
            let took = ContinuousClock.now - started
            // The issue asks for "within a second"; a loaded CI machine gets a little slack (typically ~0.1 s).
            #expect(took < .seconds(2), "cancel took \(took)")
            let record = try #require(try await h.queue.job(handle.id))
            #expect(record.state == .canceled && record.attempts == 1)
            #expect(try await h.queue.cancel(handle.id) == .alreadyFinished)
            // A waiting job is canceled at once.
            let waiting = try await h.queue.enqueue(sleepJob(10, options: EnqueueOptions(delay: .seconds(3600))))
            #expect(try await h.queue.cancel(waiting.id) == .canceled)
            #expect(try await h.queue.job(waiting.id)?.state == .canceled)
            node.process.signal(SIGTERM)
            #expect(await node.process.wait() == 0)
        }
    }

    @Test("a cancel whose pub/sub message is lost still stops the job within one heartbeat")
    func cancelFallsBackToHeartbeat() async throws {
        try await EngineHarness.with { h in
            let dir = try TestEnvironment.makeTemporaryDirectory("cancel2")
            let node = try JobNodeProcess(["run", "--namespace", h.namespace] + fastNode, logPath: "\(dir)/node.log")
            // 1. The node's pub/sub connection is cut just before the cancel.
            let first = try await h.queue.enqueue(sleepJob(60_000))
            try await waitUntil { try await h.queue.counts("default").active == 1 }
            let runner = try #require(try await h.queue.job(first.id)?.node)
            #expect(try await killClients(named: "jobkit-control-\(runner)", using: h.redis) == 1)
            _ = try await h.queue.cancel(first.id)
            await #expect { _ = try await first.result(timeout: .seconds(10)) } throws: {
                ($0 as? QueueError)?.code == .jobCanceled
            }
            // 2. The message is never sent at all: only the node's cancel set (read by its heartbeat) says so.
            let second = try await h.queue.enqueue(sleepJob(60_000))
            try await waitUntil { try await h.queue.counts("default").active == 1 }
            let keys = h.queue.keys("default")
            let reply = try await h.redis.run(QueueScripts.cancel, keys: [keys.prefix], arguments: [second.id])
            let owner = try #require(reply.array?.first?.array?.last?.string)
            _ = try await h.redis.send("SADD", NodeKeys(namespace: h.namespace).cancels(owner), second.id)
            let started = ContinuousClock.now
            await #expect { _ = try await second.result(timeout: .seconds(10)) } throws: {
                ($0 as? QueueError)?.code == .jobCanceled
            }
            let took = ContinuousClock.now - started
            #expect(took < .seconds(3), "heartbeat is 500 ms; took \(took)")
            node.process.signal(SIGTERM)
            #expect(await node.process.wait() == 0)
        }
    }

    @Test("pause stops claims; resume restarts them")
    func pauseResume() async throws {
        try await EngineHarness.with { h in
            let dir = try TestEnvironment.makeTemporaryDirectory("pause")
            _ = try await h.queue.enqueue(sleepJob(1))  // the queue exists
            let node = try JobNodeProcess(["run", "--namespace", h.namespace] + fastNode, logPath: "\(dir)/node.log")
            try await waitUntil { try await h.queue.counts("default").completed == 1 }
            try await h.queue.pause(queue: "default")
            let held = try await h.queue.enqueue(sleepJob(1))
            // Nothing announces "not claimed": look for a second and a half.
            try await Task.sleep(for: .milliseconds(1500))
            #expect(try await h.queue.job(held.id)?.state == .ready)
            #expect(try await h.queue.counts("default").paused)
            try await h.queue.resume(queue: "default")
            _ = try await held.result(timeout: .seconds(10))
            node.process.signal(SIGTERM)
            #expect(await node.process.wait() == 0)
        }
    }

    @Test("purge removes exactly the waiting jobs of one queue")
    func purge() async throws {
        try await EngineHarness.with { h in
            _ = try await h.queue.enqueueBulk((0..<3).map { _ in sleepJob(1, queue: "one") })
            _ = try await h.queue.enqueue(JobQueue.Job(
                name: "jobkit.noop", payload: ByteBuffer(string: "{}"), options: EnqueueOptions(queue: "one", delay: .seconds(600))))
            let other = try await h.queue.enqueueBulk((0..<2).map { _ in sleepJob(1, queue: "two") })
            #expect(try await h.queue.purge(queue: "one") == 4)
            let one = try await h.queue.counts("one")
            #expect(one.ready == 0 && one.scheduled == 0)
            #expect(try await h.queue.counts("two").ready == 2)
            for handle in other { #expect(try await h.queue.job(handle.id)?.state == .ready) }
        }
    }

    @Test("remote shutdown finishes running jobs within the grace and hands back the rest; drain exits when done")
    func remoteShutdownAndDrain() async throws {
        try await EngineHarness.with { h in
            let dir = try TestEnvironment.makeTemporaryDirectory("remote")
            let short = try await h.queue.enqueue(sleepJob(300, options: EnqueueOptions(priority: 5)))
            let long = try await h.queue.enqueue(sleepJob(600_000))
            let node = try JobNodeProcess(
                ["run", "--namespace", h.namespace, "--name", "remote-a"] + fastNode, logPath: "\(dir)/a.log")
            try await waitUntil { try await h.queue.counts("default").active == 2 }
            let registry = NodeRegistry(redis: h.redis, namespace: h.namespace)
            let targets = try await registry.requestShutdown(node: "remote-a", grace: .seconds(2))
            #expect(targets.map(\.name) == ["remote-a"])
            #expect(await node.process.wait(timeout: .seconds(20)) == 0, "\(node.log.suffix(1500))")
            #expect(try await h.queue.job(short.id)?.state == .completed)
            #expect(try await h.queue.job(long.id)?.state == .ready)

            // Drain: the node stops claiming, finishes what it runs, and exits.
            try await h.queue.delete([long.id], queue: "default")
            let job = try await h.queue.enqueue(sleepJob(500))
            let drained = try JobNodeProcess(
                ["run", "--namespace", h.namespace, "--name", "remote-b"] + fastNode, logPath: "\(dir)/b.log")
            try await waitUntil { try await h.queue.counts("default").active == 1 }
            try await registry.requestDrain(node: "remote-b")
            #expect(await drained.process.wait(timeout: .seconds(20)) == 0)
            #expect(try await h.queue.job(job.id)?.state == .completed)
        }
    }

    @Test("nodes lists every live node and drops a dead one")
    func registryListing() async throws {
        try await EngineHarness.with { h in
            let dir = try TestEnvironment.makeTemporaryDirectory("nodes")
            let registry = NodeRegistry(redis: h.redis, namespace: h.namespace)
            let a = try JobNodeProcess(
                ["run", "--namespace", h.namespace, "--name", "list-a", "--queues", "x:2,y:1", "--concurrency", "3"] + fastNode,
                logPath: "\(dir)/a.log")
            let b = try JobNodeProcess(["run", "--namespace", h.namespace, "--name", "list-b"] + fastNode, logPath: "\(dir)/b.log")
            try await waitUntil { try await registry.nodes().count == 2 }
            let nodes = try await registry.nodes()
            let nodeA = try #require(nodes.first { $0.name == "list-a" })
            #expect(nodeA.queues == "x:2,y:1" && nodeA.concurrency == 3 && nodeA.pid == Int(a.process.pid))
            #expect(nodeA.lastHeartbeatMs >= nodeA.startedAtMs)
            a.process.signal(SIGKILL)
            await a.process.wait()
            try await waitUntil(timeout: .seconds(15)) { try await registry.nodes().map(\.name) == ["list-b"] }
            b.process.signal(SIGTERM)
            #expect(await b.process.wait() == 0)
            // A clean exit deregisters at once.
            #expect(try await registry.nodes().isEmpty)
        }
    }

    @Test("a second SIGTERM stops at once and hands running jobs back")
    func secondSignal() async throws {
        try await EngineHarness.with { h in
            let dir = try TestEnvironment.makeTemporaryDirectory("sig2")
            let job = try await h.queue.enqueue(sleepJob(600_000))
            let node = try JobNodeProcess(
                ["run", "--namespace", h.namespace, "--grace", "10m", "--log-level", "debug"] + fastNode,
                logPath: "\(dir)/node.log")
            try await waitUntil { try await h.queue.counts("default").active == 1 }
            node.process.signal(SIGTERM)
            // Two signals sent back to back may merge into one; wait until the first was handled.
            try await waitUntil { node.log.contains("Worker stopping") }
            node.process.signal(SIGTERM)
            #expect(await node.process.wait(timeout: .seconds(20)) == 0, "\(node.log.suffix(1500))")
            #expect(try await h.queue.job(job.id)?.state == .ready)
        }
    }
}

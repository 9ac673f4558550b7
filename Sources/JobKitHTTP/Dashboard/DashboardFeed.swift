import Foundation
import JobKit
import Logging
import NIOCore

/// The dashboard's live feed: one loop per server that, while at least one browser listens, reads Redis
/// once per interval — every queue's counts and new lifecycle events in one pipeline, then the live nodes —
/// and sends the same `tick` event to every subscriber. The cost is per node and interval, not per browser.
public actor DashboardFeed {
    let queue: JobQueue
    let registry: NodeRegistry
    let interval: Duration
    let logger: Logger
    private var subscribers: [Int: AsyncStream<String>.Continuation] = [:]
    /// The job each subscriber's page shows (a job page), whose state every tick reads once for all of them.
    private var watching: [Int: Watched] = [:]
    struct Watched: Hashable {
        var queue: String
        var id: String
    }
    private var nextID = 0
    private var loop: Task<Void, Never>?
    private var closed = false
    /// The last event id read from each queue's stream.
    private var cursors: [String: String] = [:]
    private var queueNames: [String] = []
    private var ticksSinceNames = 0
    /// Redis reads made by the loop (for tests: it grows with ticks, not with subscribers).
    private(set) var reads = 0
    private(set) var ticks = 0

    public init(queue: JobQueue, interval: Duration, logger: Logger) {
        self.queue = queue
        self.registry = NodeRegistry(redis: queue.redis, namespace: queue.namespace)
        self.interval = interval
        self.logger = logger
    }

    /// A new subscriber's stream of SSE frames; it ends when the server shuts down. A job page passes its job
    /// (`queue`, `id`) so that ticks carry that job's state (read once per tick, however many pages show it).
    public func subscribe(watching job: (queue: String, id: String)? = nil) -> AsyncStream<String> {
        let (stream, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(8))
        guard !closed else {
            continuation.finish()
            return stream
        }
        let id = nextID
        nextID += 1
        subscribers[id] = continuation
        if let job { watching[id] = Watched(queue: job.queue, id: job.id) }
        continuation.onTermination = { _ in Task { await self.unsubscribe(id) } }
        continuation.yield("retry: 3000\n: connected\n\n")
        if loop == nil {
            loop = Task { await self.run() }
        }
        return stream
    }

    /// How many browsers listen now.
    public var subscriberCount: Int { subscribers.count }

    private func unsubscribe(_ id: Int) {
        subscribers[id] = nil
        watching[id] = nil
    }

    /// Ends every stream (graceful shutdown: an open page must not hold the server's shutdown).
    public func close() {
        closed = true
        for c in subscribers.values { c.finish() }
        subscribers = [:]
        watching = [:]
        loop?.cancel()
        loop = nil
    }

    private func run() async {
        while !Task.isCancelled && !subscribers.isEmpty {
            let frame: String
            do {
                frame = try await tick()
            } catch {
                logger.warning("Dashboard feed: reading Redis failed", metadata: ["error": "\(error)"])
                frame = "event: error\ndata: {\"error\":\"redis unavailable\"}\n\n"
            }
            for c in subscribers.values { c.yield(frame) }
            do { try await Task.sleep(for: interval) } catch { break }
        }
        loop = nil
    }

    /// One read: counts and new events of every queue (one pipeline), then the nodes.
    func tick() async throws -> String {
        ticks += 1
        if queueNames.isEmpty || ticksSinceNames >= 10 {
            queueNames = try await queue.queueNames()
            ticksSinceNames = 0
            reads += 1
        }
        ticksSinceNames += 1
        var commands: [RedisCommand] = []
        for name in queueNames {
            let k = queue.keys(name)
            commands += [
                RedisCommand("ZCARD", k.scheduled), RedisCommand("ZCARD", k.ready), RedisCommand("ZCARD", k.active),
                RedisCommand("ZCARD", k.retrying), RedisCommand("ZCARD", k.dead), RedisCommand("ZCARD", k.canceled),
                RedisCommand("EXISTS", k.paused), RedisCommand("HGET", k.stats, "completed"),
                cursors[name].map { RedisCommand("XRANGE", strings: [k.events, "(" + $0, "+", "COUNT", "200"]) }
                    ?? RedisCommand("XREVRANGE", strings: [k.events, "+", "-", "COUNT", "1"]),
            ]
        }
        let watched = Array(Set(watching.values).prefix(1000))
        for job in watched { commands.append(RedisCommand("HGET", queue.keys(job.queue).job(job.id), "state")) }
        let replies = commands.isEmpty ? [] : try await queue.redis.pipeline(commands)
        reads += 1
        var queues: [[String: Any]] = []
        var events: [[String: Any]] = []
        for (i, name) in queueNames.enumerated() {
            let r = Array(replies[(i * 9)..<(i * 9 + 9)])
            queues.append([
                "name": name, "scheduled": r[0].int ?? 0, "ready": r[1].int ?? 0, "active": r[2].int ?? 0,
                "retrying": r[3].int ?? 0, "dead": r[4].int ?? 0, "canceled": r[5].int ?? 0, "paused": r[6].int == 1,
                "completed": r[7].int ?? 0,
            ])
            let entries = r[8].array ?? []
            // The first read of a queue only positions the cursor (at the newest entry): no backlog replay.
            let replay = cursors[name] != nil
            for entry in entries {
                guard let pair = entry.array, pair.count == 2, let id = pair[0].string else { continue }
                cursors[name] = id
                guard replay else { continue }
                let f = pair[1].fields
                events.append(["queue": name, "type": f["type"]?.string ?? "", "id": f["id"]?.string ?? ""])
            }
            if !replay && cursors[name] == nil { cursors[name] = "0-0" }
        }
        let base = queueNames.count * 9
        let jobs: [[String: Any]] = watched.enumerated().map { i, job in
            ["queue": job.queue, "id": job.id, "state": replies[base + i].string ?? "gone"]
        }
        let nodes = try await registry.nodes()
        reads += 1
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        let nodeRows: [[String: Any]] = nodes.map {
            [
                "id": $0.id, "name": $0.name, "busy": $0.busy, "concurrency": $0.concurrency,
                "heartbeatAge": DashboardFormat.age(ms: nowMs - $0.lastHeartbeatMs),
            ]
        }
        let payload: [String: Any] = ["queues": queues, "events": events, "nodes": nodeRows, "jobs": jobs]
        let data = try JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys])
        return "event: tick\ndata: " + String(decoding: data, as: UTF8.self) + "\n\n"
    }
}

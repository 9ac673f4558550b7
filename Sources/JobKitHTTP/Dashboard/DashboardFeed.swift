import Foundation
import JobKit
import Logging
import NIOCore

/// The dashboard's live feed: one loop per server that, while at least one browser listens, reads Redis
/// once per interval — one pipeline with every queue's counts and new lifecycle events, the states of the jobs
/// open job pages show, and the live nodes — and sends the same `tick` event to every subscriber. The cost is
/// one read per node and interval, not per browser.
public actor DashboardFeed {
    let queue: JobQueue
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
    private var nodeIDs: [String] = []
    private var bootstrapped = false
    private var namespaceQueueSet: String { QueueKeys.queueSet(namespace: queue.namespace) }
    /// Redis reads made by the loop (for tests: it grows with ticks, not with subscribers).
    private(set) var reads = 0
    private(set) var ticks = 0

    public init(queue: JobQueue, interval: Duration, logger: Logger) {
        self.queue = queue
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

    /// Commands per queue in a tick's pipeline.
    static let perQueue = QueueCounts.commandCount + 1

    /// One read: a single pipeline with every queue's counts and new events, the watched jobs' states, the
    /// queue names and the node registry. Names and node ids read in a tick are used by the next one (a new
    /// queue or node shows up one interval later); the first tick reads them first (one extra round trip).
    func tick() async throws -> String {
        ticks += 1
        let nodeKeys = NodeKeys(namespace: queue.namespace)
        let queueSet = namespaceQueueSet
        if !bootstrapped {
            let first = try await queue.redis.pipeline([RedisCommand("SMEMBERS", queueSet), RedisCommand("ZRANGE", nodeKeys.index, 0, -1)])
            reads += 1
            queueNames = (first[0].array ?? []).compactMap(\.string).sorted()
            nodeIDs = (first[1].array ?? []).compactMap(\.string)
            bootstrapped = true
        }
        var commands: [RedisCommand] = []
        for name in queueNames {
            let k = queue.keys(name)
            commands += QueueCounts.commands(k)
            commands.append(
                cursors[name].map { RedisCommand("XRANGE", strings: [k.events, "(" + $0, "+", "COUNT", "200"]) }
                    ?? RedisCommand("XREVRANGE", strings: [k.events, "+", "-", "COUNT", "1"]))
        }
        let watched = Array(Set(watching.values).prefix(1000))
        for job in watched { commands.append(RedisCommand("HGET", queue.keys(job.queue).job(job.id), "state")) }
        let knownNodes = nodeIDs
        for id in knownNodes {
            commands.append(RedisCommand("HMGET", nodeKeys.node(id), "name", "busy", "concurrency", "lastHeartbeatMs"))
        }
        commands.append(RedisCommand("SMEMBERS", queueSet))
        commands.append(RedisCommand("ZRANGE", nodeKeys.index, 0, -1))
        // A live view: with replica reads on, a replica answers it (a moment behind at most).
        let replies = try await queue.redis.pipeline(commands.map { $0.allowingReplica() })
        reads += 1
        var queues: [[String: Any]] = []
        var events: [[String: Any]] = []
        for (i, name) in queueNames.enumerated() {
            let base = i * Self.perQueue
            let c = try QueueCounts(name: name, replies: replies[base..<(base + QueueCounts.commandCount)])
            queues.append([
                "name": name, "scheduled": c.scheduled, "ready": c.ready, "active": c.active, "retrying": c.retrying,
                "dead": c.dead, "canceled": c.canceled, "paused": c.paused, "completedTotal": c.completed,
                "completed": c.completedRetained,
            ])
            let entries = replies[base + QueueCounts.commandCount].array ?? []
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
        var at = queueNames.count * Self.perQueue
        let jobs: [[String: Any]] = watched.enumerated().map { i, job in
            ["queue": job.queue, "id": job.id, "state": replies[at + i].string ?? "gone"]
        }
        at += watched.count
        let live = Set((replies[replies.count - 1].array ?? []).compactMap(\.string))
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        var nodeRows: [[String: Any]] = []
        for (i, id) in knownNodes.enumerated() where live.contains(id) {
            let v = replies[at + i].array ?? []
            guard v.count == 4, let name = v[0].string else { continue }
            nodeRows.append([
                "id": id, "name": name, "busy": v[1].string.flatMap(Int.init) ?? 0, "concurrency": v[2].string.flatMap(Int.init) ?? 0,
                "heartbeatAge": DashboardFormat.age(ms: nowMs - (v[3].string.flatMap(Int64.init) ?? nowMs)),
            ])
        }
        queueNames = (replies[replies.count - 2].array ?? []).compactMap(\.string).sorted()
        nodeIDs = (replies[replies.count - 1].array ?? []).compactMap(\.string)
        let payload: [String: Any] = ["queues": queues, "events": events, "nodes": nodeRows, "jobs": jobs]
        let data = try JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys])
        return "event: tick\ndata: " + String(decoding: data, as: UTF8.self) + "\n\n"
    }
}

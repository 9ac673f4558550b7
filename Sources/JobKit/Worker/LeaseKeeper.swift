import Logging
import NIOCore
import Synchronization

/// The one owner of a node's running jobs and their leases: it tracks each attempt by job id **and**
/// fencing token (a job reclaimed from this node and claimed again by it is two attempts), builds the
/// renewal calls, and applies their replies (stopping attempts whose lease is lost).
///
/// The renewal call of each served queue also hands back leases recorded as this node's that it does not
/// hold (a claim whose reply was lost), and observes the queue clock so that a Redis pause does not expire
/// leases (see ``LeaseScripts/renew``).
final class LeaseKeeper: Sendable {
    /// One attempt: a job id and the fencing token of its claim.
    struct Key: Hashable, Sendable {
        var id: String
        var token: String
    }

    /// One renewal script call for one queue.
    struct Call: Sendable {
        var queue: String
        var call: RedisScriptCall
        /// The leases the call renews.
        var held: Int
    }

    private let running = Mutex<[Key: JobControl]>([:])
    /// Attempts whose handler has returned and whose completion is still being written (waiting in the
    /// acker, or retried while Redis is away). Their leases are renewed like running ones and never handed
    /// back: a completion that lands late is still this attempt's, and handing the job back would run it again.
    private let recording = Mutex<[Key: ClaimedJob]>([:])
    let namespace: String
    let nodeID: String
    let queues: [String]
    let leaseDuration: Duration
    /// How often this node renews (its heartbeat, or the worker's own timer).
    let interval: Duration
    let logger: Logger

    init(namespace: String, nodeID: String, queues: [String], leaseDuration: Duration, interval: Duration, logger: Logger) {
        self.namespace = namespace
        self.nodeID = nodeID
        self.queues = queues
        self.leaseDuration = leaseDuration
        self.interval = interval
        self.logger = logger
    }

    /// A queue untouched for longer than this (no node renewed or reaped there) was paused or cut off
    /// from every node: leases are moved by the gap instead of expiring.
    var pauseThresholdMs: Int { Int((interval * 2).milliseconds) }
    /// A lease of this node not renewed for this long, and not among the attempts it holds, is handed
    /// back: one and a half renewal intervals.
    var unheldAfterMs: Int { Int((interval * 3 / 2).milliseconds) }

    func add(_ control: JobControl) {
        running.withLock { $0[Key(id: control.job.id, token: control.job.token)] = control }
    }

    func remove(_ control: JobControl) {
        running.withLock { _ = $0.removeValue(forKey: Key(id: control.job.id, token: control.job.token)) }
    }

    /// The attempt's handler returned and its completion is on its way: it no longer runs, but its lease is
    /// kept (renewed, not handed back) until ``recorded(_:)``.
    func recording(_ control: JobControl) {
        let key = Key(id: control.job.id, token: control.job.token)
        recording.withLock { $0[key] = control.job }
        running.withLock { _ = $0.removeValue(forKey: key) }
    }

    /// The completions of these attempts were written (or given up): their leases are no longer this node's
    /// to renew.
    func recorded(_ keys: [Key]) {
        recording.withLock { map in for key in keys { map.removeValue(forKey: key) } }
    }

    /// Every attempt running now.
    var all: [JobControl] { running.withLock { Array($0.values) } }
    var count: Int { running.withLock { $0.count } }

    /// The attempts of job `id` running here (normally one).
    func controls(id: String) -> [JobControl] {
        running.withLock { map in map.compactMap { $0.key.id == id ? $0.value : nil } }
    }

    /// One call per served queue (and per queue of a held attempt), with the attempts held there: those
    /// running and those whose completion is still being written.
    func calls() -> [Call] {
        let held = all.map(\.job) + recording.withLock { Array($0.values) }
        var byQueue: [String: [ClaimedJob]] = [:]
        for queue in queues { byQueue[queue] = [] }
        for job in held { byQueue[job.queue, default: []].append(job) }
        return byQueue.map { queue, jobs in
            let call = LeaseScripts.renew(
                QueueKeys(namespace: namespace, queue: queue), lease: leaseDuration, node: nodeID,
                pauseThresholdMs: pauseThresholdMs, unheldAfterMs: unheldAfterMs, held: jobs)
            return Call(queue: queue, call: call, held: jobs.count)
        }
    }

    /// Applies one renewal reply: stops the attempts whose lease is lost.
    func apply(_ call: Call, reply: RESPValue) {
        if case .error(let text) = reply {
            logger.error("Lease renewal failed", metadata: ["queue": "\(call.queue)", "error": "\(String(buffer: text))"])
            return
        }
        guard let parts = reply.array, parts.count == 2 else {
            logger.error("Lease renewal reply malformed", metadata: ["queue": "\(call.queue)"])
            return
        }
        let lost = parts[0].pairs
        WorkerMetrics.leaseRenewals.increment(by: max(0, call.held - lost.count))
        WorkerMetrics.leasesLost.increment(by: lost.count)
        for pair in lost {
            let key = Key(id: pair.key, token: pair.value.string ?? "")
            guard let control = running.withLock({ $0[key] }) else { continue }
            logger.warning(
                "Lease lost; stopping the job",
                metadata: ["job.id": "\(key.id)", "queue": "\(call.queue)", "job.token": "\(key.token)"])
            control.stop(.leaseLost)
        }
        if let handed = parts[1].int, handed > 0 {
            logger.warning(
                "Leases held in Redis but not by this node were handed back (a lost claim reply?)",
                metadata: ["queue": "\(call.queue)", "count": "\(handed)"])
        }
    }

    /// Renews on its own (a worker without a node agent).
    func renew(_ redis: RedisPool) async {
        let calls = calls()
        guard !calls.isEmpty else { return }
        do {
            let replies = try await redis.run(calls.map(\.call))
            for (call, reply) in zip(calls, replies) { apply(call, reply: reply) }
        } catch {
            logger.error("Lease renewal failed", metadata: ["error": "\(error)"])
        }
    }
}

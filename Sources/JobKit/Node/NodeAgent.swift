import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// A node's presence and control plane: heartbeats (with lease renewal in the same round trip), dead-node
/// detection with immediate reclaim of their jobs, and control messages (cancel, shutdown, drain) by
/// pub/sub with the heartbeat as fallback.
///
/// Heartbeats and lease renewals run on an event-loop thread of their own, with a Redis connection of
/// their own: a handler that blocks its thread (or floods the cooperative pool) cannot make its node miss
/// beats and be declared dead.
///
/// Run it in the same `ServiceGroup` as its ``Worker``, listed before it, so that on shutdown the worker
/// drains first while the node keeps beating.
public final class NodeAgent: Service, Sendable {
    /// Identity and timings of a node.
    public struct Options: Sendable {
        public var name: String
        public var host: String
        public var pid: Int
        /// How often the node writes its record (and renews its leases).
        public var heartbeatInterval: Duration = .seconds(5)
        /// How long a node may stay silent before another node declares it dead and re-runs its jobs.
        public var deadNodeTimeout: Duration = .seconds(15)

        public init(name: String, host: String, pid: Int) {
            self.name = name
            self.host = host
            self.pid = pid
        }

        /// A registry untouched by every node for longer than this was paused or unreachable (see
        /// ``NodeScripts/heartbeat``): two heartbeat intervals.
        var pauseThreshold: Duration { heartbeatInterval * 2 }

        /// Checks the timings: a heartbeat of at least 100 ms and a dead-node timeout of at least three
        /// heartbeats (so that a pause the registry clock absorbs is always shorter than the timeout).
        ///
        /// - Throws: `QueueError` `.invalidOptions`.
        public func validate() throws {
            guard heartbeatInterval >= .milliseconds(100) else {
                throw QueueError(.invalidOptions, "the heartbeat interval must be at least 100 ms")
            }
            guard deadNodeTimeout >= heartbeatInterval * 3 else {
                throw QueueError(
                    .invalidOptions,
                    "the dead-node timeout (\(deadNodeTimeout)) must be at least three heartbeat intervals (\(heartbeatInterval))")
            }
        }
    }

    public let options: Options
    let worker: Worker
    /// Heartbeats' own pool, on ``loopGroup``.
    let redis: RedisPool
    let keys: NodeKeys
    let logger: Logger
    private let loopGroup: MultiThreadedEventLoopGroup
    private let beater: Beater
    private let executor: EventLoopTaskExecutor
    private let subscriber: RedisSubscriber

    /// - Parameters:
    ///   - redis: the node's pool; its configuration is used for the agent's own connections.
    ///   - onShutdownRequest: called for a remote shutdown (with its grace) or drain (`nil`: no limit); it
    ///     should trigger the service group's graceful shutdown.
    /// - Throws: `QueueError` `.invalidOptions` for timings that don't work together, or with the
    ///   worker's lease (a lease must outlast three heartbeats when the node renews it).
    public init(
        redis: RedisPool, worker: Worker, options: Options, namespace: String = "jobkit",
        logger: Logger = Logger(label: "jobkit.node"), onShutdownRequest: @escaping @Sendable (Duration?) -> Void
    ) throws {
        try options.validate()
        if worker.options.leasesRenewedByNode {
            guard worker.options.leaseDuration >= options.heartbeatInterval * 3 else {
                throw QueueError(
                    .invalidOptions,
                    "the lease (\(worker.options.leaseDuration)) must be at least three heartbeat intervals (\(options.heartbeatInterval))")
            }
        }
        self.worker = worker
        self.options = options
        self.keys = NodeKeys(namespace: namespace)
        var logger = logger
        logger[metadataKey: "node.id"] = "\(worker.options.nodeID)"
        self.logger = logger
        var config = redis.configuration
        config.clientName = "jobkit-heartbeat-\(worker.options.nodeID)"
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.loopGroup = group
        let pool = RedisPool(configuration: config, size: 1, eventLoopGroup: group)
        self.redis = pool
        var subscriberConfig = redis.configuration
        subscriberConfig.clientName = "jobkit-control-\(worker.options.nodeID)"
        self.subscriber = RedisSubscriber(configuration: subscriberConfig)
        let loop = group.next()
        self.executor = EventLoopTaskExecutor(loop)
        self.beater = Beater(
            loop: loop, redis: pool, worker: worker, options: options, keys: keys, logger: logger,
            queuesText: worker.options.queues.map { "\($0.name):\($0.weight)" }.joined(separator: ","),
            onShutdownRequest: onShutdownRequest)
    }

    var nodeID: String { worker.options.nodeID }

    public func run() async throws {
        try await subscriber.subscribe([keys.controlChannel])
        await withDiscardingTaskGroup { group in
            group.addTask { await self.subscriber.run() }
            group.addTask {
                for await event in self.subscriber.events {
                    if case .message(_, let payload, _) = event,
                        let message = ControlMessage.decode(String(buffer: payload))
                    {
                        await self.beater.handle(message)
                    }
                }
            }
            // Beats until graceful shutdown reaches this service (after the worker drained), on the agent's
            // own event loop: the Redis client's async code and the beater run there, never on the
            // global executor that handlers may block.
            await withTaskExecutorPreference(self.executor) {
                await cancelWhenGracefulShutdown { await self.beater.loop() }
            }
            group.cancelAll()
        }
        do {
            _ = try await redis.run(NodeScripts.deregister(keys, node: nodeID))
        } catch {
            logger.debug("Deregistration failed; the record expires on its own", metadata: ["error": "\(error)"])
        }
        await redis.close()
        try? await loopGroup.shutdownGracefully()
    }

    /// One heartbeat now: ``JobNode`` calls it before the worker starts, so a node is in the registry
    /// (and reachable by `jobnode shutdown`, `drain` and `cancel`) before it claims its first job.
    func beat() async { await beater.beat() }
}

/// The heartbeat loop. It runs with the agent's event loop as its task executor, so its timers, its Redis
/// I/O and its continuations never wait for the global executor or an event loop that handlers can block.
private actor Beater {
    let loop: any EventLoop
    let redis: RedisPool
    let worker: Worker
    let options: NodeAgent.Options
    let keys: NodeKeys
    let logger: Logger
    let queuesText: String
    let onShutdownRequest: @Sendable (Duration?) -> Void
    /// Cancel ids and the number of commands received on the last beat, acknowledged on the next one.
    private var cancelAcks: [String] = []
    private var commandAcks = 0

    init(
        loop: any EventLoop, redis: RedisPool, worker: Worker, options: NodeAgent.Options, keys: NodeKeys, logger: Logger,
        queuesText: String, onShutdownRequest: @escaping @Sendable (Duration?) -> Void
    ) {
        self.loop = loop
        self.redis = redis
        self.worker = worker
        self.options = options
        self.keys = keys
        self.logger = logger
        self.queuesText = queuesText
        self.onShutdownRequest = onShutdownRequest
    }

    var nodeID: String { worker.options.nodeID }

    func loop() async {
        await beat()
        while !Task.isCancelled {
            do { try await sleep(options.heartbeatInterval) } catch { return }
            await beat()
        }
    }

    /// Sleeps on this actor's own event loop (not the global executor's timers).
    private func sleep(_ duration: Duration) async throws {
        let scheduled = loop.scheduleTask(in: .milliseconds(duration.milliseconds)) {}
        try await withTaskCancellationHandler {
            try await scheduled.futureResult.get()
        } onCancel: {
            scheduled.cancel()
        }
    }

    /// One heartbeat: record, lease renewal, pending cancels and commands, dead nodes — one round trip.
    func beat() async {
        let (processed, failed) = worker.counters
        let fields: [(name: String, value: String)] = [
            ("name", options.name), ("host", options.host), ("pid", String(options.pid)),
            ("version", JobKitVersion.current), ("queues", queuesText),
            ("concurrency", String(worker.options.concurrency)), ("busy", String(worker.busy)),
            ("processed", String(processed)), ("failed", String(failed)),
        ]
        let heartbeat = NodeScripts.heartbeat(
            keys, node: nodeID, ttl: options.deadNodeTimeout, timeout: options.deadNodeTimeout,
            pauseThreshold: options.pauseThreshold, commandAcks: commandAcks, cancelAcks: cancelAcks, fields: fields)
        var commands = [heartbeat.command]
        let renewals = worker.options.leasesRenewedByNode ? worker.leases.calls() : []
        commands += renewals.map(\.call.command)
        // The history's tallies since the last beat ride in the same round trip (last, so replies line up).
        let tallies = worker.history.take()
        let historyCall = HistoryScripts.record(HistoryKeys(namespace: keys.namespace), tallies)
        if let historyCall { commands.append(historyCall.command) }
        // Tallies go back at most once: when the history's own reply is an error, or when the pipeline itself failed
        // (then nothing was written). A heartbeat that fails after the pipeline returned does not put them back.
        var historySettled = historyCall == nil
        do {
            let replies = try await redis.pipeline(
                commands, loading: [NodeScripts.heartbeat, LeaseScripts.renew, HistoryScripts.record])
            historySettled = true
            if historyCall != nil, case .error(let text) = replies[replies.count - 1] {
                worker.history.putBack(tallies)
                logger.warning("Writing the metrics history failed; retried on the next heartbeat", metadata: ["error": "\(text)"])
            }
            for (renewal, reply) in zip(renewals, replies.dropFirst()) { worker.leases.apply(renewal, reply: reply) }
            let reply = try NodeScripts.HeartbeatReply(replies[0])
            // What this beat delivered is acknowledged on the next one (delivery is at least once).
            cancelAcks = reply.cancels
            commandAcks = reply.commands.count
            for id in reply.cancels where worker.stopJob(id, reason: .canceled) {
                logger.info("Job canceled (heartbeat)", metadata: ["job.id": "\(id)"])
            }
            for text in reply.commands {
                if let message = ControlMessage.decode(text) { handle(message) }
            }
            if reply.declaredDead {
                logger.warning("This node was declared dead while it was silent; jobs it held may have run elsewhere")
            }
            if reply.gapMs != 0 {
                logger.warning(
                    "No node could reach Redis for a while (pause, restart or clock step); nobody is declared dead for it",
                    metadata: ["gap.ms": "\(reply.gapMs)"])
            }
            if !reply.dead.isEmpty { await reclaim(deadNodes: reply.dead.map { ($0.node, $0.lastBeatMs) }) }
        } catch {
            if !historySettled { worker.history.putBack(tallies) }
            logger.error("Heartbeat failed: Redis unreachable?", metadata: ["error": "\(error)"])
        }
    }

    /// Re-runs at once the jobs of nodes this node declared dead: leases that ended by the dead node's
    /// last beat plus one lease and one heartbeat (what it could have renewed before it fell silent).
    private func reclaim(deadNodes: [(String, Int64)]) async {
        let reaper = Reaper(
            redis: redis, namespace: keys.namespace, logger: logger, pauseThresholdMs: worker.leases.pauseThresholdMs,
            maxExpiries: worker.options.maxLeaseExpiries)
        let slack = Int64((worker.options.leaseDuration + options.heartbeatInterval).milliseconds)
        for (node, lastBeat) in deadNodes {
            do {
                let (requeued, dead) = try await reaper.reclaim(node: node, cutoffMs: lastBeat + slack)
                logger.warning(
                    "Node declared dead; its jobs run again",
                    metadata: ["dead.node.id": "\(node)", "requeued": "\(requeued)", "dead": "\(dead)"])
            } catch {
                logger.error(
                    "Reclaiming a dead node's jobs failed; their leases expire instead",
                    metadata: ["dead.node.id": "\(node)", "error": "\(error)"])
            }
        }
    }

    func handle(_ message: ControlMessage) {
        guard message.node == nodeID || message.node == "*" else { return }
        switch message.type {
        case .cancel:
            if let id = message.job, worker.stopJob(id, reason: .canceled) {
                logger.info("Job canceled", metadata: ["job.id": "\(id)"])
            }
        case .shutdown:
            let grace = message.graceMs.map { Duration.milliseconds($0) }
            logger.notice("Remote shutdown requested", metadata: ["grace": "\(grace.map { "\($0)" } ?? "default")"])
            if let grace { worker.beginShutdown(grace: grace) } else { worker.beginShutdown() }
            onShutdownRequest(grace)
        case .drain:
            logger.notice("Drain requested")
            worker.beginShutdown(grace: .seconds(365 * 86_400))
            onShutdownRequest(nil)
        }
    }
}

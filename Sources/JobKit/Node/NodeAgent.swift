import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A node's presence and control plane: heartbeats (with lease renewal in the same round trip), dead-node
/// detection with immediate reclaim of their jobs, and control messages (cancel, shutdown, drain) by
/// pub/sub with the heartbeat as fallback.
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
    }

    public let options: Options
    let worker: Worker
    let redis: RedisPool
    let keys: NodeKeys
    let logger: Logger
    private let onShutdownRequest: @Sendable (Duration?) -> Void
    private let subscriber: RedisSubscriber
    private let queuesText: String

    /// - Parameters:
    ///   - onShutdownRequest: called for a remote shutdown (with its grace) or drain (`nil`: no limit); it
    ///     should trigger the service group's graceful shutdown.
    public init(
        redis: RedisPool, worker: Worker, options: Options, namespace: String = "jobkit",
        logger: Logger = Logger(label: "jobkit.node"), onShutdownRequest: @escaping @Sendable (Duration?) -> Void
    ) {
        self.redis = redis
        self.worker = worker
        self.options = options
        self.keys = NodeKeys(namespace: namespace)
        var logger = logger
        logger[metadataKey: "node.id"] = "\(worker.options.nodeID)"
        self.logger = logger
        self.onShutdownRequest = onShutdownRequest
        var config = redis.configuration
        config.clientName = "jobkit-control-\(worker.options.nodeID)"
        self.subscriber = RedisSubscriber(configuration: config)
        self.queuesText = worker.options.queues.map { "\($0.name):\($0.weight)" }.joined(separator: ",")
    }

    var nodeID: String { worker.options.nodeID }

    public func run() async throws {
        try await subscriber.subscribe([keys.controlChannel])
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.subscriber.run() }
                group.addTask {
                    for await event in self.subscriber.events {
                        if case .message(_, let payload, _) = event,
                            let message = ControlMessage.decode(String(buffer: payload))
                        {
                            self.handle(message)
                        }
                    }
                }
                await self.beat()
                while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    do { try await Task.sleep(for: self.options.heartbeatInterval) } catch { break }
                    if Task.isShuttingDownGracefully { break }
                    await self.beat()
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            // Nothing to do at once: the loop above sees the shutdown and ends.
        }
        do {
            _ = try await redis.run(NodeScripts.deregister, keys: [keys.index], arguments: [keys.prefix, nodeID])
        } catch {
            logger.debug("Deregistration failed; the record expires on its own", metadata: ["error": "\(error)"])
        }
    }

    /// One heartbeat: record, lease renewal, pending cancels and commands, dead nodes — one round trip.
    func beat() async {
        let (processed, failed) = worker.counters
        let fields: [String] = [
            "name", options.name, "host", options.host, "pid", String(options.pid), "version", JobKitVersion.current,
            "queues", queuesText, "concurrency", String(worker.options.concurrency), "busy", String(worker.busy),
            "processed", String(processed), "failed", String(failed),
        ]
        let ttl = Int(options.deadNodeTimeout.milliseconds)
        var commands = [
            NodeScripts.heartbeat.evalsha(
                keys: [keys.index],
                arguments: [keys.prefix, nodeID, ttl, Int(options.deadNodeTimeout.milliseconds)] + fields.map { $0 as any RESPArgument })
        ]
        let renewals = worker.options.leasesRenewedByNode ? worker.renewCalls() : []
        commands += renewals.map { LeaseScripts.renew.evalsha(keys: $0.keys, arguments: $0.arguments) }
        do {
            let replies = try await redis.pipeline(commands, loading: [NodeScripts.heartbeat, LeaseScripts.renew])
            for (renewal, reply) in zip(renewals, replies.dropFirst()) { worker.applyRenewal(queue: renewal.queue, reply: reply) }
            if case .error(let text) = replies[0] { throw RedisError.server(text) }
            guard let parts = replies[0].array, parts.count == 4 else {
                throw RedisError(.unexpectedReply, "heartbeat reply malformed")
            }
            for id in (parts[1].array ?? []).compactMap(\.string) {
                if worker.stopJob(id, reason: .canceled) {
                    logger.info("Job canceled (heartbeat)", metadata: ["job.id": "\(id)"])
                }
            }
            for text in (parts[2].array ?? []).compactMap(\.string) {
                if let message = ControlMessage.decode(text) { handle(message) }
            }
            let dead = (parts[3].array ?? []).compactMap(\.string)
            if !dead.isEmpty { await reclaim(deadNodes: dead) }
        } catch {
            logger.error("Heartbeat failed: Redis unreachable?", metadata: ["error": "\(error)"])
        }
    }

    /// Re-runs at once the jobs of nodes this node declared dead.
    func reclaim(deadNodes: [String]) async {
        do {
            let queues = (try await redis.send(RedisCommand("SMEMBERS", QueueKeys.queueSet(namespace: keys.namespace))).array ?? [])
                .compactMap(\.string)
            for node in deadNodes {
                var requeued = 0
                var dead = 0
                for queue in queues {
                    let k = QueueKeys(namespace: keys.namespace, queue: queue)
                    let reply = try await redis.run(LeaseScripts.reclaimNode, keys: [k.active], arguments: [k.prefix, node])
                    let counts = (reply.array ?? []).compactMap(\.int)
                    if counts.count == 2 {
                        requeued += counts[0]
                        dead += counts[1]
                    }
                }
                logger.warning(
                    "Node declared dead; its jobs run again",
                    metadata: ["dead.node.id": "\(node)", "requeued": "\(requeued)", "dead": "\(dead)"])
            }
        } catch {
            logger.error("Reclaiming a dead node's jobs failed; their leases expire instead", metadata: ["error": "\(error)"])
        }
    }

    private func handle(_ message: ControlMessage) {
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

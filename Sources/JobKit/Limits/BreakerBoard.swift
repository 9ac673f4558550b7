import CoreMetrics
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// A node's circuit breakers, one per external service, and their publication: each breaker's snapshot is
/// written to Redis on every transition and every ``publishInterval`` (a Service of the node), so that
/// `jobnode breakers`, `/health/detailed` and the dashboard see every node's breakers. Metrics:
/// `jobkit_breaker_state{service}` (0 closed, 1 half-open, 2 open) and
/// `jobkit_breaker_transitions_total{service,to}`.
///
/// Keys (hash tag `{breakers}`): `<ns>:{breakers}:node:<node>` (HASH service → snapshot JSON, expiring three
/// intervals after the last publication) and `<ns>:{breakers}:index` (ZSET node → last publication, ms).
public final class BreakerBoard: Service, Sendable {
    public let redis: RedisPool
    public let namespace: String
    public let nodeID: String
    public let publishInterval: Duration
    let logger: Logger
    private let breakers = Mutex<[String: CircuitBreaker]>([:])

    public init(redis: RedisPool, namespace: String = "jobkit", nodeID: String, publishInterval: Duration = .seconds(5), logger: Logger) {
        self.redis = redis
        self.namespace = namespace
        self.nodeID = nodeID
        self.publishInterval = publishInterval
        self.logger = logger
    }

    /// The breaker of `service`, made with `policy` on first use (later calls get the same breaker).
    public func breaker(_ service: String, policy: CircuitBreaker.Policy) async -> CircuitBreaker {
        if let existing = breakers.withLock({ $0[service] }) { return existing }
        let made = try! CircuitBreaker(service: service, policy: policy, logger: logger)
        let (breaker, isNew) = breakers.withLock { all -> (CircuitBreaker, Bool) in
            if let existing = all[service] { return (existing, false) }
            all[service] = made
            return (made, true)
        }
        if isNew {
            let gauge = Gauge(label: "jobkit_breaker_state", dimensions: [("service", service)])
            gauge.record(0)
            await breaker.setOnTransition { [weak self] snapshot in
                gauge.record(Self.stateValue(snapshot.state))
                Counter(label: "jobkit_breaker_transitions_total", dimensions: [("service", service), ("to", snapshot.state.rawValue)])
                    .increment()
                guard let self else { return }
                Task { try? await self.publish([snapshot]) }
            }
        }
        return breaker
    }

    /// Every breaker's snapshot on this node.
    public func snapshots() async -> [CircuitBreaker.Snapshot] {
        var out: [CircuitBreaker.Snapshot] = []
        for b in breakers.withLock({ Array($0.values) }) { out.append(await b.snapshot()) }
        return out.sorted { $0.service < $1.service }
    }

    /// Publishes every breaker now.
    public func publishAll() async throws { try await publish(await snapshots()) }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do { try await self.publishAll() } catch { self.logger.debug("breaker publication failed", metadata: ["error": "\(error)"]) }
                try? await Task.sleep(for: self.publishInterval)
            }
        }
    }

    private func publish(_ snapshots: [CircuitBreaker.Snapshot]) async throws {
        guard !snapshots.isEmpty else { return }
        let encoder = JSONEncoder()
        var args: [any RESPArgument] = [Int(publishInterval.components.seconds * 3000 + 1000), nodeID]
        for s in snapshots {
            args.append(s.service)
            args.append(String(decoding: try encoder.encode(s), as: UTF8.self))
        }
        _ = try await redis.run(BreakerScripts.publish, keys: [Self.prefix(namespace)], arguments: args)
    }

    static func prefix(_ namespace: String) -> String { "\(namespace):{breakers}:" }
    static func stateValue(_ state: CircuitBreaker.State) -> Double {
        switch state {
        case .closed: 0
        case .halfOpen: 1
        case .open: 2
        }
    }

    /// One node's breaker as published.
    public struct Published: Sendable, Equatable {
        public var node: String
        public var snapshot: CircuitBreaker.Snapshot
    }

    /// Every live node's published breakers (nodes that published within three intervals).
    public static func read(redis: RedisPool, namespace: String = "jobkit") async throws -> [Published] {
        let reply = try await redis.run(BreakerScripts.read, keys: [prefix(namespace)], arguments: [])
        var out: [Published] = []
        let decoder = JSONDecoder()
        for entry in reply.array ?? [] {
            guard let pair = entry.array, pair.count == 2, let node = pair[0].string else { continue }
            let fields = pair[1].array ?? []
            for i in stride(from: 1, to: fields.count, by: 2) {
                if let text = fields[i].string, let s = try? decoder.decode(CircuitBreaker.Snapshot.self, from: Data(text.utf8)) {
                    out.append(Published(node: node, snapshot: s))
                }
            }
        }
        return out.sorted { ($0.snapshot.service, $0.node) < ($1.snapshot.service, $1.node) }
    }
}

/// KEYS[1] = `<ns>:{breakers}:`.
enum BreakerScripts {
    /// ARGV: ttl ms, node, (service, json)…
    static let publish = RedisScript(
        """
        local P = KEYS[1]
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local key = P .. 'node:' .. ARGV[2]
        for i = 3, #ARGV, 2 do redis.call('HSET', key, ARGV[i], ARGV[i + 1]) end
        redis.call('PEXPIRE', key, tonumber(ARGV[1]))
        redis.call('ZADD', P .. 'index', now, ARGV[2])
        redis.call('ZREMRANGEBYSCORE', P .. 'index', '-inf', now - 86400000)
        return 1
        """)
    /// Reply: `[(node, [service, json, …]), …]` for nodes whose record still exists.
    static let read = RedisScript(
        """
        local P = KEYS[1]
        local out = {}
        for _, node in ipairs(redis.call('ZRANGE', P .. 'index', 0, -1)) do
          local fields = redis.call('HGETALL', P .. 'node:' .. node)
          if #fields > 0 then out[#out + 1] = {node, fields} end
        end
        return out
        """)
}

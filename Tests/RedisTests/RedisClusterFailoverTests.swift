import Foundation
import JobKitTestSupport
import NIOCore
import Testing

@testable import JobKit

/// The cluster client against private clusters with replicas: reads from replicas, a primary's crash and its
/// replica's promotion, and the periodic re-read of the slot map. Each test starts and stops its own cluster.
@Suite("Redis Cluster replicas and failover", .serialized)
struct RedisClusterFailoverTests {
    static func client(_ cluster: RedisClusterProcess, query: String = "", refreshInterval: Duration = .seconds(30)) throws -> RedisClusterClient {
        let url = cluster.url + query
        return RedisClusterClient(
            seeds: cluster.seedNodes,
            configuration: try RedisConfiguration(url: url, logger: TestEnvironment.logger), refreshInterval: refreshInterval)
    }

    /// A plain connection to one node (for its `INFO` and `CONFIG`).
    static func direct(_ node: ClusterTopology.Node) throws -> RedisPool {
        RedisPool(configuration: try RedisConfiguration(url: "redis://\(node.host):\(node.port)", logger: TestEnvironment.logger), size: 1)
    }

    /// `calls` of `cmdstat_<command>` in the node's `INFO commandstats`.
    static func calls(_ command: String, on pool: RedisPool) async throws -> Int {
        let info = try await pool.send(RedisCommand("INFO", "commandstats")).string ?? ""
        guard let line = info.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("cmdstat_\(command):") }),
            let calls = line.split(separator: ":")[1].split(separator: ",").first(where: { $0.hasPrefix("calls=") })
        else { return 0 }
        return Int(calls.dropFirst("calls=".count)) ?? 0
    }

    @Test(
        "replica reads: off by default; with read_from_replicas=true marked reads go to the replicas, unmarked reads and writes to the primaries; a dead replica's reads fall back to its primary",
        .timeLimit(.minutes(2)))
    func replicaReads() async throws {
        #expect(RedisCommand("GET", "k").allowingReplica().isReplicaReadable)
        #expect(!RedisCommand("GET", "k").isReplicaReadable, "reads are not marked by default")
        #expect(!RedisCommand("SET", "k", "v").allowingReplica().isReplicaReadable, "a marked write still goes to the primary")
        #expect(throws: RedisError.self) { try RedisURL("redis://h:1?read_from_replicas=true") }
        #expect(throws: RedisError.self) { try RedisURL("redis+cluster://h:1?read_from_replicas=maybe") }
        #expect(try RedisURL("redis+cluster://h:1,h:2?read_from_replicas=true").description == "redis+cluster://h:1,h:2?read_from_replicas=true")

        let cluster = try await RedisClusterProcess(primaries: 3, replicas: 1)
        defer { cluster.stop() }
        let plain = try Self.client(cluster)
        let reading = try Self.client(cluster, query: "?read_from_replicas=true")
        #expect(!plain.readFromReplicas && reading.readFromReplicas)
        let topology = try await cluster.waitForReplicas(reading)
        #expect(topology.primaries.count == 3)
        let replicas = topology.primaries.flatMap { topology.replicas(of: $0) }
        #expect(Set(replicas).count == 3 && Set(replicas).isDisjoint(with: topology.primaries))
        // CLUSTER SLOTS names the same replicas as CLUSTER SHARDS (once the node asked has heard of them all: the
        // nodes learn of each other by gossip).
        try await waitUntil("CLUSTER SLOTS names the same replicas") {
            let slots = try await reading.pool(topology.primaries[0]).send(RedisCommand("CLUSTER", "SLOTS"))
            return ClusterTopology.parse(slots: slots)?.replicas == topology.replicas
        }

        let keys = (0..<60).map { "r\($0)" }
        _ = try await plain.pipeline(keys.map { RedisCommand("SET", $0, "v-\($0)") })
        // Replication is asynchronous: wait until the replicas answer every key (these reads go to them).
        try await waitUntil("the replicas hold every key") {
            try await reading.pipeline(keys.map { RedisCommand("GET", $0).allowingReplica() }).map(\.string) == keys.map { "v-\($0)" }
        }

        let nodes = topology.primaries + replicas
        var direct: [ClusterTopology.Node: RedisPool] = [:]
        for node in nodes { direct[node] = try Self.direct(node) }
        for node in nodes { _ = try await direct[node]!.send(RedisCommand("CONFIG", "RESETSTAT")) }
        // Marked reads, one by one and in a pipeline, through the client that reads from replicas.
        for key in keys { #expect(try await reading.send(RedisCommand("GET", key).allowingReplica()).string == "v-\(key)") }
        #expect(try await reading.pipeline(keys.map { RedisCommand("HLEN", $0 + ":none").allowingReplica() }).map(\.int) == keys.map { _ in 0 })
        // Unmarked reads through it, and marked reads through the default client: primaries.
        #expect(try await reading.pipeline(keys.map { RedisCommand("GET", $0) }).map(\.string) == keys.map { "v-\($0)" })
        #expect(try await plain.pipeline(keys.map { RedisCommand("HLEN", $0 + ":none").allowingReplica() }).map(\.int) == keys.map { _ in 0 })
        #expect(try await reading.send(RedisCommand("SET", "r0", "w").allowingReplica()).string == "OK")

        var perReplica: [Int] = []
        for replica in replicas {
            perReplica.append(try await Self.calls("get", on: direct[replica]!) + Self.calls("hlen", on: direct[replica]!))
        }
        var primaryGets = 0
        var primaryHlens = 0
        for primary in topology.primaries {
            primaryGets += try await Self.calls("get", on: direct[primary]!)
            primaryHlens += try await Self.calls("hlen", on: direct[primary]!)
        }
        #expect(perReplica.reduce(0, +) == 120, "the 120 marked reads were answered by replicas: \(perReplica)")
        #expect(perReplica.allSatisfy { $0 > 0 }, "every shard's replica served some: \(perReplica)")
        #expect(primaryGets == 60 && primaryHlens == 60, "unmarked reads and the default client's went to primaries")
        #expect(try await plain.send(RedisCommand("GET", "r0")).string == "w", "the marked write reached the primary")

        // A replica dies: reads of its primary's keys fall back to the primary.
        let dead = replicas[0]
        await cluster.kill(port: dead.port)
        let owner = try #require(topology.primaries.first { topology.replicas(of: $0).contains(dead) })
        let ownKeys = keys.dropFirst().filter { topology.primary(for: HashSlot.of($0)) == owner }
        #expect(!ownKeys.isEmpty)
        for key in ownKeys { #expect(try await reading.send(RedisCommand("GET", key).allowingReplica()).string == "v-\(key)") }
        #expect(try await reading.pipeline(ownKeys.map { RedisCommand("GET", $0).allowingReplica() }).map(\.string) == ownKeys.map { "v-\($0)" })

        for pool in direct.values { await pool.close() }
        await plain.close()
        await reading.close()
    }

    @Test(
        "a primary killed: its replica is promoted, commands to its slots resume and find every acknowledged write, and a subscriber that was on it resubscribes through another node",
        .timeLimit(.minutes(2)))
    func primaryFailover() async throws {
        let cluster = try await RedisClusterProcess(primaries: 3, replicas: 1)
        defer { cluster.stop() }
        let client = try Self.client(cluster)
        let topology = try await cluster.waitForReplicas(client)
        let victim = topology.primaries[0]
        let heir = try #require(topology.replicas(of: victim).first)

        // Keys on every shard; the victim's are acknowledged by its replica (WAIT on the connection that wrote them).
        let keys = (0..<90).map { "f\($0)" }
        _ = try await client.pipeline(keys.map { RedisCommand("SET", $0, "v-\($0)") })
        let victimKeys = keys.filter { topology.primary(for: HashSlot.of($0)) == victim }
        #expect(victimKeys.count > 10)
        let writer = try client.pool(victim).pick()
        let acked = try await writer.pipeline(victimKeys.map { RedisCommand("SET", $0, "acked-\($0)") } + [RedisCommand("WAIT", 1, 5000)])
        #expect(acked.last?.int == 1, "the replica acknowledged the writes")

        // A subscriber whose first seed is the victim.
        let others = cluster.nodes.filter { $0 != victim.description }
        let subscriberURL = "redis+cluster://" + ([victim.description] + others).joined(separator: ",")
        var subscriberConfig = try RedisConfiguration(url: subscriberURL, logger: TestEnvironment.logger)
        subscriberConfig.maximumReconnectDelay = .milliseconds(200)
        let subscriber = RedisSubscriber(configuration: subscriberConfig)
        try await subscriber.subscribe(["failover-test"])
        let running = Task { await subscriber.run() }
        var events = subscriber.events.makeAsyncIterator()
        guard case .subscribed = await events.next() else { Issue.record("no subscription"); return }
        let clients = try await client.pool(victim).send(RedisCommand("CLIENT", "LIST")).string ?? ""
        #expect(clients.contains("cmd=subscribe") || clients.contains("cmd=ping"), "the subscriber is on the victim")

        let killedAt = ContinuousClock.now
        await cluster.kill(port: victim.port)
        // When the cluster itself promoted the heir (its ROLE, asked directly every 20 ms): the rest is the client's.
        let heirPool = try Self.direct(heir)
        let promotion = Task { () -> Duration? in
            while ContinuousClock.now - killedAt < .seconds(40) {
                if let role = try? await heirPool.send(RedisCommand("ROLE")), role.array?.first?.string == "master" {
                    return ContinuousClock.now - killedAt
                }
                try? await Task.sleep(for: .milliseconds(20))
            }
            return nil
        }
        // The engine retries failed commands; so does this loop, until the slot's new primary answers.
        let probe = victimKeys[0]
        var failures = 0
        while true {
            do {
                _ = try await client.send(RedisCommand("SET", "{\(probe)}:after", "1"))
                break
            } catch {
                failures += 1
                try #require(ContinuousClock.now - killedAt < .seconds(40), "the slot never got a new primary: \(error)")
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        let recovered = ContinuousClock.now - killedAt
        let promoted = await promotion.value
        await heirPool.close()
        print(
            "cluster failover: the heir was primary \(promoted.map { "\($0)" } ?? "-") after the kill; writes to its slots resumed after \(recovered) (\(failures) failed tries)"
        )
        #expect(failures > 0, "the victim's slots really were unavailable for a while")
        #expect(client.topology?.primary(for: HashSlot.of(probe)) == heir, "the map names the promoted replica")
        #expect(client.topology?.primaries.contains(victim) == false)
        // Every acknowledged write survived; the other shards' keys too.
        let values = try await client.pipeline(keys.map { RedisCommand("GET", $0) })
        for (key, value) in zip(keys, values) {
            #expect(value.string == (victimKeys.contains(key) ? "acked-\(key)" : "v-\(key)"), "\(key)")
        }

        // The subscriber lost its node, reconnected elsewhere and subscribed again; a message published now reaches it.
        var sawDisconnect = false
        var resubscribed = false
        while !resubscribed, let event = await events.next() {
            if event == .disconnected { sawDisconnect = true }
            if case .subscribed = event, sawDisconnect { resubscribed = true }
        }
        #expect(sawDisconnect && resubscribed)
        // Cluster PUBLISH reaches every node over the bus; publish until the message arrives (the bus is asynchronous).
        let publisher = Task {
            for n in 0..<100 {
                _ = try? await client.send(RedisCommand("PUBLISH", "failover-test", "m\(n)"))
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        var received: String?
        while received == nil, let event = await events.next() {
            if case .message(let channel, let payload, _) = event, channel == "failover-test" { received = String(buffer: payload) }
        }
        publisher.cancel()
        #expect(received?.hasPrefix("m") == true, "a message published after the failover arrived")
        running.cancel()
        await client.close()
    }

    @Test("the slot map is re-read periodically: a slot reassigned with no command sent to it is seen by a client with a short refresh interval, not by one with the default")
    func periodicRefresh() async throws {
        let cluster = try await RedisClusterProcess()
        defer { cluster.stop() }
        let fast = try Self.client(cluster, refreshInterval: .milliseconds(100))
        let slow = try Self.client(cluster)
        let topology = try await fast.refreshTopology()
        #expect(try await slow.refreshTopology() == topology)
        let slot = HashSlot.of("{periodic}")
        let source = try #require(topology.primary(for: slot))
        let target = try #require(topology.primaries.first { $0 != source })
        let targetID = try await cluster.cli(target.port, ["cluster", "myid"])
        // The slot holds no keys: it moves by SETSLOT … NODE alone (target, source, then the others).
        for port in [target.port, source.port] + cluster.ports.filter({ $0 != target.port && $0 != source.port }) {
            #expect(try await cluster.cli(port, ["cluster", "setslot", "\(slot)", "node", targetID]) == "OK")
        }
        // Both clients keep sending commands, none to the moved slot.
        try await waitUntil("the fast client's map names the new owner") {
            _ = try await fast.send(RedisCommand("PING"))
            _ = try await slow.send(RedisCommand("PING"))
            return fast.topology?.primary(for: slot) == target
        }
        #expect(slow.topology?.primary(for: slot) == source, "without errors, the default client's map is still the old one")
        await fast.close()
        await slow.close()
    }
}

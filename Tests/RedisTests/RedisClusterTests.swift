import Foundation
import JobKitTestSupport
import NIOCore
import Testing

@testable import JobKit

/// The cluster client against a real 3-primary Redis Cluster that each test starts and stops (by PID).
@Suite("Redis Cluster client", .serialized)
struct RedisClusterTests {
    static func client(_ cluster: RedisClusterProcess) throws -> RedisClusterClient {
        RedisClusterClient(
            seeds: [ClusterTopology.Node(host: "127.0.0.1", port: cluster.ports[0])],
            configuration: try RedisConfiguration(url: "redis://127.0.0.1:\(cluster.ports[0])", logger: TestEnvironment.logger))
    }

    @Test("CLUSTER SHARDS as RESP3 maps: a failed master is never chosen, the advertised endpoint and the TLS port are used; command keys")
    func shardsParsingAndCommandKeys() throws {
        func node(_ fields: [(String, RESPValue)]) -> RESPValue { .map(fields.map { RESPPair(.bulk($0.0), $0.1) }) }
        let shard = RESPValue.map([
            RESPPair(.bulk("slots"), .array([.integer(0), .integer(99), .integer(200), .integer(16383)])),
            RESPPair(
                .bulk("nodes"),
                .array([
                    node([("ip", .bulk("10.0.0.1")), ("port", .integer(7000)), ("role", .bulk("master")), ("health", .bulk("failed"))]),
                    node([("ip", .bulk("10.0.0.2")), ("endpoint", .bulk("?")), ("port", .integer(7001)), ("tls-port", .integer(8001)),
                          ("role", .bulk("master")), ("health", .bulk("online"))]),
                    node([("ip", .bulk("10.0.0.3")), ("port", .integer(7002)), ("role", .bulk("replica")), ("health", .bulk("online"))]),
                ])),
        ])
        let plain = try #require(ClusterTopology.parse(shards: .array([shard])))
        #expect(plain.primary(for: 0) == ClusterTopology.Node(host: "10.0.0.2", port: 7001))
        #expect(plain.primary(for: 100) == nil && !plain.isComplete)
        #expect(plain.primary(for: 16383) == ClusterTopology.Node(host: "10.0.0.2", port: 7001))
        #expect(try #require(ClusterTopology.parse(shards: .array([shard]), tls: true)).primary(for: 5)?.port == 8001)
        // A lone node that never met another knows no address of its own: it is where the reply came from.
        let lone = node([("ip", .bulk("")), ("endpoint", .bulk("")), ("port", .integer(7000)), ("role", .bulk("master")), ("health", .bulk("online"))])
        let loneShard = RESPValue.array([.bulk("slots"), .array([.integer(0), .integer(16383)]), .bulk("nodes"), .array([lone])])
        #expect(ClusterTopology.parse(shards: .array([loneShard]), askedHost: "10.1.2.3")?.primary(for: 9) == ClusterTopology.Node(host: "10.1.2.3", port: 7000))
        // Keys: the first argument, EVALSHA's first key, XREAD's first stream; none for node-wide commands.
        #expect(RedisCommand("GET", "{q}:a").clusterSlot == HashSlot.of("q"))
        #expect(RedisCommand("EVALSHA", "abc", 2, "{q}:ready", "{q}:x").clusterSlot == HashSlot.of("q"))
        #expect(RedisCommand("EVALSHA", "abc", 0).clusterSlot == nil)
        #expect(RedisCommand("XREAD", "COUNT", 10, "BLOCK", 0, "STREAMS", "{q}:events", "$").clusterSlot == HashSlot.of("q"))
        #expect(RedisCommand("SCAN", "0", "MATCH", "x*").clusterSlot == nil)
        #expect(RESPValue.error(ByteBuffer(string: "MOVED 3999 127.0.0.1:6381")).clusterRedirect == .moved(slot: 3999, to: .init(host: "127.0.0.1", port: 6381)))
        #expect(RESPValue.error(ByteBuffer(string: "ASK 12 h:1")).clusterRedirect == .ask(slot: 12, to: .init(host: "h", port: 1)))
        #expect(RESPValue.error(ByteBuffer(string: "MOVED 99999 h:1")).clusterRedirect == nil)
    }

    @Test("HashSlot agrees with CLUSTER KEYSLOT on 2,000 random keys, hash tags included")
    func slotsMatchTheServer() async throws {
        let cluster = try await RedisClusterProcess()
        defer { cluster.stop() }
        let pool = RedisPool(configuration: try RedisConfiguration(url: "redis://127.0.0.1:\(cluster.ports[0])", logger: TestEnvironment.logger), size: 1)
        var rng = SplitMix64(seed: 7)
        let alphabet = Array("ab{}c:1%é")
        var keys = ["", "{}", "{}x", "a{}b", "{a}", "x{a}y", "{a}{b}", "{{a}}", "}{a}", "jobkit:{default}:ready", "{user1000}.following"]
        for _ in 0..<2000 {
            let n = Int(rng.next() % 12)
            keys.append(String((0..<n).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }))
        }
        let replies = try await pool.pipeline(keys.map { RedisCommand("CLUSTER", "KEYSLOT", $0) })
        for (key, reply) in zip(keys, replies) {
            #expect(HashSlot.of(key) == reply.int, "\(key)")
        }
        await pool.close()
    }

    @Test("the slot map from CLUSTER SHARDS equals CLUSTER SLOTS's; keys, pipelines and scripts go to their slot's primary")
    func routes() async throws {
        let cluster = try await RedisClusterProcess()
        defer { cluster.stop() }
        let client = try Self.client(cluster)
        let topology = try await client.refreshTopology()
        #expect(topology.isComplete)
        #expect(topology.primaries.count == 3)
        let seedPool = try client.pool(ClusterTopology.Node(host: "127.0.0.1", port: cluster.ports[0]))
        #expect(ClusterTopology.parse(slots: try await seedPool.send(RedisCommand("CLUSTER", "SLOTS"))) == topology)

        // 300 keys over every primary, one command each, then all read back in one pipeline, in order.
        let keys = (0..<300).map { "k\($0)" }
        for key in keys { _ = try await client.send(RedisCommand("SET", key, "v-\(key)")) }
        let values = try await client.pipeline(keys.map { RedisCommand("GET", $0) })
        #expect(values.map(\.string) == keys.map { "v-\($0)" })
        // Each key really lives on its slot's primary.
        var perNode: [ClusterTopology.Node: Int] = [:]
        for key in keys {
            let node = try #require(topology.primary(for: HashSlot.of(key)))
            #expect(try await client.pool(node).send(RedisCommand("GET", key)).string == "v-\(key)")
            perNode[node, default: 0] += 1
        }
        #expect(perNode.count == 3 && perNode.values.allSatisfy { $0 > 50 }, "\(perNode)")
        // A script loaded on demand (NOSCRIPT → SCRIPT LOAD on every primary) runs on each key's primary.
        let script = RedisScript("return redis.call('GET', KEYS[1])")
        for key in keys.prefix(30) {
            #expect(try await client.run(script, keys: [key]).string == "v-\(key)")
        }
        // The load reached every primary, not only the first key's.
        for node in topology.primaries {
            #expect(try await client.pool(node).send(RedisCommand("SCRIPT", "EXISTS", script.sha1)) == .array([.integer(1)]), "\(node)")
        }
        let calls = try await client.run(keys.prefix(30).map { RedisScriptCall(script, keys: [$0], arguments: []) })
        #expect(calls.map(\.string) == keys.prefix(30).map { "v-\($0)" })
        await client.close()
    }

    @Test("a slot moved to another primary: MOVED updates the map and the command follows; ASK during a migration")
    func redirects() async throws {
        let cluster = try await RedisClusterProcess()
        defer { cluster.stop() }
        let client = try Self.client(cluster)
        let topology = try await client.refreshTopology()
        let key = "{moving}:k"
        let slot = HashSlot.of(key)
        let source = try #require(topology.primary(for: slot))
        let target = try #require(topology.primaries.first { $0 != source })
        _ = try await client.send(RedisCommand("SET", key, "here"))
        _ = try await client.send(RedisCommand("SET", "{moving}:other", "there"))
        let id = { (node: ClusterTopology.Node) in try await cluster.cli(node.port, ["cluster", "myid"]) }
        let sourceID = try await id(source)
        let targetID = try await id(target)

        // Half-way: the slot is migrating, one key has moved. A read of it is answered ASK, then found on the target.
        #expect(try await cluster.cli(target.port, ["cluster", "setslot", "\(slot)", "importing", sourceID]) == "OK")
        #expect(try await cluster.cli(source.port, ["cluster", "setslot", "\(slot)", "migrating", targetID]) == "OK")
        #expect(try await cluster.cli(source.port, ["migrate", target.host, "\(target.port)", "", "0", "5000", "keys", key]) == "OK")
        #expect(try await client.send(RedisCommand("GET", key)).string == "here")
        #expect(try await client.pipeline([RedisCommand("GET", key), RedisCommand("GET", "{moving}:other")]).map(\.string) == ["here", "there"])
        #expect(client.topology?.primary(for: slot) == source, "ASK does not change the map")

        // Done: the rest moves and every primary learns the new owner. The client's map is stale: MOVED corrects it.
        #expect(try await cluster.cli(source.port, ["migrate", target.host, "\(target.port)", "", "0", "5000", "keys", "{moving}:other"]) == "OK")
        // The target first, then the source, then the others (the order Redis documents).
        for port in [target.port, source.port] + cluster.ports.filter({ $0 != target.port && $0 != source.port }) {
            #expect(try await cluster.cli(port, ["cluster", "setslot", "\(slot)", "node", targetID]) == "OK")
        }
        #expect(try await client.send(RedisCommand("GET", "{moving}:other")).string == "there")
        #expect(client.topology?.primary(for: slot) == target, "MOVED updated the map")
        #expect(try await client.pipeline([RedisCommand("GET", key)]).map(\.string) == ["here"])
        await client.close()
    }

    @Test(
        "a pool from a redis+cluster:// URL routes by slot; a blocking pop over three primaries returns the first push and unblocks the other waits",
        .timeLimit(.minutes(1)))
    func poolAndBlockingPop() async throws {
        let cluster = try await RedisClusterProcess()
        defer { cluster.stop() }
        let url = cluster.url
        let pool = RedisPool(configuration: try RedisConfiguration(url: url, logger: TestEnvironment.logger), size: 1)
        #expect(pool.isCluster)
        try await pool.warmUp()
        let topology = try #require(pool.cluster?.topology)
        // One list per primary (hash tags chosen until each primary has one).
        var lists: [ClusterTopology.Node: String] = [:]
        var n = 0
        while lists.count < 3 {
            let key = "{q\(n)}:wake"
            let node = try #require(topology.primary(for: HashSlot.of(key)))
            if lists[node] == nil { lists[node] = key }
            n += 1
        }
        let keys = Array(lists.values)
        // Plain commands and a multi-slot pipeline go through the pool as on one server.
        _ = try await pool.pipeline(keys.map { RedisCommand("SET", "\($0):probe", "x") })
        #expect(try await pool.deleteKeys(matching: "{q*}:wake:probe") == 3, "SCAN reaches every primary")

        let blocking = pool.makeBlockingClient(name: "pop-test")
        func blockedWaits() async throws -> Int {
            var blocked = 0
            for server in try await pool.keyServers() {
                let list = try await server.send(RedisCommand("CLIENT", "LIST")).string ?? ""
                blocked += list.split(separator: "\n").filter { $0.contains("name=pop-test") && $0.contains("cmd=blpop") && $0.contains("flags=b") }.count
            }
            return blocked
        }
        // The pop waits up to two minutes: it returns within the test's time limit only if the push ends it and the
        // two other waits are ended too.
        async let popped = blocking.pop(from: keys, waitMilliseconds: 120_000)
        try await waitUntil("a BLPOP blocked on each primary") { try await blockedWaits() == 3 }
        _ = try await pool.send(RedisCommand("LPUSH", keys[1], "1"))
        #expect(try await popped == [keys[1]])
        #expect(try await blockedWaits() == 0, "the other primaries' waits were unblocked")
        #expect(try await pool.send(RedisCommand("LLEN", keys[1])).int == 0)
        // A single-slot wait times out with nothing popped.
        #expect(try await blocking.pop(from: [keys[0]], waitMilliseconds: 50) == [])
        await blocking.close()
        await pool.close()
    }
}

import JobKit
import JobKitTestSupport
import Synchronization
import Testing

@Suite("Tenant cache", .serialized)
struct TenantCacheTests {
    @Test("values round-trip with a TTL always; tenants never collide, even with hostile keys; invalidate drops one tenant's keys")
    func isolation() async throws {
        try await withTestNamespace { ns in
            let pool = RedisPool(configuration: try TestEnvironment.redisConfiguration(), size: 1)
            let cache = TenantCache(redis: pool, namespace: ns)
            await cache.set(tenant: "a:b", key: "c", value: "A")
            await cache.set(tenant: "a", key: "b:c", value: "B")
            await cache.set(tenant: "a", key: "x}{y", value: ["n": 1])
            #expect(await cache.get(String.self, tenant: "a:b", key: "c") == "A")
            #expect(await cache.get(String.self, tenant: "a", key: "b:c") == "B")
            #expect(await cache.get([String: Int].self, tenant: "a", key: "x}{y") == ["n": 1])
            #expect(await cache.get(String.self, tenant: "a", key: "c") == nil)
            #expect(await cache.get(String.self, tenant: "a:b", key: "b:c") == nil)
            // Every stored key has a TTL, also without one given (the default applies).
            var keys: [String] = []
            for server in try await pool.keyServers() {  // every primary on a cluster
                keys += try await server.send(RedisCommand("KEYS", "\(ns):*")).array?.compactMap(\.string) ?? []
            }
            #expect(!keys.isEmpty)
            for key in keys where !key.hasSuffix(":gen") {
                let ttl = try await pool.send(RedisCommand("PTTL", key)).int ?? -1
                #expect(ttl > 0, "\(key) has no TTL")
            }
            await cache.invalidate(tenant: "a")
            #expect(await cache.get(String.self, tenant: "a", key: "b:c") == nil)
            #expect(await cache.get(String.self, tenant: "a:b", key: "c") == "A")
            await cache.set(tenant: "a", key: "b:c", value: "B2")
            #expect(await cache.get(String.self, tenant: "a", key: "b:c") == "B2")
            await cache.delete(tenant: "a", key: "b:c")
            #expect(await cache.get(String.self, tenant: "a", key: "b:c") == nil)
            // A value over the size limit is not stored.
            var small = cache
            small.maxValueBytes = 16
            await small.set(tenant: "a", key: "big", value: String(repeating: "x", count: 100))
            #expect(await cache.get(String.self, tenant: "a", key: "big") == nil)
            let counts = cache.counts
            #expect(counts.hits >= 4 && counts.misses >= 3)
            await pool.close()
        }
    }

    @Test("getOrCompute: 24 callers on 4 connections, one computes; with allowStale a waiter answers the stale copy at once")
    func stampede() async throws {
        try await withTestNamespace { ns in
            var pools: [RedisPool] = []
            for _ in 0..<4 { pools.append(RedisPool(configuration: try TestEnvironment.redisConfiguration(), size: 1)) }
            let computed = Locked(0)
            let caches = pools.map { TenantCache(redis: $0, namespace: ns) }
            let values = try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<24 {
                    let cache = caches[i % 4]
                    group.addTask {
                        try await cache.getOrCompute(tenant: "t1", key: "report") {
                            computed.withLock { $0 += 1 }
                            try await Task.sleep(for: .milliseconds(200))
                            return 42
                        }
                    }
                }
                var all: [Int] = []
                for try await v in group { all.append(v) }
                return all
            }
            #expect(values == Array(repeating: 42, count: 24))
            #expect(computed.withLock { $0 } == 1)

            // Stale: the value expires, one caller recomputes slowly, another takes the stale copy at once.
            let cache = caches[0]
            await cache.set(tenant: "t1", key: "s", value: 1, ttl: .milliseconds(30))
            try await waitUntil { await cache.get(Int.self, tenant: "t1", key: "s") == nil }
            let started = Locked(false)
            let slow = Task {
                try await cache.getOrCompute(tenant: "t1", key: "s") {
                    started.withLock { $0 = true }
                    try await Task.sleep(for: .milliseconds(500))
                    return 2
                }
            }
            try await waitUntil { started.withLock { $0 } }
            let clock = ContinuousClock()
            let t0 = clock.now
            let stale = try await caches[1].getOrCompute(tenant: "t1", key: "s", allowStale: true) { 3 }
            #expect(stale == 1)
            #expect(clock.now - t0 < .milliseconds(400))
            #expect(try await slow.value == 2)
            #expect(await cache.get(Int.self, tenant: "t1", key: "s") == 2)
            for pool in pools { await pool.close() }
        }
    }

    @Test("fails open: with Redis stopped, reads miss, writes are skipped, getOrCompute computes; nothing throws")
    func failOpen() async throws {
        try await RedisServerProcess.with { server in
            var config = try RedisConfiguration(url: server.url, logger: TestEnvironment.logger)
            config.commandTimeout = .milliseconds(200)
            config.connectTimeout = .milliseconds(200)
            let pool = RedisPool(configuration: config, size: 1)
            let cache = TenantCache(redis: pool, namespace: "fo")
            await cache.set(tenant: "t", key: "k", value: 1)
            #expect(await cache.get(Int.self, tenant: "t", key: "k") == 1)
            await server.stop()
            #expect(await cache.get(Int.self, tenant: "t", key: "k") == nil)
            await cache.set(tenant: "t", key: "k", value: 2)
            #expect(try await cache.getOrCompute(tenant: "t", key: "k") { 7 } == 7)
            #expect(cache.counts.errors >= 2)
            await pool.close()
        }
    }
}

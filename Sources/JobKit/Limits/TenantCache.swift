import CoreMetrics
import Foundation
import Synchronization

/// A cache whose keys belong to a tenant: two tenants' keys can never meet, whatever the key strings hold, and
/// ``invalidate(tenant:)`` drops every key of a tenant in O(1) (a per-tenant generation: keys of older
/// generations are never read again and expire by their TTL), without `KEYS` or `SCAN`.
///
/// Every value has a TTL (``defaultTTL`` when none is given) and a size limit. Redis used as a cache **fails
/// open**: while its circuit breaker is open, or when a call fails, reads miss and writes are skipped — the
/// caller computes the value; nothing throws. ``getOrCompute(tenant:key:ttl:allowStale:compute:)`` lets one
/// caller compute a missing key across all nodes (a short lock), while the others wait briefly for its value,
/// or take the stale copy when allowed.
///
/// Keys: `<ns>:{tc:<tenant>}:gen` (the generation), `…:v:<gen>:<key>` (the value), `…:s:<gen>:<key>` (its stale
/// copy, kept `staleFor` longer), `…:l:<gen>:<key>` (the compute lock), with tenant and key escaped.
public struct TenantCache: Sendable {
    public let redis: RedisPool
    public let namespace: String
    /// Used when a call gives no TTL.
    public var defaultTTL: Duration = .seconds(300)
    /// How long a stale copy outlives its value (for ``getOrCompute(tenant:key:ttl:allowStale:compute:)``).
    public var staleFor: Duration = .seconds(300)
    /// The largest encoded value stored (larger ones are not cached; the caller's value is still returned).
    public var maxValueBytes = 256 * 1024
    /// How long the one computer of a key holds its lock.
    public var computeLock: Duration = .seconds(10)
    /// How long the others wait for its value before computing themselves.
    public var computeWait: Duration = .seconds(2)
    let breaker: CircuitBreaker
    let metrics: CacheMetrics

    public init(redis: RedisPool, namespace: String = "jobkit", breaker: CircuitBreaker? = nil) {
        self.redis = redis
        self.namespace = namespace
        self.breaker = breaker ?? (try! CircuitBreaker(service: "redis-cache", policy: .cache))
        self.metrics = CacheMetrics()
    }

    /// The prefix of every key of `tenant`.
    public func prefix(tenant: String) -> String { "\(namespace):{tc:\(LimitKeys.escape(tenant))}:" }

    /// The value, or nil on a miss (and on any Redis trouble: the cache fails open).
    public func get<Value: Decodable & Sendable>(_ type: Value.Type = Value.self, tenant: String, key: String) async -> Value? {
        let reply = await call(CacheScripts.get, tenant: tenant, arguments: [LimitKeys.escape(key)])
        guard let value = reply?.array?.first?.string, let decoded = decode(Value.self, value) else {
            metrics.count(reply == nil ? .error : .miss)
            return nil
        }
        metrics.count(.hit)
        return decoded
    }

    /// Stores `value` for `ttl` (``defaultTTL`` when nil). Values over ``maxValueBytes`` are not stored.
    public func set<Value: Encodable & Sendable>(tenant: String, key: String, value: Value, ttl: Duration? = nil) async {
        guard let text = encode(value) else { return }
        _ = await call(
            CacheScripts.set, tenant: tenant,
            arguments: [LimitKeys.escape(key), text, Self.ms(ttl ?? defaultTTL), Self.ms(staleFor), ""])
    }

    /// Removes one key (its stale copy too).
    public func delete(tenant: String, key: String) async {
        _ = await call(CacheScripts.delete, tenant: tenant, arguments: [LimitKeys.escape(key)])
    }

    /// Drops every key of `tenant` at once (the generation moves on).
    public func invalidate(tenant: String) async {
        _ = await call(CacheScripts.invalidate, tenant: tenant, arguments: [])
    }

    /// The cached value, or `compute()`'s, stored for `ttl`. Across all nodes one caller computes a missing key
    /// while the others wait up to ``computeWait`` for its value; with `allowStale`, they answer the stale
    /// copy at once instead (when there is one). With Redis unavailable, `compute()` runs and nothing is stored.
    public func getOrCompute<Value: Codable & Sendable>(
        tenant: String, key: String, ttl: Duration? = nil, allowStale: Bool = false,
        compute: @Sendable () async throws -> Value
    ) async throws -> Value {
        let escaped = LimitKeys.escape(key)
        let token = UUID().uuidString
        guard
            let reply = await call(CacheScripts.fetch, tenant: tenant, arguments: [escaped, token, Self.ms(computeLock)]),
            let parts = reply.array, parts.count == 3
        else {
            metrics.count(.error)
            return try await compute()
        }
        if parts[0].int == 1, let text = parts[1].string, let value = decode(Value.self, text) {
            metrics.count(.hit)
            return value
        }
        let stale = parts[1].string.flatMap { decode(Value.self, $0) }
        if parts[2].int == 1 {
            // This caller holds the lock: compute and store (the store releases the lock).
            metrics.count(.miss)
            let value = try await compute()
            if let text = encode(value) {
                _ = await call(
                    CacheScripts.set, tenant: tenant,
                    arguments: [escaped, text, Self.ms(ttl ?? defaultTTL), Self.ms(staleFor), token])
            }
            return value
        }
        if allowStale, let stale {
            metrics.count(.stale)
            return stale
        }
        // Another caller computes: wait for its value (bounded), then compute ourselves.
        let deadline = ContinuousClock.now + computeWait
        var pause: Duration = .milliseconds(5)
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(100))
            if let value = await get(Value.self, tenant: tenant, key: key) { return value }
        }
        metrics.count(.miss)
        return try await compute()
    }

    /// Hits, misses, stale answers and errors since this value was made (also in metrics).
    public var counts: CacheMetrics.Counts { metrics.counts }

    // MARK: - Internals

    private func call(_ script: RedisScript, tenant: String, arguments: [any RESPArgument]) async -> RESPValue? {
        let keys = [prefix(tenant: tenant)]
        return await breaker.run({ try await redis.run(script, keys: keys, arguments: arguments) }, fallback: { nil })
    }

    private func encode<Value: Encodable>(_ value: Value) -> String? {
        guard let data = try? JSONEncoder().encode(value), data.count <= maxValueBytes else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    private func decode<Value: Decodable>(_ type: Value.Type, _ text: String) -> Value? {
        try? JSONDecoder().decode(Value.self, from: Data(text.utf8))
    }

    /// A TTL for Redis: whole ms, at least 1.
    static func ms(_ d: Duration) -> Int { max(1, Int(d.milliseconds)) }
}

/// The cache's counters (also recorded through swift-metrics as `jobkit_cache_requests_total{result}`).
public final class CacheMetrics: Sendable {
    public struct Counts: Sendable, Equatable {
        public var hits = 0, misses = 0, stale = 0, errors = 0
    }
    enum Result: String { case hit, miss, stale, error }
    private let state = Mutex<Counts>(Counts())
    private let counters: [String: Counter]

    init() {
        var counters: [String: Counter] = [:]
        for r in ["hit", "miss", "stale", "error"] {
            counters[r] = Counter(label: "jobkit_cache_requests_total", dimensions: [("result", r)])
        }
        self.counters = counters
    }

    var counts: Counts { state.withLock { $0 } }

    func count(_ result: Result) {
        counters[result.rawValue]?.increment()
        state.withLock {
            switch result {
            case .hit: $0.hits += 1
            case .miss: $0.misses += 1
            case .stale: $0.stale += 1
            case .error: $0.errors += 1
            }
        }
    }
}

/// The cache's scripts: KEYS[1] = the tenant's prefix; the generation is read inside each call.
enum CacheScripts {
    static let prelude = """
        local P = KEYS[1]
        local gen = redis.call('GET', P .. 'gen') or '0'

        """
    /// ARGV: key. Reply `[value or nil]`.
    static let get = RedisScript(prelude + "return {redis.call('GET', P .. 'v:' .. gen .. ':' .. ARGV[1])}")
    /// ARGV: key, value, ttl ms, stale ms, lock token ('' none). Stores value and stale copy; releases the lock
    /// when the token holds it.
    static let set = RedisScript(
        prelude + """
            local k = ARGV[1]
            redis.call('SET', P .. 'v:' .. gen .. ':' .. k, ARGV[2], 'PX', ARGV[3])
            redis.call('SET', P .. 's:' .. gen .. ':' .. k, ARGV[2], 'PX', tonumber(ARGV[3]) + tonumber(ARGV[4]))
            if ARGV[5] ~= '' and redis.call('GET', P .. 'l:' .. gen .. ':' .. k) == ARGV[5] then
              redis.call('DEL', P .. 'l:' .. gen .. ':' .. k)
            end
            return 1
            """)
    /// ARGV: key.
    static let delete = RedisScript(
        prelude + "return redis.call('DEL', P .. 'v:' .. gen .. ':' .. ARGV[1], P .. 's:' .. gen .. ':' .. ARGV[1])")
    /// Moves the tenant to a new generation (kept 30 days after the last change).
    static let invalidate = RedisScript(
        prelude + "local g = redis.call('INCR', P .. 'gen')\nredis.call('PEXPIRE', P .. 'gen', 2592000000)\nreturn g")
    /// ARGV: key, lock token, lock ms. Reply `[hit (0|1), value or stale copy or nil, lock taken (0|1)]`.
    static let fetch = RedisScript(
        prelude + """
            local k = ARGV[1]
            local v = redis.call('GET', P .. 'v:' .. gen .. ':' .. k)
            if v then return {1, v, 0} end
            local s = redis.call('GET', P .. 's:' .. gen .. ':' .. k)
            local got = redis.call('SET', P .. 'l:' .. gen .. ':' .. k, ARGV[2], 'NX', 'PX', ARGV[3])
            return {0, s or false, got and 1 or 0}
            """)
}

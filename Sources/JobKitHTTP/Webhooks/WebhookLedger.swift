import JobKit

/// Counts webhook deliveries per provider in Redis, so that every node's deliveries show in
/// `GET /webhooks/health`.
///
/// Each provider has one HASH of counters per minute (Redis time), which lives 2 h; the report sums the last
/// 60 minutes. Every update is one script call (`HINCRBY` ×2, `PEXPIRE`, and the last-accepted time), so
/// concurrent nodes never interleave inside one. Keys come from ``WebhookKeys``.
///
/// Provider endpoints (the Stripe and Plaid issues) call ``record(provider:outcome:)`` once per delivery, after
/// verifying it and before answering.
public struct WebhookLedger: Sendable {
    public let redis: RedisPool
    public let keys: WebhookKeys

    /// The providers the report lists (with zero counts until they receive deliveries).
    public static let providers: [WebhookProvider] = [.stripe, .plaid]
    /// How long a minute's counters live.
    static let bucketTTLMilliseconds = 2 * 3_600_000
    /// The report's window.
    static let windowMinutes = 60

    public init(redis: RedisPool, namespace: String = "jobkit") {
        self.redis = redis
        self.keys = WebhookKeys(namespace: namespace)
    }

    /// Counts one delivery of `provider` with `outcome` in the current minute.
    ///
    /// - Throws: `RedisError`.
    public func record(provider: WebhookProvider, outcome: WebhookOutcome) async throws {
        try await record(provider: provider, counts: [outcome: 1])
    }

    /// Counts several deliveries of `provider` in the current minute, in one script call (``WebhookTally``'s
    /// flush). Counts under 1 are skipped.
    ///
    /// - Throws: `RedisError`.
    public func record(provider: WebhookProvider, counts: [WebhookOutcome: Int]) async throws {
        var arguments: [any RESPArgument] = [provider.name, Self.bucketTTLMilliseconds, (counts[.accepted] ?? 0) > 0 ? 1 : 0]
        for outcome in WebhookOutcome.all {
            guard let n = counts[outcome], n > 0 else { continue }
            arguments += [outcome.field, n]
        }
        guard arguments.count > 3 else { return }
        _ = try await redis.run(Self.recordScript, keys: [keys.prefix], arguments: arguments)
    }

    /// The last hour of `provider`'s deliveries.
    ///
    /// - Throws: `RedisError`.
    public func summary(provider: WebhookProvider) async throws -> WebhookSummary {
        let reply = try await redis.run(
            Self.summaryScript, keys: [keys.prefix],
            arguments: [provider.name, Self.windowMinutes] + WebhookOutcome.all.map(\.field))
        let values = (reply.array ?? []).map { $0.int ?? 0 }
        guard values.count == 2 + WebhookOutcome.all.count else {
            throw RedisError(.unexpectedReply, "webhook summary reply has \(values.count) values")
        }
        let lastAccepted = values[0] > 0 ? Int64(values[0]) : nil
        var counts: [WebhookOutcome: Int] = [:]
        for (i, outcome) in WebhookOutcome.all.enumerated() { counts[outcome] = values[2 + i] }
        return WebhookSummary(
            provider: provider.name, received: values[1], counts: counts, lastAcceptedAtMs: lastAccepted,
            windowMinutes: Self.windowMinutes)
    }

    /// KEYS[1] = prefix; ARGV = provider, bucket TTL (ms), 1 if any accepted, then outcome field and count pairs.
    /// Builds `<prefix><provider>:m:<minute>` and `<prefix><provider>:last`, as ``WebhookKeys`` does.
    /// Reply: the minute counted.
    static let recordScript = RedisScript(
        """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local minute = math.floor(now / 60000)
        local bucket = KEYS[1] .. ARGV[1] .. ':m:' .. minute
        local total = 0
        for i = 4, #ARGV, 2 do
          local n = tonumber(ARGV[i + 1])
          redis.call('HINCRBY', bucket, ARGV[i], n)
          total = total + n
        end
        redis.call('HINCRBY', bucket, 'received', total)
        redis.call('PEXPIRE', bucket, ARGV[2])
        if ARGV[3] == '1' then redis.call('SET', KEYS[1] .. ARGV[1] .. ':last', now) end
        return minute
        """)

    /// KEYS[1] = prefix; ARGV = provider, window (minutes), outcome fields…
    /// Reply: {last accepted ms or 0, received, one sum per outcome field in order}.
    static let summaryScript = RedisScript(
        """
        local t = redis.call('TIME')
        local minute = math.floor((tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)) / 60000)
        local window = tonumber(ARGV[2])
        local fields = {'received'}
        for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
        local sums = {}
        for i = 1, #fields do sums[i] = 0 end
        for m = minute - window + 1, minute do
          local v = redis.call('HMGET', KEYS[1] .. ARGV[1] .. ':m:' .. m, unpack(fields))
          for i = 1, #fields do sums[i] = sums[i] + (tonumber(v[i]) or 0) end
        end
        local out = {tonumber(redis.call('GET', KEYS[1] .. ARGV[1] .. ':last')) or 0}
        for i = 1, #fields do out[#out + 1] = sums[i] end
        return out
        """)
}

/// A webhook provider whose deliveries the ledger counts.
public struct WebhookProvider: Sendable, Hashable {
    /// The name in keys and reports: lowercase letters, digits and `-`.
    public let name: String

    /// - Precondition: `name` is 1-32 characters of `a-z`, `0-9` and `-`.
    public init(_ name: String) {
        precondition(
            !name.isEmpty && name.utf8.count <= 32
                && name.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D },
            "webhook provider names are 1-32 characters of a-z 0-9 -")
        self.name = name
    }

    public static let stripe = WebhookProvider("stripe")
    public static let plaid = WebhookProvider("plaid")
}

/// What became of one webhook delivery.
public enum WebhookOutcome: Sendable, Hashable, CaseIterable {
    /// Verified and enqueued.
    case accepted
    /// The signature did not verify.
    case rejectedSignature
    /// The delivery's timestamp is outside the allowed age.
    case rejectedAge
    /// The body could not be parsed.
    case rejectedMalformed
    /// The event was already received (its idempotency key is live).
    case rejectedDuplicate

    static let all: [WebhookOutcome] = [.accepted, .rejectedSignature, .rejectedAge, .rejectedMalformed, .rejectedDuplicate]

    var field: String {
        switch self {
        case .accepted: "accepted"
        case .rejectedSignature: "rejected:signature"
        case .rejectedAge: "rejected:age"
        case .rejectedMalformed: "rejected:malformed"
        case .rejectedDuplicate: "rejected:duplicate"
        }
    }
}

/// One provider's last hour, as `GET /webhooks/health` reports it.
public struct WebhookSummary: Sendable, Encodable {
    public var provider: String
    public var received: Int
    public var accepted: Int
    public var rejected: Rejected
    public var lastAcceptedAtMs: Int64?
    /// `accepted / received` over the window; `null` with no deliveries.
    public var successRate: Double?
    public var windowMinutes: Int

    /// Rejections by reason.
    public struct Rejected: Sendable, Encodable {
        public var signature: Int
        public var age: Int
        public var malformed: Int
        public var duplicate: Int
    }

    init(provider: String, received: Int, counts: [WebhookOutcome: Int], lastAcceptedAtMs: Int64?, windowMinutes: Int) {
        self.provider = provider
        self.received = received
        self.accepted = counts[.accepted] ?? 0
        self.rejected = Rejected(
            signature: counts[.rejectedSignature] ?? 0, age: counts[.rejectedAge] ?? 0,
            malformed: counts[.rejectedMalformed] ?? 0, duplicate: counts[.rejectedDuplicate] ?? 0)
        self.lastAcceptedAtMs = lastAcceptedAtMs
        self.successRate = received > 0 ? Double(accepted) / Double(received) : nil
        self.windowMinutes = windowMinutes
    }

    enum CodingKeys: String, CodingKey {
        case provider, received, accepted, rejected, lastAcceptedAtMs, successRate, windowMinutes
    }

    /// Every key present, `null` when absent.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(provider, forKey: .provider)
        try c.encode(received, forKey: .received)
        try c.encode(accepted, forKey: .accepted)
        try c.encode(rejected, forKey: .rejected)
        try c.encode(lastAcceptedAtMs, forKey: .lastAcceptedAtMs)
        try c.encode(successRate, forKey: .successRate)
        try c.encode(windowMinutes, forKey: .windowMinutes)
    }
}

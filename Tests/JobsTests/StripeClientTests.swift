import AsyncHTTPClient
import Foundation
import JobKit
import JobKitTestSupport
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import Testing
@testable import Jobs

/// The fake Stripe (`scripts/fakes/fake-stripe.py`): Stripe's wire format, `Idempotency-Key` replay as Stripe
/// stores it, injected 429/409/5xx/402 with `Stripe-Should-Retry` and `Retry-After`.
final class FakeStripe: Sendable {
    let process: ChildProcess
    let port: Int
    static let secretKey = "sk_test_fake"

    /// With `upstream` (localstripe's base URL), the fake stands in front of localstripe (see fake-stripe.py).
    init(directory: String, upstream: String? = nil) async throws {
        let script = try TestEnvironment.required("JOBKIT_FAKE_STRIPE", "scripts/fakes/fake-stripe.py (scripts/test exports it)")
        let log = "\(directory)/fake-stripe.log"
        (process, port) = try await LoopbackFake.start(
            script: script, arguments: ["--secret-key", Self.secretKey] + (upstream.map { ["--upstream", $0] } ?? []), log: log)
    }

    var base: String { "http://127.0.0.1:\(port)" }

    @discardableResult
    func control(_ method: HTTPMethod, _ path: String, _ body: [String: Any]? = nil) async throws -> Any {
        try await LoopbackFake.control(method, base + path, body)
    }

    func requests() async throws -> [[String: Any]] { try await control(.GET, "/_fake/requests") as? [[String: Any]] ?? [] }
    func customers() async throws -> [[String: Any]] { try await control(.GET, "/_fake/objects?type=customer") as? [[String: Any]] ?? [] }
    func stop() async { await process.terminate(grace: .seconds(5)) }

    static func with<T: Sendable>(_ body: @Sendable (FakeStripe) async throws -> T) async throws -> T {
        let fake = try await FakeStripe(directory: try TestEnvironment.makeTemporaryDirectory("stripe"))
        do {
            let value = try await body(fake)
            await fake.stop()
            return value
        } catch {
            await fake.stop()
            throw error
        }
    }
}

@Suite("Stripe client", .serialized)
struct StripeClientTests {
    @Test("form encoding: nested keys, indexed arrays, expand[] lists, escaping, order kept")
    func formEncoding() {
        var form = StripeForm()
        form.add("email", "a+b@example.com")
        form.add("metadata", .dictionary([("tenant", "t 1"), ("note", "ä&=")]))
        form.add("items", .array([.dictionary([("price", "price_1")]), .dictionary([("price", "price_2"), ("quantity", "2")])]))
        form.add("expand", .list(["latest_invoice", "customer"]))
        form.add("missing", nil)
        #expect(
            form.encoded
                == "email=a%2Bb%40example.com&metadata%5Btenant%5D=t%201&metadata%5Bnote%5D=%C3%A4%26%3D"
                + "&items%5B0%5D%5Bprice%5D=price_1&items%5B1%5D%5Bprice%5D=price_2&items%5B1%5D%5Bquantity%5D=2"
                + "&expand%5B%5D=latest_invoice&expand%5B%5D=customer")
    }

    @Test("every call spends a token of the account's limiter first (25/s in test mode, 100/s live, STRIPE_RATE_LIMIT); the key is a digest, never the secret")
    func rateLimited() async throws {
        #expect(StripeConfiguration(secretKey: "sk_test_x").requestsPerSecond == 25)
        #expect(StripeConfiguration(secretKey: "sk_live_x").requestsPerSecond == 100)
        #expect(try StripeConfiguration.fromEnvironment(["STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_RATE_LIMIT": "40"])?.requestsPerSecond == 40)
        #expect(throws: StripeConfigurationError.self) { try StripeConfiguration.fromEnvironment(["STRIPE_SECRET_KEY": "sk_x", "STRIPE_RATE_LIMIT": "0"]) }
        #expect(throws: StripeConfigurationError.self) {
            try StripeConfiguration.fromEnvironment(["STRIPE_SECRET_KEY": "sk_x", "STRIPE_PRORATION_BEHAVIOR": "sometimes"])
        }
        try await FakeStripe.with { fake in
            try await withTestNamespace { namespace in
                let pool = RedisPool(configuration: try TestEnvironment.redisConfiguration(), size: 1)
                defer { Task { await pool.close() } }
                let configuration = StripeConfiguration(secretKey: FakeStripe.secretKey, apiBase: fake.base)
                // Three calls an hour: three calls pass and the bucket is empty, in Redis, for every client of the account.
                let limiter = RateLimiter(redis: pool, namespace: namespace, name: "stripe.api", limit: .tokenBucket(3, per: .seconds(3600), burst: 3))
                let client = StripeClient(configuration: configuration, rateLimiter: limiter)
                let made = try await client.createCustomer(email: nil, metadata: [:], idempotencyKey: "k-rl-1")
                _ = try await client.customer(made.id)
                _ = try await client.customer(made.id)
                let other = StripeClient(configuration: configuration, rateLimiter: limiter)
                let left = try await limiter.peek(other.rateLimitKey)
                #expect(!left.allowed && left.retryAfter > .seconds(60))
                #expect(!other.rateLimitKey.contains(FakeStripe.secretKey) && other.rateLimitKey.hasPrefix("account:"))
                #expect(try await fake.requests().count == 3)
                let standard = StripeClient.rateLimiter(redis: pool, namespace: namespace, configuration: configuration)
                #expect(standard.limit == .tokenBucket(25, per: .seconds(1), burst: 25) && standard.name == "stripe.api")
            }
        }
    }

    @Test("idempotent creates: the same key twice is one customer; 429 and 5xx are retried with the same key; Stripe-Should-Retry false and card errors are not")
    func retriesAndIdempotency() async throws {
        try await FakeStripe.with { fake in
            var configuration = StripeConfiguration(secretKey: FakeStripe.secretKey, apiBase: fake.base)
            configuration.maxRetries = 2
            let client = StripeClient(configuration: configuration)
            let key = StripeClient.idempotencyKey(job: "job1", step: "customer.create")
            let first = try await client.createCustomer(email: "a@example.com", metadata: ["tenant": "t1"], idempotencyKey: key)
            let again = try await client.createCustomer(email: "a@example.com", metadata: ["tenant": "t1"], idempotencyKey: key)
            #expect(first.id == again.id && first.metadata["tenant"] == "t1")
            #expect(try await fake.customers().count == 1)

            // A 429 with Retry-After 0, then success: two requests, one key, one new customer.
            try await fake.control(.POST, "/_fake/inject", ["path": "/v1/customers", "method": "POST", "status": 429, "retry_after": 0])
            let throttled = try await client.createCustomer(email: nil, metadata: [:], idempotencyKey: "k-429")
            #expect(try await fake.customers().count == 2)
            let sent = try await fake.requests().filter { ($0["idempotency_key"] as? String) == "k-429" }
            #expect(sent.count == 2)
            #expect(sent.allSatisfy { $0["stripe_version"] as? String == StripeConfiguration.apiVersion })
            _ = throttled

            // Stripe processed the request, then failed: a retry with the same key gets the stored 500, never a
            // second customer.
            try await fake.control(
                .POST, "/_fake/inject", ["path": "/v1/customers", "method": "POST", "status": 500, "after_processing": true])
            await #expect(throws: StripeAPIError.self) {
                _ = try await client.createCustomer(email: nil, metadata: [:], idempotencyKey: "k-500")
            }
            #expect(try await fake.customers().count == 3)
            #expect(try await fake.requests().filter { ($0["idempotency_key"] as? String) == "k-500" }.count == 3)

            // Stripe-Should-Retry: false on a 500: one request, and the error carries the Request-Id.
            try await fake.control(.POST, "/_fake/inject", ["path": "/v1/customers", "method": "POST", "status": 500, "should_retry": "false"])
            do {
                _ = try await client.createCustomer(email: nil, metadata: [:], idempotencyKey: "k-no-retry")
                Issue.record("expected a failure")
            } catch let error as StripeAPIError {
                #expect(error.status == 500 && error.requestID?.hasPrefix("req_") == true && !error.isRetryable)
                #expect(!error.description.contains(FakeStripe.secretKey))
            }
            #expect(try await fake.requests().filter { ($0["idempotency_key"] as? String) == "k-no-retry" }.count == 1)

            // A card decline is final, with its decline code.
            try await fake.control(.POST, "/_fake/inject", ["path": "/v1/customers", "method": "POST", "status": 402])
            do {
                _ = try await client.createCustomer(email: nil, metadata: [:], idempotencyKey: "k-402")
                Issue.record("expected a decline")
            } catch let error as StripeAPIError {
                #expect(error.isCardError && error.declineCode == "insufficient_funds" && !error.isRetryable)
            }
            #expect(try await fake.requests().filter { ($0["idempotency_key"] as? String) == "k-402" }.count == 1)

            // Behind a fail-closed breaker (opening after 2 failed calls of 2): Stripe's 5xx open it, then calls fail
            // at once without reaching Stripe; a decline would not have counted.
            var policy = CircuitBreaker.Policy.stripe
            policy.windowSize = 2
            policy.minimumCalls = 2
            policy.openDuration = .seconds(60)
            let guarded = StripeClient(
                configuration: StripeConfiguration(secretKey: FakeStripe.secretKey, apiBase: fake.base, maxRetries: 0),
                breaker: try CircuitBreaker(service: "stripe", policy: policy))
            try await fake.control(.POST, "/_fake/inject", ["path": "/v1/customers/*", "method": "GET", "status": 500, "times": 2])
            for _ in 0..<2 { await #expect(throws: StripeAPIError.self) { _ = try await guarded.customer(first.id) } }
            let before = try await fake.requests().count
            await #expect(throws: CircuitOpenError.self) { _ = try await guarded.customer(first.id) }
            #expect(try await fake.requests().count == before, "an open breaker does not call Stripe")

            // A wrong key: 401, not retried, and the key is not in the error.
            let wrong = StripeClient(configuration: StripeConfiguration(secretKey: "sk_test_wrong_secret", apiBase: fake.base))
            do {
                _ = try await wrong.customer(first.id)
                Issue.record("expected 401")
            } catch let error as StripeAPIError {
                #expect(error.status == 401 && !error.description.contains("sk_test_wrong_secret"))
            }
        }
    }
}

@Suite("Stripe jobs", .serialized)
struct StripeJobsTests {
    @Test("stripe.customer.ensure killed -9 after Stripe created the customer, before the store: the re-run replays Stripe's answer, one customer")
    func killAfterCreate() async throws {
        try await FakeStripe.with { fake in
            try await PlaidWorld.with { w in
                let env = ["STRIPE_SECRET_KEY": FakeStripe.secretKey, "STRIPE_API_BASE": fake.base]
                // Stripe processes the create, then its answer takes 30 s: the node is killed while it waits.
                try await fake.control(.POST, "/_fake/hold", ["ms": 30_000])
                let (first, _) = try w.startNode("a", queues: StripeWebhookIntake.queueName, environment: env)
                let handle = try await w.queue.enqueue(
                    StripeCustomerEnsureJob(tenant: "t1", email: "owner@example.com"),
                    options: EnqueueOptions(queue: StripeWebhookIntake.queueName))
                try await w.eventually("Stripe to create the customer") { try await fake.customers().count == 1 }
                first.process.signal(SIGKILL)
                _ = await first.process.wait()
                try await fake.control(.POST, "/_fake/hold", ["ms": 0])
                try w.startNode("b", queues: StripeWebhookIntake.queueName, environment: env)
                let result = try await handle.result(as: StripeCustomerResult.self, timeout: .seconds(60))
                let customers = try await fake.customers()
                #expect(customers.count == 1 && customers.first?["id"] as? String == result.customer)
                let stripe = StripeStore(database: w.database, logger: PlaidWorld.logger)
                #expect(try await stripe.customer(tenant: "t1") == result.customer)
                let sent = try await fake.requests().filter { $0["path"] as? String == "/v1/customers" }
                #expect(sent.count == 2 && sent.last?["replayed"] as? Bool == true)
                #expect(Set(sent.compactMap { $0["idempotency_key"] as? String }).count == 1)
                // Ensured again: the stored link, no call.
                let again = try await w.queue.enqueue(
                    StripeCustomerEnsureJob(tenant: "t1", email: nil), options: EnqueueOptions(queue: StripeWebhookIntake.queueName))
                #expect(try await again.result(as: StripeCustomerResult.self, timeout: .seconds(30)) == result)
                #expect(try await fake.requests().filter { $0["path"] as? String == "/v1/customers" }.count == 2)
            }
        }
    }
}

import AsyncHTTPClient
import Foundation
import JobKit
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// Where and as whom the Stripe client calls (`STRIPE_SECRET_KEY`, `STRIPE_API_BASE`, `STRIPE_PUBLISHABLE_KEY`).
/// Its description never shows the secret key.
public struct StripeConfiguration: Sendable, CustomStringConvertible {
    /// The API version every request pins (`Stripe-Version`): webhook events and responses have its shapes.
    public static let apiVersion = "2024-06-20"
    public var secretKey: String
    /// No trailing `/`. Default Stripe's; tests point it at a loopback fake.
    public var apiBase: String
    public var publishableKey: String?
    public var timeout: Duration
    /// Retries of one call after a retryable failure, with the same idempotency key (Stripe's libraries: 2).
    public var maxRetries: Int
    /// Requests per second this account may make, shared by every node through the limiter: Stripe's documented
    /// global limits, 100/s live and 25/s in test mode (a `sk_test_`/`rk_test_` key), unless `STRIPE_RATE_LIMIT`
    /// says otherwise (lower it to leave live traffic headroom, as Stripe advises for background work).
    public var requestsPerSecond: Int
    /// How a subscription's plan change is prorated (`proration_behavior`: `create_prorations`, the default;
    /// `always_invoice`; `none`), from `STRIPE_PRORATION_BEHAVIOR`.
    public var prorationBehavior: String

    public static let prorationBehaviors: Set<String> = ["create_prorations", "always_invoice", "none"]

    public init(
        secretKey: String, apiBase: String = "https://api.stripe.com", publishableKey: String? = nil,
        timeout: Duration = .seconds(30), maxRetries: Int = 2, requestsPerSecond: Int? = nil,
        prorationBehavior: String = "create_prorations"
    ) {
        self.secretKey = secretKey
        var base = apiBase
        while base.hasSuffix("/") { base.removeLast() }
        self.apiBase = base
        self.publishableKey = publishableKey
        self.timeout = timeout
        self.maxRetries = maxRetries
        self.requestsPerSecond = requestsPerSecond ?? (secretKey.hasPrefix("sk_live_") || secretKey.hasPrefix("rk_live_") ? 100 : 25)
        self.prorationBehavior = prorationBehavior
    }

    /// From the environment; nil without `STRIPE_SECRET_KEY`.
    ///
    /// - Throws: ``StripeConfigurationError`` for a `STRIPE_RATE_LIMIT` that is not a positive integer or a
    ///   `STRIPE_PRORATION_BEHAVIOR` Stripe does not know.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> StripeConfiguration? {
        guard let key = env["STRIPE_SECRET_KEY"], !key.isEmpty else { return nil }
        var rate: Int?
        if let text = env["STRIPE_RATE_LIMIT"], !text.isEmpty {
            guard let value = Int(text), value >= 1 else {
                throw StripeConfigurationError("STRIPE_RATE_LIMIT must be a positive number of requests per second, not '\(text)'")
            }
            rate = value
        }
        let proration = env["STRIPE_PRORATION_BEHAVIOR"].flatMap { $0.isEmpty ? nil : $0 } ?? "create_prorations"
        guard prorationBehaviors.contains(proration) else {
            throw StripeConfigurationError(
                "STRIPE_PRORATION_BEHAVIOR must be one of \(prorationBehaviors.sorted().joined(separator: ", ")), not '\(proration)'")
        }
        return StripeConfiguration(
            secretKey: key, apiBase: env["STRIPE_API_BASE"].flatMap { $0.isEmpty ? nil : $0 } ?? "https://api.stripe.com",
            publishableKey: env["STRIPE_PUBLISHABLE_KEY"], requestsPerSecond: rate, prorationBehavior: proration)
    }

    public var description: String {
        "StripeConfiguration(\(apiBase), key \(secretKey.prefix(8))***, Stripe-Version \(Self.apiVersion), \(requestsPerSecond) req/s)"
    }
}

/// Stripe's API over AsyncHTTPClient: form-encoded bodies, `Stripe-Version` pinned, an `Idempotency-Key` on every
/// POST, and retries as Stripe's own libraries make them (``StripeAPIError/isRetryable``; backoff
/// `min(0.5 s × 2^(n-1), 5 s)` with jitter, or `Retry-After` up to 60 s; the same key on every try, so Stripe
/// replays its stored answer instead of acting twice).
public struct StripeClient: Sendable {
    public let configuration: StripeConfiguration
    let http: HTTPClient
    let logger: Logger
    /// The node's Stripe breaker (fail closed): while open, calls throw `CircuitOpenError` without reaching Stripe.
    let breaker: CircuitBreaker?
    /// The account's request rate (``StripeConfiguration/requestsPerSecond``), shared through Redis: every try of
    /// every call waits for its token first.
    let rateLimiter: RateLimiter?
    static let maxResponseBytes = 8 << 20

    public init(
        configuration: StripeConfiguration, httpClient: HTTPClient = .shared, breaker: CircuitBreaker? = nil,
        rateLimiter: RateLimiter? = nil, logger: Logger = Logger(label: "jobkit.stripe")
    ) {
        self.configuration = configuration
        self.http = httpClient
        self.breaker = breaker
        self.rateLimiter = rateLimiter
        self.logger = logger
    }

    /// The limiter of an account's requests: a token bucket of ``StripeConfiguration/requestsPerSecond`` per
    /// second (burst the same), named `stripe.api`, keyed by a digest of the key (never the key).
    public static func rateLimiter(redis: RedisPool, namespace: String, configuration: StripeConfiguration) -> RateLimiter {
        RateLimiter(
            redis: redis, namespace: namespace, name: "stripe.api",
            limit: .tokenBucket(configuration.requestsPerSecond, per: .seconds(1), burst: configuration.requestsPerSecond))
    }

    var rateLimitKey: String { "account:" + Digest.sha256Hex(configuration.secretKey).prefix(16) }

    /// The longest a call waits for its token before giving up as a retryable failure (the job then waits in
    /// `scheduled`, not in a slot).
    static let maxThrottleWait = Duration.seconds(10)

    /// Waits for the account's next request token (no wait without a limiter).
    func throttle(_ method: String, _ path: String) async throws {
        guard let rateLimiter else { return }
        var waited = Duration.zero
        while true {
            let decision = try await rateLimiter.acquire(rateLimitKey)
            if decision.allowed { return }
            let pause = max(decision.retryAfter, .milliseconds(1))
            guard waited + pause <= Self.maxThrottleWait else {
                throw StripeAPIError(
                    method: method, path: path, retryAfter: max(1, Int(pause.milliseconds / 1000)),
                    transport: "the account's rate limit (\(configuration.requestsPerSecond)/s) left no token within \(Self.maxThrottleWait)")
            }
            try await Task.sleep(for: pause)
            waited += pause
        }
    }

    /// The idempotency key of one step of a job: the same on every run of the job (a re-run after a crash replays
    /// Stripe's answer), different per step.
    public static func idempotencyKey(job: String, step: String) -> String { "jobkit-\(job)-\(step)" }

    // MARK: Customers

    public func createCustomer(email: String?, metadata: [String: String], idempotencyKey: String) async throws -> StripeCustomer {
        var form = StripeForm()
        form.add("email", email.map(StripeParam.string))
        if !metadata.isEmpty { form.add("metadata", .dictionary(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })) }
        return try await send("POST", "/v1/customers", form: form, idempotencyKey: idempotencyKey)
    }

    public func customer(_ id: String) async throws -> StripeCustomer {
        try await send("GET", "/v1/customers/\(id)", form: StripeForm(), idempotencyKey: nil)
    }

    // MARK: Transport

    /// One call with its retries. POSTs need an idempotency key.
    public func send<T: Decodable & Sendable>(
        _ method: String, _ path: String, form: StripeForm, idempotencyKey: String?
    ) async throws -> T {
        try await call(method, path, form: form, idempotencyKey: idempotencyKey).value
    }

    /// One call with its retries, and when Stripe answered.
    public func call<T: Decodable & Sendable>(
        _ method: String, _ path: String, form: StripeForm, idempotencyKey: String?
    ) async throws -> StripeResponse<T> {
        precondition(method != "POST" || idempotencyKey != nil, "every Stripe POST carries an idempotency key")
        var attempt = 0
        while true {
            do {
                try await throttle(method, path)
                guard let breaker else { return try await once(method, path, form: form, idempotencyKey: idempotencyKey) }
                // Only Stripe's own trouble counts against it: not a decline, a bad request or a missing object.
                return try await breaker.run(isFailure: { ($0 as? StripeAPIError)?.isRetryable ?? !($0 is CancellationError) }) {
                    try await once(method, path, form: form, idempotencyKey: idempotencyKey)
                }
            } catch let error as StripeAPIError where error.isRetryable && attempt < configuration.maxRetries {
                attempt += 1
                let delay = Self.delay(attempt: attempt, retryAfter: error.retryAfter)
                logger.notice(
                    "Stripe call failed; retrying with the same idempotency key",
                    metadata: ["stripe.request_id": "\(error.requestID ?? "-")", "error": "\(error)", "retry.in_ms": "\(delay.milliseconds)"])
                try await Task.sleep(for: delay)
            }
        }
    }

    static func delay(attempt: Int, retryAfter: Int?) -> Duration {
        if let retryAfter, retryAfter >= 0, retryAfter <= 60 { return .seconds(retryAfter) }
        let base = min(0.5 * pow(2, Double(attempt - 1)), 5)
        return .milliseconds(Int(max(0.5, base * Double.random(in: 0.5...1)) * 1000))
    }

    func once<T: Decodable & Sendable>(
        _ method: String, _ path: String, form: StripeForm, idempotencyKey: String?
    ) async throws -> StripeResponse<T> {
        let encoded = form.encoded
        let query = method != "POST" && !encoded.isEmpty ? "?\(encoded)" : ""
        var request = HTTPClientRequest(url: configuration.apiBase + path + query)
        request.method = HTTPMethod(rawValue: method)
        request.headers.add(name: "Authorization", value: "Bearer \(configuration.secretKey)")
        request.headers.add(name: "Stripe-Version", value: StripeConfiguration.apiVersion)
        request.headers.add(name: "User-Agent", value: "JobKit-Stripe/1")
        if let idempotencyKey { request.headers.add(name: "Idempotency-Key", value: idempotencyKey) }
        if method == "POST" {
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: encoded))
        }
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await http.execute(request, timeout: configuration.timeout.timeAmount)
            bytes = try await response.body.collect(upTo: Self.maxResponseBytes)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw StripeAPIError(method: method, path: path, transport: "\(type(of: error))")
        }
        let status = Int(response.status.code)
        let requestID = response.headers.first(name: "Request-Id")
        guard (200..<300).contains(status) else {
            let body = try? JSONDecoder().decode(StripeErrorEnvelope.self, from: bytes).error
            throw StripeAPIError(
                method: method, path: path, status: status, type: body?.type, code: body?.code, declineCode: body?.decline_code,
                param: body?.param, message: body?.message, requestID: requestID,
                shouldRetry: response.headers.first(name: "Stripe-Should-Retry").map { $0 == "true" },
                retryAfter: response.headers.first(name: "Retry-After").flatMap(Int.init))
        }
        do {
            let value = try JSONDecoder().decode(T.self, from: bytes)
            return StripeResponse(value: value, requestID: requestID, date: response.headers.first(name: "Date").flatMap(StripeResponse<T>.seconds))
        } catch {
            throw StripeAPIError(method: method, path: path, status: status, requestID: requestID, transport: "response did not decode: \(error)")
        }
    }
}

/// A decoded answer with its `Request-Id` and when Stripe made it (its `Date` header, Unix seconds): Stripe's own
/// clock, the one its events' `created` is on.
public struct StripeResponse<T: Sendable>: Sendable {
    public var value: T
    public var requestID: String?
    public var date: Int?

    /// An HTTP date (`Mon, 07 Dec 2026 05:21:56 GMT`) in Unix seconds.
    static func seconds(_ text: String) -> Int? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text).map { Int($0.timeIntervalSince1970) }
    }
}

/// Stripe's error response: `{"error": {"type", "code", "decline_code", "param", "message"}}`.
struct StripeErrorEnvelope: Decodable {
    struct Body: Decodable {
        var type: String?
        var code: String?
        var decline_code: String?
        var param: String?
        var message: String?
    }
    var error: Body
}

import Foundation
import HTTPTypes
import Hummingbird
import JobKit
import JobKitHTTP
import Jobs
import Logging

/// `POST /webhooks/stripe` (open: `Stripe-Signature` is the credential).
struct StripeRoutes: Sendable {
    /// Nil when this process has no `STRIPE_WEBHOOK_SECRET`: deliveries get 503.
    let intake: StripeWebhookIntake?
    /// Counts deliveries for `/webhooks/health` (flushed to Redis every 100 ms, not one call per delivery).
    let tally: WebhookTally
    /// Stripe's events are a few KiB; the limit leaves room for the body, escaped, in the job's payload (512 KiB).
    static let maxBytes = 200 * 1024
    static let signatureHeader = HTTPField.Name("Stripe-Signature")!

    /// The webhook route, and the `/v1/billing` routes (``BillingRoutes``) with what this process has: their quick
    /// calls need `STRIPE_SECRET_KEY` and a database, their jobs only the queue.
    static func registrations(
        queue: JobQueue, database: StoreDatabase?, breaker: CircuitBreaker, logger: Logger
    ) throws -> [HTTPRouteRegistration] {
        let routes = StripeRoutes(
            intake: StripeWebhookVerifier.fromEnvironment().map { StripeWebhookIntake(verifier: $0, queue: queue) },
            tally: WebhookTally(ledger: WebhookLedger(redis: queue.redis, namespace: queue.namespace)))
        let store = database.map { StripeStore(database: $0, logger: logger) }
        let plans = try StripePlans.fromEnvironment()
        let runner = try StripeConfiguration.fromEnvironment().flatMap { configuration in
            store.map { store in
                StripeJobRunner(
                    client: StripeClient(
                        configuration: configuration, breaker: breaker,
                        rateLimiter: StripeClient.rateLimiter(redis: queue.redis, namespace: queue.namespace, configuration: configuration),
                        logger: logger),
                    store: store, plans: plans, logger: logger)
            }
        }
        let billing = BillingRoutes(runner: runner, jobs: StripeBillingJobs(queue: queue), plans: plans, store: store)
        return [
            HTTPRouteRegistration(access: .open) { group in
                group.post("webhooks/stripe") { request, context in try await routes.webhook(request, context) }
            }
        ] + billing.registrations
    }

    /// 200 once `stripe.event.handle` is durably enqueued (or was, for a redelivery); 400 with nothing enqueued for
    /// a bad or stale signature or a body that is not an event; 503 when Redis cannot take it (Stripe retries).
    func webhook(_ request: Request, _ context: JobKitRequestContext) async throws -> Response {
        guard let intake else {
            throw APIError(.serviceUnavailable, code: "stripe_not_configured", "this node has no STRIPE_WEBHOOK_SECRET")
        }
        let body: ByteBuffer
        do {
            body = try await JobKitHTTP.RequestBody.collect(request, limit: Self.maxBytes)
        } catch {
            tally.count(.stripe, .rejectedMalformed)
            throw error
        }
        switch try await intake.receive(
            header: request.headers[Self.signatureHeader], body: Array(body.readableBytesView), now: Int(Date().timeIntervalSince1970))
        {
        case .accepted(let jobID, let duplicate, let event, let type):
            tally.count(.stripe, duplicate ? .rejectedDuplicate : .accepted)
            return try JSONResponse.make(.ok, StripeWebhookAnswer(received: true, job: jobID, duplicate: duplicate, event: event, type: type))
        case .rejectedSignature(let rejection):
            context.logger.notice("Stripe webhook rejected", metadata: ["reason": "\(rejection)"])
            let stale: Bool
            if case .tooOld = rejection { stale = true } else { stale = false }
            tally.count(.stripe, stale ? .rejectedAge : .rejectedSignature)
            throw APIError(.badRequest, code: stale ? "stale_signature" : "invalid_signature", rejection.description)
        case .malformed(let why):
            context.logger.notice("Stripe webhook rejected", metadata: ["reason": "\(why)"])
            tally.count(.stripe, .rejectedMalformed)
            throw APIError(.badRequest, code: "malformed_webhook", why)
        }
    }
}

struct StripeWebhookAnswer: Encodable {
    var received: Bool
    var job: String
    var duplicate: Bool
    var event: String
    var type: String
}

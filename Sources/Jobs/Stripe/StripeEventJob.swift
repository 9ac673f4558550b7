import Foundation
import JobKit

/// `stripe.event.handle` `{"event", "type", "body"}`: one verified Stripe event (its raw JSON in `body`), enqueued
/// by `POST /webhooks/stripe` with the event id as idempotency key.
public struct StripeEventJob: JobPayload {
    public static let jobName = "stripe.event.handle"
    public var event: String
    public var type: String
    public var body: String
    public init(event: String, type: String, body: String) {
        self.event = event
        self.type = type
        self.body = body
    }
}

/// Takes a Stripe webhook delivery from the HTTP route: verifies `Stripe-Signature` over the raw body, reads the
/// event's id and type, and enqueues `stripe.event.handle` keyed by the event id (a redelivery is the same job).
public struct StripeWebhookIntake: Sendable {
    public let verifier: StripeWebhookVerifier
    public let queue: JobQueue
    /// The queue of event handling (the seed's layout: webhooks and payments are high priority).
    public static let queueName = "high_priority"
    /// How long an event id stays deduplicated in Redis (Stripe retries for up to 3 days); the `stripe_events`
    /// ledger dedupes for good.
    public var dedupeWindow: Duration = .seconds(4 * 86_400)

    public init(verifier: StripeWebhookVerifier, queue: JobQueue) {
        self.verifier = verifier
        self.queue = queue
    }

    public enum Outcome: Sendable {
        case accepted(jobID: String, duplicate: Bool, event: String, type: String)
        case rejectedSignature(StripeWebhookVerifier.Rejection)
        case malformed(String)
    }

    /// Verifies and enqueues. Throws only when the enqueue fails (Redis down): the route answers 503 and Stripe
    /// delivers again.
    public func receive(header: String?, body: [UInt8], now: Int) async throws -> Outcome {
        do {
            try verifier.verify(header: header, body: body, now: now)
        } catch {
            return .rejectedSignature(error)
        }
        struct Head: Decodable {
            var id: String
            var type: String
            var object: String?
        }
        guard let head = try? JSONDecoder().decode(Head.self, from: Data(body)), head.object == nil || head.object == "event",
            !head.id.isEmpty, !head.type.isEmpty
        else { return .malformed("body is not a Stripe event (id, type)") }
        var options = EnqueueOptions(queue: Self.queueName)
        options.idempotencyKey = "stripe.event:\(head.id)"
        options.idempotencyTTL = dedupeWindow
        options.maxAttempts = 10
        let job = StripeEventJob(event: head.id, type: head.type, body: String(decoding: body, as: UTF8.self))
        let handle = try await queue.enqueue(job, options: options)
        return .accepted(jobID: handle.id, duplicate: !handle.created, event: head.id, type: head.type)
    }
}

import Foundation
import JobKit
import NIOCore

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

    /// The job's payload JSON, written directly: the same document `JSONEncoder` makes (keys `event`, `type`,
    /// `body`), at a fraction of its cost for a body of a few KiB (on the webhook path the encoder was a tenth of
    /// the CPU). The body's bytes are read as UTF-8, invalid sequences replaced, as `String(decoding:as:)` does.
    static func payload(event: String, type: String, body: some Collection<UInt8>) -> ByteBuffer {
        var out = ByteBuffer()
        out.reserveCapacity(body.count + event.utf8.count + type.utf8.count + 64)
        out.writeStaticString("{\"event\":")
        appendQuoted(event.utf8, to: &out)
        out.writeStaticString(",\"type\":")
        appendQuoted(type.utf8, to: &out)
        out.writeStaticString(",\"body\":")
        appendQuoted(String(decoding: body, as: UTF8.self).utf8, to: &out)
        out.writeStaticString("}")
        return out
    }

    /// A JSON string of UTF-8 text: `"` and `\\` escaped, control characters as `\\u00XX`, written straight into
    /// the buffer's memory (room for the worst case, 6 bytes a byte, is made first).
    static func appendQuoted(_ text: String.UTF8View, to out: inout ByteBuffer) {
        let hex: StaticString = "0123456789abcdef"
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: text.count * 6 + 2) { raw in
            var n = 0
            func put(_ byte: UInt8) {
                raw[n] = byte
                n += 1
            }
            put(UInt8(ascii: "\""))
            for byte in text {
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                    put(UInt8(ascii: "\\"))
                    put(byte)
                case 0..<0x20:
                    put(UInt8(ascii: "\\"))
                    put(UInt8(ascii: "u"))
                    put(UInt8(ascii: "0"))
                    put(UInt8(ascii: "0"))
                    put(hex.utf8Start[Int(byte >> 4)])
                    put(hex.utf8Start[Int(byte & 0x0f)])
                default:
                    put(byte)
                }
            }
            put(UInt8(ascii: "\""))
            return n
        }
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
        let handle = try await queue.enqueue(
            JobQueue.Job(name: StripeEventJob.jobName, payload: StripeEventJob.payload(event: head.id, type: head.type, body: body), options: options))
        return .accepted(jobID: handle.id, duplicate: !handle.created, event: head.id, type: head.type)
    }
}

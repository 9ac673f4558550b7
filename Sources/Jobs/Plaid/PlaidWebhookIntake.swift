import Foundation
import JobKit

/// `plaid.webhook`: one verified Plaid webhook delivery, handled by a job (see ``PlaidJobRunner``), so that the
/// HTTP answer only waits for one durable enqueue.
public struct PlaidWebhookJob: JobPayload {
    public static let jobName = "plaid.webhook"
    public var type: String
    public var code: String
    public var item: String?
    /// `error.error_code` of an `ITEM` `ERROR` webhook.
    public var errorCode: String?
    /// `consent_expiration_time` of `PENDING_EXPIRATION`.
    public var consentExpirationTime: String?
    /// `new_webhook_url` of `WEBHOOK_UPDATE_ACKNOWLEDGED`.
    public var newWebhookURL: String?
    /// SHA-256 of the raw body.
    public var bodySHA256: String
    /// The signed `iat`: with the body's hash, the delivery's identity (Plaid's webhooks carry no id, and an item's
    /// later `SYNC_UPDATES_AVAILABLE` bodies are byte for byte the same; only the signature's time tells them apart).
    public var issuedAt: Int
}

/// Takes a Plaid webhook delivery from the HTTP route: verifies it (``PlaidWebhookVerifier``), reads the few
/// fields the handling needs, and enqueues `plaid.webhook` keyed by the body's SHA-256 and the signed `iat`, so a
/// duplicate delivery (same body, same signature time) enqueues nothing twice, while the same body signed later (the
/// next `SYNC_UPDATES_AVAILABLE` of an item) is a new webhook.
public struct PlaidWebhookIntake: Sendable {
    public let verifier: PlaidWebhookVerifier
    public let queue: JobQueue
    /// How long a delivery's idempotency key lives: past it, the same delivery fails verification anyway (its
    /// `iat` is more than 5 minutes old).
    public var dedupeWindow: Duration = .seconds(600)

    public init(verifier: PlaidWebhookVerifier, queue: JobQueue) {
        self.verifier = verifier
        self.queue = queue
    }

    /// What became of a delivery.
    public enum Outcome: Sendable {
        /// Enqueued (or, `duplicate`, already enqueued by an earlier delivery of the same body).
        case accepted(jobID: String, duplicate: Bool, type: String, code: String)
        /// Refused: nothing enqueued.
        case rejected(PlaidWebhookVerifier.Rejection)
    }

    /// Verifies and enqueues. Throws only when the enqueue itself fails (Redis down): the route answers 503 and
    /// Plaid delivers again.
    public func receive(header: String?, body: [UInt8], now: Int) async throws -> Outcome {
        let verified: PlaidWebhookVerifier.Verified
        do {
            verified = try await verifier.verify(header: header, body: body, now: now)
        } catch {
            return .rejected(error)
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
            let type = object["webhook_type"] as? String, let code = object["webhook_code"] as? String
        else { return .rejected(.malformed("body is not a JSON object with webhook_type and webhook_code")) }
        let job = PlaidWebhookJob(
            type: type, code: code, item: object["item_id"] as? String,
            errorCode: (object["error"] as? [String: Any])?["error_code"] as? String,
            consentExpirationTime: object["consent_expiration_time"] as? String,
            newWebhookURL: object["new_webhook_url"] as? String, bodySHA256: verified.bodySHA256, issuedAt: verified.issuedAt)
        var options = EnqueueOptions(queue: PlaidJobs.queue)
        options.priority = 10
        options.idempotencyKey = "plaid.webhook:\(verified.bodySHA256):\(verified.issuedAt)"
        options.idempotencyTTL = dedupeWindow
        let handle = try await queue.enqueue(job, options: options)
        return .accepted(jobID: handle.id, duplicate: !handle.created, type: type, code: code)
    }
}

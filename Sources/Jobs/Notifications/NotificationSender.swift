import AsyncHTTPClient
import Foundation
import JobKit
import Logging
import NIOCore
import NIOFoundationCompat

/// The result of `notifications.send`: what became of the notification and of each channel.
public struct NotificationResult: Codable, Sendable, Equatable {
    /// `sent`, `opted_out`, `collapsed` (or, for a re-run, what the first run settled).
    public var outcome: String
    /// Channel → `sent` or `failed` (empty when nothing was delivered).
    public var channels: [String: String]
}

/// Runs `notifications.send` `{"tenant", "user"?, "kind", "data", "id"?}`: renders the kind's template
/// (``NotificationTemplates``) and delivers it on each channel the user (else the tenant) has: **inbox** (the
/// `notifications` row), **webhook** (a signed POST, ``NotificationWebhookSigner``), **email** (SendGrid,
/// ``EmailClient``).
///
/// Exactly once in effect per notification id (the payload's `id`, else the job's): the first step records it in
/// one transaction and decides (opted out; collapsed into one of the same kind and subject within
/// ``collapseWindow``; or deliver). Notification ids are per tenant. Each channel is its own step with its own row in
/// `notification_deliveries`, claimed by the run that sends it (`sending`; another run of the same id waits and
/// retries; a claim older than 5 minutes is taken over): a channel that failed is tried again on the job's next
/// run, one that was sent never again. A channel's final failure (a 4xx, a webhook URL that is not http(s)) ends
/// the job failed with the reason; a retryable one (5xx, 429, no answer, this node lacking the channel's
/// configuration) makes the job retry with backoff.
public struct NotificationSender: Sendable {
    public let store: NotificationStore
    public let templates: NotificationTemplates
    public let email: EmailClient?
    public let signer: NotificationWebhookSigner?
    public var collapseWindow: Duration
    let http: HTTPClient

    public init(
        store: NotificationStore, templates: NotificationTemplates = NotificationTemplates(), email: EmailClient? = nil,
        signer: NotificationWebhookSigner? = nil, collapseWindow: Duration = .seconds(600), httpClient: HTTPClient = .shared
    ) {
        self.store = store
        self.templates = templates
        self.email = email
        self.signer = signer
        self.collapseWindow = collapseWindow
        self.http = httpClient
    }

    public func register(in registry: JobRegistry) {
        registry.register(NotificationSendJob.self, timeout: .seconds(120), returning: NotificationResult.self) { job, context in
            try await send(job, context)
        }
    }

    public func send(_ job: NotificationSendJob, _ context: JobContext) async throws -> NotificationResult {
        guard !job.tenant.isEmpty, !job.kind.isEmpty else { throw JobFatalError("tenant and kind must not be empty") }
        let id = job.id.flatMap { $0.isEmpty ? nil : $0 } ?? context.id
        let user = job.user ?? ""
        var logger = context.logger
        logger[metadataKey: "tenant"] = "\(job.tenant)"
        logger[metadataKey: "notification"] = "\(id)"
        logger[metadataKey: "notification.kind"] = "\(job.kind)"
        let message = templates.render(kind: job.kind, data: job.data)
        let data = String(decoding: try JSONEncoder.sorted.encode(job.data), as: UTF8.self)
        let admission = try await store.admit(
            id: id, tenant: job.tenant, user: user, kind: job.kind, subject: message.subject, title: message.title, body: message.body,
            data: data, window: collapseWindow)
        if case .settled(let outcome) = admission {
            logger.info("notification not delivered", metadata: ["outcome": "\(outcome)"])
            return NotificationResult(outcome: outcome, channels: try await store.deliveries(tenant: job.tenant, id))
        }
        let channels = try await store.channels(tenant: job.tenant, user: job.user)
        let done = try await store.deliveries(tenant: job.tenant, id)
        var failures: [NotificationDeliveryError] = []
        var busy: [String] = []
        func step(_ channel: String, _ deliver: () async throws -> String?) async throws {
            guard done[channel] != "sent" else { return }
            // One run sends a channel: another run of the same id (a duplicate job, a lease taken over) waits.
            guard try await store.claimDelivery(tenant: job.tenant, id, channel: channel, run: context.id) else {
                busy.append(channel)
                return
            }
            do {
                let providerID = try await deliver()
                try await store.recordDelivery(tenant: job.tenant, id, channel: channel, sent: true, error: nil, providerID: providerID)
            } catch let error as NotificationDeliveryError {
                failures.append(error)
                try await store.recordDelivery(tenant: job.tenant, id, channel: channel, sent: false, error: error.reason, providerID: nil)
                logger.notice("notification channel failed", metadata: ["channel": "\(channel)", "error": "\(error.reason)"])
            }
        }
        if channels.inbox { try await step("inbox") { nil } }
        if let url = channels.webhookURL {
            try await step("webhook") { try await postWebhook(url: url, id: id, job: job, message: message) }
        }
        if let address = channels.email {
            try await step("email") {
                guard let email else {
                    throw NotificationDeliveryError(channel: "email", reason: "this node has no SENDGRID_API_KEY / JOBKIT_NOTIFY_FROM", retryable: true)
                }
                return try await email.send(to: address, subject: message.title, text: message.body, notification: id)
            }
        }
        let states = try await store.deliveries(tenant: job.tenant, id)
        if !busy.isEmpty {
            throw JobRetryLater(after: .seconds(30), reason: "notification \(id): \(busy.joined(separator: ", ")) being sent by another run")
        }
        if failures.contains(where: \.retryable) {
            throw NotificationDeliveryError(
                channel: failures.map(\.channel).joined(separator: ","), reason: failures.map(\.description).joined(separator: "; "),
                retryable: true)
        }
        if !failures.isEmpty {
            try await store.finish(tenant: job.tenant, id, outcome: "failed")
            throw JobFatalError("notification \(id) not delivered: \(failures.map(\.description).joined(separator: "; "))")
        }
        try await store.finish(tenant: job.tenant, id, outcome: "sent")
        logger.info("notification sent", metadata: ["channels": "\(states.keys.sorted().joined(separator: ","))"])
        return NotificationResult(outcome: "sent", channels: states)
    }

    /// The webhook's body: `{"id", "tenant", "user", "kind", "title", "body", "data", "createdAt"}`.
    struct WebhookBody: Encodable {
        var id: String
        var tenant: String
        var user: String?
        var kind: String
        var title: String
        var body: String
        var data: [String: String]
        var createdAt: Int
    }

    func postWebhook(url: String, id: String, job: NotificationSendJob, message: (title: String, body: String, subject: String)) async throws -> String? {
        guard let signer else {
            throw NotificationDeliveryError(channel: "webhook", reason: "this node has no JOBKIT_NOTIFY_SIGNING_KEY", retryable: true)
        }
        guard let parsed = URL(string: url), ["https", "http"].contains(parsed.scheme?.lowercased() ?? ""), parsed.host != nil else {
            throw NotificationDeliveryError(channel: "webhook", reason: "the webhook URL is not an absolute http(s) URL", retryable: false)
        }
        let now = Int(Date().timeIntervalSince1970)
        let body = Array(
            try JSONEncoder.sorted.encode(
                WebhookBody(
                    id: id, tenant: job.tenant, user: job.user, kind: job.kind, title: message.title, body: message.body, data: job.data,
                    createdAt: now)))
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "JobKit-Notifications/1")
        request.headers.add(name: "JobKit-Notification-Id", value: id)
        request.headers.add(name: NotificationWebhookSigner.header, value: signer.signature(tenant: job.tenant, body: body, timestamp: now))
        request.body = .bytes(ByteBuffer(bytes: body))
        let status: Int
        do {
            let response = try await http.execute(request, timeout: .seconds(10))
            _ = try await response.body.collect(upTo: 64 * 1024)
            status = Int(response.status.code)
        } catch {
            throw NotificationDeliveryError(channel: "webhook", reason: "no answer from the receiver: \(type(of: error))", retryable: true)
        }
        guard (200..<300).contains(status) else {
            throw NotificationDeliveryError(
                channel: "webhook", reason: "the receiver answered \(status)", retryable: status == 429 || status == 408 || status >= 500)
        }
        return nil
    }
}

extension JSONEncoder {
    /// Keys sorted: the same data is the same text.
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}

import JobKit

/// `notifications.send` `{"tenant", "user"?, "kind", "data", "id"?}`: one notification, delivered by
/// ``NotificationSender``; Stripe's payment events and Plaid's item errors enqueue it.
public struct NotificationSendJob: JobPayload {
    public static let jobName = "notifications.send"
    public var tenant: String
    public var user: String?
    public var kind: String
    public var data: [String: String]
    public var id: String?
    public init(tenant: String, user: String? = nil, kind: String, data: [String: String], id: String? = nil) {
        self.tenant = tenant
        self.user = user
        self.kind = kind
        self.data = data
        self.id = id
    }
}

extension NotificationSendJob {
    /// The queue notifications go to.
    public static let queue = "notifications"

    /// Enqueues the notification once per `id` (its idempotency key, 7 days), on ``queue``.
    @discardableResult
    public static func enqueue(
        on jobs: JobQueue, tenant: String, kind: String, id: String, data: [String: String], correlation: String?
    ) async throws -> JobHandle {
        var options = EnqueueOptions(queue: queue)
        options.tenantID = tenant
        options.correlationID = correlation
        options.idempotencyKey = id
        options.idempotencyTTL = .seconds(7 * 86_400)
        return try await jobs.enqueue(NotificationSendJob(tenant: tenant, kind: kind, data: data, id: id), options: options)
    }
}

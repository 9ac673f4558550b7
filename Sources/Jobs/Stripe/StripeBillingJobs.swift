import Foundation
import JobKit

// The billing operations as jobs (names and payload keys are a contract). Each runs the service call with the
// job's id as its operation, so a re-run after a crash replays Stripe's stored answers instead of acting twice.

/// `stripe.subscription.create` `{"tenant", "plan"}` → the subscription row.
public struct StripeSubscriptionCreateJob: JobPayload {
    public static let jobName = "stripe.subscription.create"
    public var tenant: String
    public var plan: String
    public init(tenant: String, plan: String) {
        self.tenant = tenant
        self.plan = plan
    }
}

/// `stripe.subscription.change_plan` `{"tenant", "subscription", "plan"}` → the subscription row.
public struct StripeSubscriptionChangePlanJob: JobPayload {
    public static let jobName = "stripe.subscription.change_plan"
    public var tenant: String
    public var subscription: String
    public var plan: String
    public init(tenant: String, subscription: String, plan: String) {
        self.tenant = tenant
        self.subscription = subscription
        self.plan = plan
    }
}

/// `stripe.subscription.cancel` `{"tenant", "subscription", "atPeriodEnd"}` → the subscription row.
public struct StripeSubscriptionCancelJob: JobPayload {
    public static let jobName = "stripe.subscription.cancel"
    public var tenant: String
    public var subscription: String
    public var atPeriodEnd: Bool
    public init(tenant: String, subscription: String, atPeriodEnd: Bool) {
        self.tenant = tenant
        self.subscription = subscription
        self.atPeriodEnd = atPeriodEnd
    }
}

/// `stripe.subscription.resume` `{"tenant", "subscription"}`: takes back a cancel-at-period-end.
public struct StripeSubscriptionResumeJob: JobPayload {
    public static let jobName = "stripe.subscription.resume"
    public var tenant: String
    public var subscription: String
    public init(tenant: String, subscription: String) {
        self.tenant = tenant
        self.subscription = subscription
    }
}

/// `stripe.payment_method.attach` `{"tenant", "paymentMethod", "makeDefault"}`.
public struct StripePaymentMethodAttachJob: JobPayload {
    public static let jobName = "stripe.payment_method.attach"
    public var tenant: String
    public var paymentMethod: String
    public var makeDefault: Bool?
    public init(tenant: String, paymentMethod: String, makeDefault: Bool = true) {
        self.tenant = tenant
        self.paymentMethod = paymentMethod
        self.makeDefault = makeDefault
    }
}

/// `stripe.payment_method.detach` `{"tenant", "paymentMethod"}`.
public struct StripePaymentMethodDetachJob: JobPayload {
    public static let jobName = "stripe.payment_method.detach"
    public var tenant: String
    public var paymentMethod: String
    public init(tenant: String, paymentMethod: String) {
        self.tenant = tenant
        self.paymentMethod = paymentMethod
    }
}

/// `stripe.subscriptions.reconcile` `{}` → `{"checked", "repaired", "missing"}`: every subscription row that still
/// bills compared with Stripe and repaired where it drifted (``SubscriptionService/reconcile(logger:)``); the
/// nightly maintenance enqueues it.
public struct StripeSubscriptionsReconcileJob: JobPayload {
    public static let jobName = "stripe.subscriptions.reconcile"
    public init() {}
}

/// Enqueues the billing jobs, on the seed's `high_priority` queue (payments), as services and the HTTP API do.
///
/// `request` is the caller's own idempotency key for the request (the HTTP API passes its `Idempotency-Key` header,
/// scoped to the API key): the same tenant and request within 24 hours is the same job (`created` false), whose
/// id is also the operation its Stripe keys derive from, so a retried request makes nothing twice. Without one,
/// every call is a new job: a cancel, a resume and a cancel again are three operations.
public struct StripeBillingJobs: Sendable {
    public let queue: JobQueue
    public static let queueName = "high_priority"
    public static let requestWindow = Duration.seconds(86_400)

    public init(queue: JobQueue) { self.queue = queue }

    public func createSubscription(tenant: String, plan: String, request: String? = nil, correlation: String? = nil) async throws -> JobHandle {
        try await enqueue(StripeSubscriptionCreateJob(tenant: tenant, plan: plan), tenant: tenant, request: request, correlation: correlation)
    }

    public func changePlan(
        tenant: String, subscription: String, plan: String, request: String? = nil, correlation: String? = nil
    ) async throws -> JobHandle {
        try await enqueue(
            StripeSubscriptionChangePlanJob(tenant: tenant, subscription: subscription, plan: plan), tenant: tenant, request: request,
            correlation: correlation)
    }

    public func cancel(
        tenant: String, subscription: String, atPeriodEnd: Bool, request: String? = nil, correlation: String? = nil
    ) async throws -> JobHandle {
        try await enqueue(
            StripeSubscriptionCancelJob(tenant: tenant, subscription: subscription, atPeriodEnd: atPeriodEnd), tenant: tenant,
            request: request, correlation: correlation)
    }

    public func resume(tenant: String, subscription: String, request: String? = nil, correlation: String? = nil) async throws -> JobHandle {
        try await enqueue(
            StripeSubscriptionResumeJob(tenant: tenant, subscription: subscription), tenant: tenant, request: request, correlation: correlation)
    }

    func enqueue<J: JobPayload>(_ job: J, tenant: String, request: String?, correlation: String?) async throws -> JobHandle {
        var options = EnqueueOptions(queue: Self.queueName)
        options.tenantID = tenant
        options.correlationID = correlation
        if let request {
            // Tenant and job name in the key: another tenant's request can never be folded into this one.
            options.idempotencyKey = "stripe.billing:\(J.jobName):\(Digest.sha256Hex(tenant + "\n" + request))"
            options.idempotencyTTL = Self.requestWindow
        }
        return try await queue.enqueue(job, options: options)
    }
}

/// `subscription_changed`, from the API operations (plan change, cancel, resume) and from Stripe's `updated`
/// events alike. The notification id is the resulting state and the UTC day
/// (`stripe:subscription:<id>:<plan>:<status>:<cancelAtPeriodEnd>:<day>`): the operation's answer and the webhook
/// of the same change are one notification, whichever arrives first.
enum SubscriptionChangeNotice {
    static func enqueue(
        on queue: JobQueue, tenant: String, subscription: String, plan: String?, status: String, cancelAtPeriodEnd: Bool, correlation: String?
    ) async throws {
        let day = Int(Date().timeIntervalSince1970 / 86_400)
        let plan = plan ?? "-"
        try await NotificationSendJob.enqueue(
            on: queue, tenant: tenant, kind: "subscription_changed",
            id: "stripe:subscription:\(subscription):\(plan):\(status):\(cancelAtPeriodEnd):\(day)",
            data: [
                "subscription": subscription, "plan": plan, "status": status, "cancelAtPeriodEnd": "\(cancelAtPeriodEnd)",
                "cancelNote": cancelAtPeriodEnd ? ", ending at the end of the paid period" : "",
            ], correlation: correlation)
    }
}

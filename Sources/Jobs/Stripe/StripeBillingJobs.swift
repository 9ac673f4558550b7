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

/// Enqueues the billing jobs, on the seed's `high_priority` queue (payments), as services and the HTTP API do.
public struct StripeBillingJobs: Sendable {
    public let queue: JobQueue
    public static let queueName = "high_priority"

    public init(queue: JobQueue) { self.queue = queue }

    /// A create for a tenant is unique while pending: a second request before the first ran is the same job.
    public func createSubscription(tenant: String, plan: String, correlation: String? = nil) async throws -> JobHandle {
        try await enqueue(StripeSubscriptionCreateJob(tenant: tenant, plan: plan), key: "stripe.subscription.create:\(tenant)", tenant: tenant, correlation: correlation)
    }

    public func changePlan(tenant: String, subscription: String, plan: String, correlation: String? = nil) async throws -> JobHandle {
        try await enqueue(
            StripeSubscriptionChangePlanJob(tenant: tenant, subscription: subscription, plan: plan),
            key: "stripe.subscription.change_plan:\(subscription):\(plan)", tenant: tenant, correlation: correlation)
    }

    public func cancel(tenant: String, subscription: String, atPeriodEnd: Bool, correlation: String? = nil) async throws -> JobHandle {
        try await enqueue(
            StripeSubscriptionCancelJob(tenant: tenant, subscription: subscription, atPeriodEnd: atPeriodEnd),
            key: "stripe.subscription.cancel:\(subscription):\(atPeriodEnd)", tenant: tenant, correlation: correlation)
    }

    public func resume(tenant: String, subscription: String, correlation: String? = nil) async throws -> JobHandle {
        try await enqueue(
            StripeSubscriptionResumeJob(tenant: tenant, subscription: subscription), key: "stripe.subscription.resume:\(subscription)",
            tenant: tenant, correlation: correlation)
    }

    func enqueue<J: JobPayload>(_ job: J, key: String, tenant: String, correlation: String?) async throws -> JobHandle {
        var options = EnqueueOptions(queue: Self.queueName)
        options.tenantID = tenant
        options.idempotencyKey = key
        // Long enough to fold a double click or a retried request into one job, short enough that a later, wanted
        // repeat (cancel after a resume) is its own job.
        options.idempotencyTTL = .seconds(60)
        options.correlationID = correlation
        return try await queue.enqueue(job, options: options)
    }
}

import JobKit
import Logging

/// `stripe.customer.ensure` `{"tenant", "email"}` → `{"customer": "cus_…"}`: the tenant's Stripe customer, created
/// on first need (with `metadata[tenant]`), its id stored in `stripe_customers`.
///
/// At least once, never twice: the create carries the idempotency key of this job and step, so a run repeated
/// after a crash between Stripe's answer and the store's commit gets Stripe's stored answer — the same customer —
/// and stores it.
public struct StripeCustomerEnsureJob: JobPayload {
    public static let jobName = "stripe.customer.ensure"
    public var tenant: String
    public var email: String?
    public init(tenant: String, email: String?) {
        self.tenant = tenant
        self.email = email
    }
}

/// The result of `stripe.customer.ensure`.
public struct StripeCustomerResult: Codable, Sendable, Equatable {
    public var customer: String
}

/// Runs the Stripe operation jobs on a node with `STRIPE_SECRET_KEY` and a database.
///
/// Failures: a refusal of ours (``BillingError``: unknown plan, not the tenant's, already subscribed) and Stripe's
/// final answers (a 4xx other than 409/429, a declined card with its decline code) end the job as failed with no
/// retry, Stripe's `Request-Id` in its error; Stripe's trouble (409, 429, 5xx, no answer, no rate-limit token
/// within 10 s) sends it back to `scheduled` for Stripe's `Retry-After` or 30 s, and an open `stripe` breaker
/// until its next trial, its idempotency keys unchanged.
public struct StripeJobRunner: Sendable {
    public let customers: StripeCustomers
    public let payments: PaymentService
    public let subscriptions: SubscriptionService

    public init(client: StripeClient, store: StripeStore, plans: StripePlans = StripePlans(), logger: Logger = Logger(label: "jobkit.billing")) {
        customers = StripeCustomers(client: client, store: store)
        payments = PaymentService(customers: customers, logger: logger)
        subscriptions = SubscriptionService(customers: customers, plans: plans, logger: logger)
    }

    public var client: StripeClient { customers.client }
    public var store: StripeStore { customers.store }

    public static let jobNames = [
        StripeCustomerEnsureJob.jobName, StripeSubscriptionCreateJob.jobName, StripeSubscriptionChangePlanJob.jobName,
        StripeSubscriptionCancelJob.jobName, StripeSubscriptionResumeJob.jobName, StripePaymentMethodAttachJob.jobName,
        StripePaymentMethodDetachJob.jobName, StripeSubscriptionsReconcileJob.jobName,
    ]

    public func register(in registry: JobRegistry) {
        let timeout = Duration.seconds(120)
        registry.register(StripeCustomerEnsureJob.self, timeout: timeout, returning: StripeCustomerResult.self) { job, context in
            try await Self.mapped {
                StripeCustomerResult(
                    customer: try await customers.ensure(
                        tenant: job.tenant, email: job.email,
                        idempotencyKey: StripeClient.idempotencyKey(job: context.id, step: "customer.create"), logger: context.logger))
            }
        }
        registry.register(StripeSubscriptionCreateJob.self, timeout: timeout, returning: StripeStore.SubscriptionRow.self) { job, context in
            try await Self.mapped { try await subscriptions.create(tenant: job.tenant, plan: job.plan, operation: context.id) }
        }
        registry.register(StripeSubscriptionChangePlanJob.self, timeout: timeout, returning: StripeStore.SubscriptionRow.self) { job, context in
            try await Self.told(context) {
                try await subscriptions.changePlan(tenant: job.tenant, subscription: job.subscription, to: job.plan, operation: context.id)
            }
        }
        registry.register(StripeSubscriptionCancelJob.self, timeout: timeout, returning: StripeStore.SubscriptionRow.self) { job, context in
            try await Self.told(context) {
                try await subscriptions.cancel(
                    tenant: job.tenant, subscription: job.subscription, atPeriodEnd: job.atPeriodEnd, operation: context.id)
            }
        }
        registry.register(StripeSubscriptionResumeJob.self, timeout: timeout, returning: StripeStore.SubscriptionRow.self) { job, context in
            try await Self.told(context) { try await subscriptions.resume(tenant: job.tenant, subscription: job.subscription, operation: context.id) }
        }
        registry.register(StripePaymentMethodAttachJob.self, timeout: timeout) { job, context in
            try await Self.mapped {
                try await payments.attach(
                    tenant: job.tenant, paymentMethod: job.paymentMethod, makeDefault: job.makeDefault ?? true, operation: context.id)
            }
        }
        registry.register(StripeSubscriptionsReconcileJob.self, timeout: .seconds(1800), returning: SubscriptionService.ReconcileResult.self) {
            _, context in
            try await Self.mapped { try await subscriptions.reconcile(logger: context.logger) }
        }
        registry.register(StripePaymentMethodDetachJob.self, timeout: timeout) { job, context in
            try await Self.mapped { try await payments.detach(tenant: job.tenant, paymentMethod: job.paymentMethod, operation: context.id) }
        }
    }

    /// Registers the jobs on a node that cannot run them: back to `scheduled` for a minute with the reason.
    public static func registerUnavailable(in registry: JobRegistry, reason: String) {
        for name in jobNames {
            registry.registerRaw(name) { _, _ in throw JobRetryLater(after: .seconds(60), reason: reason) }
        }
    }

    /// Runs a subscription change and tells the tenant (`subscription_changed`) what its subscription is now.
    static func told(_ context: JobContext, _ body: () async throws -> StripeStore.SubscriptionRow) async throws -> StripeStore.SubscriptionRow {
        let row = try await mapped(body)
        try await SubscriptionChangeNotice.enqueue(
            on: JobQueue(redis: context.redis, namespace: context.namespace, logger: context.logger), tenant: row.tenant,
            subscription: row.subscription, plan: row.plan, status: row.status, cancelAtPeriodEnd: row.cancelAtPeriodEnd,
            correlation: context.correlationID)
        return row
    }

    /// Runs an operation, turning refusals into final failures and Stripe's trouble into a later run.
    static func mapped<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as BillingError {
            throw JobFatalError(error.description)
        } catch let error as StripeAPIError where !error.isRetryable {
            throw JobFatalError(error.description)
        } catch let error as StripeAPIError {
            throw JobRetryLater(after: .seconds(error.retryAfter.map { max(1, min($0, 300)) } ?? 30), reason: error.description)
        } catch let error as CircuitOpenError {
            // Stripe is failing for everyone: wait for the breaker's next trial, spending no attempt.
            throw JobRetryLater(after: max(error.retryAfter, .seconds(1)), reason: error.description)
        }
    }
}

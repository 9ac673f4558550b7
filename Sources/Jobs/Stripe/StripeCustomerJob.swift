import JobKit

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
public struct StripeJobRunner: Sendable {
    public let client: StripeClient
    public let store: StripeStore

    public init(client: StripeClient, store: StripeStore) {
        self.client = client
        self.store = store
    }

    public static let jobNames = [StripeCustomerEnsureJob.jobName]

    public func register(in registry: JobRegistry) {
        registry.register(StripeCustomerEnsureJob.self, timeout: .seconds(120), returning: StripeCustomerResult.self) { job, context in
            try await ensureCustomer(job, context)
        }
    }

    /// Registers the jobs on a node that cannot run them: back to `scheduled` for a minute with the reason.
    public static func registerUnavailable(in registry: JobRegistry, reason: String) {
        for name in jobNames {
            registry.registerRaw(name) { _, _ in throw JobRetryLater(after: .seconds(60), reason: reason) }
        }
    }

    func ensureCustomer(_ job: StripeCustomerEnsureJob, _ context: JobContext) async throws -> StripeCustomerResult {
        guard !job.tenant.isEmpty else { throw JobFatalError("tenant must not be empty") }
        if let existing = try await store.customer(tenant: job.tenant) { return StripeCustomerResult(customer: existing) }
        let customer: StripeCustomer
        do {
            customer = try await client.createCustomer(
                email: job.email, metadata: ["tenant": job.tenant],
                idempotencyKey: StripeClient.idempotencyKey(job: context.id, step: "customer.create"))
        } catch let error as StripeAPIError where !error.isRetryable {
            throw JobFatalError(error.description)
        } catch let error as StripeAPIError {
            throw JobRetryLater(after: .seconds(error.retryAfter.map { max(1, min($0, 300)) } ?? 30), reason: error.description)
        }
        try await store.linkCustomer(tenant: job.tenant, customer: customer.id, email: job.email)
        // The first link stands: a concurrent ensure of the same tenant may have linked another customer first.
        let linked = try await store.customer(tenant: job.tenant) ?? customer.id
        context.logger.info("Stripe customer ensured", metadata: ["tenant": "\(job.tenant)", "stripe.customer": "\(linked)"])
        return StripeCustomerResult(customer: linked)
    }
}

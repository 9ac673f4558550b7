import Logging

/// One Stripe customer per tenant, created on first need with `metadata[tenant]`, its id kept in
/// `stripe_customers`. Used by `stripe.customer.ensure` and by every operation that needs the customer.
public struct StripeCustomers: Sendable {
    public let client: StripeClient
    public let store: StripeStore

    public init(client: StripeClient, store: StripeStore) {
        self.client = client
        self.store = store
    }

    /// The tenant's customer: the stored one, else one created with `idempotencyKey` (a re-run with the same key
    /// gets Stripe's stored answer, the same customer) and stored. If a concurrent call linked another customer
    /// first, that one stands and is returned.
    public func ensure(tenant: String, email: String?, idempotencyKey: String, logger: Logger) async throws -> String {
        guard !tenant.isEmpty else { throw BillingError.invalid("tenant must not be empty") }
        if let existing = try await store.customer(tenant: tenant) { return existing }
        let customer = try await client.createCustomer(email: email, metadata: ["tenant": tenant], idempotencyKey: idempotencyKey)
        try await store.linkCustomer(tenant: tenant, customer: customer.id, email: email)
        let linked = try await store.customer(tenant: tenant) ?? customer.id
        logger.info("Stripe customer ensured", metadata: ["tenant": "\(tenant)", "stripe.customer": "\(linked)"])
        return linked
    }

    /// The tenant's customer, which must exist.
    public func existing(tenant: String) async throws -> String {
        guard let customer = try await store.customer(tenant: tenant) else { throw BillingError.noCustomer(tenant) }
        return customer
    }
}

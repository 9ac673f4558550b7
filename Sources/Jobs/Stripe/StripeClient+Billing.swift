import Foundation

// The calls behind setup intents, payment methods, subscriptions and the billing portal. Every POST carries the
// idempotency key its caller derived from the job (or request) and step; ids in paths are escaped.

extension StripeClient {
    static func pathID(_ id: String) -> String {
        id.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "_-"))) ?? id
    }

    // MARK: Setup intents and payment methods

    /// A setup intent for the customer's next card, to be confirmed by Stripe.js in the customer's browser.
    public func createSetupIntent(customer: String, metadata: [String: String], idempotencyKey: String) async throws -> StripeSetupIntent {
        var form = StripeForm()
        form.add("customer", .string(customer))
        form.add("payment_method_types", .array([.string("card")]))
        form.add("usage", "off_session")
        form.add("metadata", Self.metadata(metadata))
        return try await send("POST", "/v1/setup_intents", form: form, idempotencyKey: idempotencyKey)
    }

    /// The customer's card payment methods (up to 100, newest first).
    public func paymentMethods(customer: String) async throws -> StripeList<StripePaymentMethod> {
        try await send(
            "GET", "/v1/payment_methods", form: StripeForm([("customer", .string(customer)), ("type", "card"), ("limit", "100")]),
            idempotencyKey: nil)
    }

    public func paymentMethod(_ id: String) async throws -> StripePaymentMethod {
        try await send("GET", "/v1/payment_methods/\(Self.pathID(id))", form: StripeForm(), idempotencyKey: nil)
    }

    public func attachPaymentMethod(_ id: String, customer: String, idempotencyKey: String) async throws -> StripePaymentMethod {
        try await send(
            "POST", "/v1/payment_methods/\(Self.pathID(id))/attach", form: StripeForm([("customer", .string(customer))]),
            idempotencyKey: idempotencyKey)
    }

    public func detachPaymentMethod(_ id: String, idempotencyKey: String) async throws -> StripePaymentMethod {
        try await send("POST", "/v1/payment_methods/\(Self.pathID(id))/detach", form: StripeForm(), idempotencyKey: idempotencyKey)
    }

    /// Makes the payment method the customer's default for invoices (`invoice_settings.default_payment_method`).
    public func setDefaultPaymentMethod(customer: String, paymentMethod: String, idempotencyKey: String) async throws -> StripeCustomer {
        try await send(
            "POST", "/v1/customers/\(Self.pathID(customer))",
            form: StripeForm([("invoice_settings", .dictionary([("default_payment_method", .string(paymentMethod))]))]),
            idempotencyKey: idempotencyKey)
    }

    // MARK: Subscriptions

    /// A subscription of the customer to one price, charged to the customer's default payment method.
    public func createSubscription(
        customer: String, price: String, metadata: [String: String], idempotencyKey: String
    ) async throws -> StripeResponse<StripeSubscription> {
        var form = StripeForm()
        form.add("customer", .string(customer))
        form.add("items", .array([.dictionary([("price", .string(price))])]))
        form.add("metadata", Self.metadata(metadata))
        return try await call("POST", "/v1/subscriptions", form: form, idempotencyKey: idempotencyKey)
    }

    /// The customer's subscriptions that are not canceled (Stripe's default list), up to 100.
    public func subscriptions(customer: String) async throws -> StripeResponse<StripeList<StripeSubscription>> {
        try await call(
            "GET", "/v1/subscriptions", form: StripeForm([("customer", .string(customer)), ("limit", "100")]), idempotencyKey: nil)
    }

    public func subscription(_ id: String) async throws -> StripeResponse<StripeSubscription> {
        try await call("GET", "/v1/subscriptions/\(Self.pathID(id))", form: StripeForm(), idempotencyKey: nil)
    }

    /// Moves the subscription's item to another price, prorated as configured (`proration_behavior`).
    public func changeSubscriptionPrice(
        _ id: String, item: String, price: String, idempotencyKey: String
    ) async throws -> StripeResponse<StripeSubscription> {
        var form = StripeForm()
        form.add("items", .array([.dictionary([("id", .string(item)), ("price", .string(price))])]))
        form.add("proration_behavior", .string(configuration.prorationBehavior))
        return try await call("POST", "/v1/subscriptions/\(Self.pathID(id))", form: form, idempotencyKey: idempotencyKey)
    }

    /// Cancels at the end of the paid period (`true`), or takes that back (`false`: the resume of a
    /// cancel-at-period-end).
    public func setCancelAtPeriodEnd(_ id: String, _ atPeriodEnd: Bool, idempotencyKey: String) async throws -> StripeResponse<StripeSubscription> {
        try await call(
            "POST", "/v1/subscriptions/\(Self.pathID(id))", form: StripeForm([("cancel_at_period_end", .string(atPeriodEnd ? "true" : "false"))]),
            idempotencyKey: idempotencyKey)
    }

    /// Cancels now (`DELETE /v1/subscriptions/{id}`). Stripe does not replay a DELETE by its key: a repeat after
    /// a lost answer gets 404 (the subscription is canceled).
    public func cancelSubscription(_ id: String, idempotencyKey: String) async throws -> StripeResponse<StripeSubscription> {
        try await call("DELETE", "/v1/subscriptions/\(Self.pathID(id))", form: StripeForm(), idempotencyKey: idempotencyKey)
    }

    // MARK: Billing portal

    public func createPortalSession(customer: String, returnURL: String, idempotencyKey: String) async throws -> StripePortalSession {
        try await send(
            "POST", "/v1/billing_portal/sessions", form: StripeForm([("customer", .string(customer)), ("return_url", .string(returnURL))]),
            idempotencyKey: idempotencyKey)
    }

    static func metadata(_ values: [String: String]) -> StripeParam? {
        values.isEmpty ? nil : .dictionary(values.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })
    }
}

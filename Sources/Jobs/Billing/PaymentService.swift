import Foundation
import Logging

/// A tenant's cards: setup intents for the front end (Stripe.js confirms them in the customer's browser; the card
/// number never reaches us), the list of payment methods, attach, detach and the default for invoices.
///
/// Every call that changes something takes an `operation`: the idempotency keys of its Stripe requests are derived
/// from it, so repeating a call with the same operation (a retried HTTP request with its `Idempotency-Key`, a re-run
/// job) makes nothing twice. Payment methods of another tenant's customer are ``BillingError/notFound(_:)``.
public struct PaymentService: Sendable {
    public let customers: StripeCustomers
    let logger: Logger

    public init(customers: StripeCustomers, logger: Logger = Logger(label: "jobkit.billing")) {
        self.customers = customers
        self.logger = logger
    }

    var client: StripeClient { customers.client }

    /// What the front end needs to collect a card: the setup intent's client secret and the publishable key.
    public struct SetupIntentSecret: Sendable, Codable, Equatable {
        public var setupIntent: String
        public var clientSecret: String
        public var publishableKey: String?
        public var customer: String
    }

    /// A payment method as a tenant may see it.
    public struct PaymentMethodSummary: Sendable, Codable, Equatable {
        public var id: String
        public var type: String
        public var brand: String?
        public var last4: String?
        public var expMonth: Int?
        public var expYear: Int?
        public var isDefault: Bool
    }

    /// A setup intent for the tenant's next card (`usage=off_session`: subscriptions charge it later), the
    /// tenant's customer created first if needed.
    public func createSetupIntent(tenant: String, operation: String = UUID().uuidString) async throws -> SetupIntentSecret {
        let customer = try await customers.ensure(
            tenant: tenant, email: nil, idempotencyKey: StripeClient.idempotencyKey(job: operation, step: "customer.create"), logger: logger)
        let intent = try await client.createSetupIntent(
            customer: customer, metadata: ["tenant": tenant],
            idempotencyKey: StripeClient.idempotencyKey(job: operation, step: "setup_intent.create"))
        guard let secret = intent.clientSecret else {
            throw StripeAPIError(method: "POST", path: "/v1/setup_intents", status: 200, transport: "the setup intent has no client_secret")
        }
        return SetupIntentSecret(
            setupIntent: intent.id, clientSecret: secret, publishableKey: client.configuration.publishableKey, customer: customer)
    }

    /// The tenant's cards (none when the tenant has no customer yet), the default marked.
    public func paymentMethods(tenant: String) async throws -> [PaymentMethodSummary] {
        guard let customer = try await customers.store.customer(tenant: tenant) else { return [] }
        async let methods = client.paymentMethods(customer: customer)
        async let owner = client.customer(customer)
        let defaultMethod = try await owner.defaultPaymentMethod
        return try await methods.data.map {
            PaymentMethodSummary(
                id: $0.id, type: $0.type, brand: $0.card?.brand, last4: $0.card?.last4, expMonth: $0.card?.expMonth,
                expYear: $0.card?.expYear, isDefault: $0.id == defaultMethod)
        }
    }

    /// Attaches a payment method (made by Stripe.js, not yet anyone's) to the tenant's customer, and makes it the
    /// default for invoices when asked. One the tenant already has is fine; another customer's is not found.
    public func attach(tenant: String, paymentMethod: String, makeDefault: Bool, operation: String = UUID().uuidString) async throws {
        let method = try await find(paymentMethod)
        // Another customer's card is refused before anything is made for this tenant.
        if let owner = method.customer, try await customers.store.customer(tenant: tenant) != owner {
            throw BillingError.notFound("payment method \(paymentMethod)")
        }
        let customer = try await customers.ensure(
            tenant: tenant, email: nil, idempotencyKey: StripeClient.idempotencyKey(job: operation, step: "customer.create"), logger: logger)
        switch method.customer {
        case customer: break
        case nil:
            _ = try await client.attachPaymentMethod(
                paymentMethod, customer: customer, idempotencyKey: StripeClient.idempotencyKey(job: operation, step: "payment_method.attach"))
        default: throw BillingError.notFound("payment method \(paymentMethod)")
        }
        if makeDefault { try await setDefault(tenant: tenant, paymentMethod: paymentMethod, operation: operation) }
        logger.info("payment method attached", metadata: ["tenant": "\(tenant)", "stripe.payment_method": "\(paymentMethod)"])
    }

    /// Detaches one of the tenant's payment methods (one already detached is fine).
    public func detach(tenant: String, paymentMethod: String, operation: String = UUID().uuidString) async throws {
        let customer = try await customers.existing(tenant: tenant)
        let method = try await find(paymentMethod)
        guard method.customer == customer || method.customer == nil else { throw BillingError.notFound("payment method \(paymentMethod)") }
        guard method.customer != nil else { return }
        _ = try await client.detachPaymentMethod(paymentMethod, idempotencyKey: StripeClient.idempotencyKey(job: operation, step: "payment_method.detach"))
        logger.info("payment method detached", metadata: ["tenant": "\(tenant)", "stripe.payment_method": "\(paymentMethod)"])
    }

    /// Makes one of the tenant's payment methods the default for invoices (`invoice_settings.default_payment_method`).
    public func setDefault(tenant: String, paymentMethod: String, operation: String = UUID().uuidString) async throws {
        let customer = try await customers.existing(tenant: tenant)
        guard try await find(paymentMethod).customer == customer else { throw BillingError.notFound("payment method \(paymentMethod)") }
        _ = try await client.setDefaultPaymentMethod(
            customer: customer, paymentMethod: paymentMethod, idempotencyKey: StripeClient.idempotencyKey(job: operation, step: "customer.default_payment_method"))
    }

    /// The payment method, or not found (Stripe's 404 says nothing more).
    func find(_ id: String) async throws -> StripePaymentMethod {
        guard !id.isEmpty else { throw BillingError.invalid("paymentMethod must not be empty") }
        do {
            return try await client.paymentMethod(id)
        } catch let error as StripeAPIError where error.status == 404 {
            throw BillingError.notFound("payment method \(id)")
        }
    }
}

import Foundation
import Logging

/// Stripe's hosted billing portal: a short-lived session URL where the tenant manages cards, invoices and its
/// plan, coming back to `returnURL`.
public struct BillingPortal: Sendable {
    public let customers: StripeCustomers
    let logger: Logger

    public init(customers: StripeCustomers, logger: Logger = Logger(label: "jobkit.billing")) {
        self.customers = customers
        self.logger = logger
    }

    /// The URL of a new portal session for the tenant's customer (created first if needed).
    ///
    /// - Throws: ``BillingError/invalid(_:)`` for a return URL that is not absolute http(s).
    public func createSession(tenant: String, returnURL: String, operation: String = UUID().uuidString) async throws -> String {
        guard let url = URL(string: returnURL), ["https", "http"].contains(url.scheme?.lowercased() ?? ""), url.host != nil else {
            throw BillingError.invalid("returnUrl must be an absolute http(s) URL")
        }
        let customer = try await customers.ensure(
            tenant: tenant, email: nil, idempotencyKey: StripeClient.idempotencyKey(job: operation, step: "customer.create"), logger: logger)
        let session = try await customers.client.createPortalSession(
            customer: customer, returnURL: returnURL, idempotencyKey: StripeClient.idempotencyKey(job: operation, step: "portal_session.create"))
        return session.url
    }
}

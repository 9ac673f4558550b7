import Foundation
import JobKit
import Logging
import NIOCore
import PostgresNIO

/// The Stripe half of the PostgreSQL store: tenants' customers, subscriptions, invoices and the ledger of Stripe
/// events. Tenant data is read per tenant; ``subscriptions(tenant:)`` without a tenant and ``events(limit:)`` are
/// the operators' views (`jobnode billing`).
public struct StripeStore: Sendable {
    public let database: StoreDatabase
    let logger: Logger

    public init(database: StoreDatabase, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    var client: PostgresClient { database.client }

    /// A `subscriptions` row (`jobnode billing subscriptions --json`).
    public struct SubscriptionRow: Sendable, Codable, Equatable {
        public var subscription: String
        public var tenant: String
        public var customer: String
        @Nullable public var plan: String?
        public var status: String
        @Nullable public var currentPeriodEndMs: Int64?
        public var cancelAtPeriodEnd: Bool

    }

    /// A `stripe_events` row (`jobnode billing events --json`).
    public struct EventRow: Sendable, Codable, Equatable {
        public var event: String
        public var type: String
        public var receivedAtMs: Int64
        @Nullable public var processedAtMs: Int64?
        @Nullable public var outcome: String?

    }

    /// Subscriptions of one tenant, or of all (operators).
    public func subscriptions(tenant: String?) async throws -> [SubscriptionRow] {
        var out: [SubscriptionRow] = []
        for try await (id, t, customer, plan, status, end, atEnd) in try await client.query(
            """
            SELECT subscription_id, tenant_id, customer_id, plan, status, (extract(epoch FROM current_period_end) * 1000)::bigint,
                   cancel_at_period_end
            FROM subscriptions WHERE (\(tenant)::text IS NULL OR tenant_id = \(tenant)) ORDER BY tenant_id, subscription_id
            """, logger: logger
        ).decode((String, String, String, String?, String, Int64?, Bool).self) {
            out.append(SubscriptionRow(subscription: id, tenant: t, customer: customer, plan: plan, status: status, currentPeriodEndMs: end, cancelAtPeriodEnd: atEnd))
        }
        return out
    }

    /// One of the tenant's subscriptions; nil when the tenant has no such subscription (another tenant's included).
    public func subscription(_ id: String, tenant: String) async throws -> SubscriptionRow? {
        try await subscriptions(tenant: tenant).first { $0.subscription == id }
    }

    /// Serializes the tenant's subscription changes until the transaction ends (two creates cannot both see none).
    func lockBilling(tenant: String, on c: PostgresConnection) async throws {
        try await c.query("SELECT pg_advisory_xact_lock(hashtextextended('stripe.billing:' || \(tenant), 0))", logger: logger)
    }

    /// Writes a subscription's state as an API call returned it, stamped with Stripe's time of the answer: an event
    /// created before it does not overwrite it, one created after it does.
    @discardableResult
    func recordSubscription(
        _ s: StripeSubscription, tenant: String, plan: String?, requestID: String?, asOf: Int, on c: PostgresConnection
    ) async throws -> Bool {
        try await c.query("INSERT INTO tenants (id) VALUES (\(tenant)) ON CONFLICT (id) DO NOTHING", logger: logger)
        return try await applySubscription(s, tenant: tenant, plan: plan, eventID: "api:\(requestID ?? "-")", created: asOf, on: c)
    }

    /// The last `limit` events received, newest first.
    public func events(limit: Int) async throws -> [EventRow] {
        var out: [EventRow] = []
        for try await (id, type, received, processed, outcome) in try await client.query(
            """
            SELECT event_id, type, (extract(epoch FROM received_at) * 1000)::bigint, (extract(epoch FROM processed_at) * 1000)::bigint, outcome
            FROM stripe_events ORDER BY received_at DESC, event_id LIMIT \(limit)
            """, logger: logger
        ).decode((String, String, Int64, Int64?, String?).self) {
            out.append(EventRow(event: id, type: type, receivedAtMs: received, processedAtMs: processed, outcome: outcome))
        }
        return out
    }

    /// Whether the tenant is past due (its last invoice payment failed).
    public func isPastDue(tenant: String) async throws -> Bool {
        for try await (pastDue,) in try await client.query("SELECT past_due FROM tenants WHERE id = \(tenant)", logger: logger)
            .decode((Bool,).self)
        {
            return pastDue
        }
        return false
    }

    /// The tenant's invoices: id, status, amount paid (minor units), currency.
    public func invoices(tenant: String) async throws -> [(id: String, status: String?, amountPaid: Int64, currency: String?)] {
        var out: [(String, String?, Int64, String?)] = []
        for try await row in try await client.query(
            "SELECT invoice_id, status, amount_paid, currency FROM invoices WHERE tenant_id = \(tenant) ORDER BY invoice_id", logger: logger
        ).decode((String, String?, Int64, String?).self) {
            out.append(row)
        }
        return out.map { (id: $0.0, status: $0.1, amountPaid: $0.2, currency: $0.3) }
    }

    /// The tenant's Stripe customer id, if linked.
    public func customer(tenant: String) async throws -> String? {
        for try await (id,) in try await client.query(
            "SELECT customer_id FROM stripe_customers WHERE tenant_id = \(tenant) AND NOT deleted", logger: logger
        ).decode((String,).self) {
            return id
        }
        return nil
    }

    /// Links a tenant to its Stripe customer. The first link stands, unless its customer was deleted at Stripe
    /// (`customer.deleted`): then the new customer replaces it.
    public func linkCustomer(tenant: String, customer: String, email: String?) async throws {
        try await client.query("INSERT INTO tenants (id) VALUES (\(tenant)) ON CONFLICT (id) DO NOTHING", logger: logger)
        try await client.query(
            """
            INSERT INTO stripe_customers (tenant_id, customer_id, email) VALUES (\(tenant), \(customer), \(email))
            ON CONFLICT (tenant_id) DO UPDATE SET customer_id = EXCLUDED.customer_id, email = EXCLUDED.email, deleted = false,
              created_at = now()
            WHERE stripe_customers.deleted
            """, logger: logger)
    }

    /// Whether the subscription's row was last written from an API answer stamped `created` (an event of the same
    /// second cannot be ordered against it).
    func isTieWithAnswer(subscription: String, created: Int, on c: PostgresConnection) async throws -> Bool {
        for try await (tie,) in try await c.query(
            """
            SELECT last_event_created = \(created) AND last_event_id LIKE 'api:%' FROM subscriptions WHERE subscription_id = \(subscription)
            """, logger: logger
        ).decode((Bool,).self) {
            return tie
        }
        return false
    }

    // MARK: Inside an event's transaction

    /// Records the event in the ledger and locks its row; returns its outcome if it was already processed.
    func claimEvent(_ id: String, type: String, created: Int, object: String?, jobID: String, on c: PostgresConnection) async throws -> String? {
        try await c.query(
            """
            INSERT INTO stripe_events (event_id, type, created, object_id, job_id) VALUES (\(id), \(type), \(created), \(object), \(jobID))
            ON CONFLICT (event_id) DO NOTHING
            """, logger: logger)
        for try await (processed, outcome) in try await c.query(
            "SELECT processed_at IS NOT NULL, outcome FROM stripe_events WHERE event_id = \(id) FOR UPDATE", logger: logger
        ).decode((Bool, String?).self) {
            return processed ? (outcome ?? "processed") : nil
        }
        return nil
    }

    func finishEvent(_ id: String, outcome: String, tenant: String?, on c: PostgresConnection) async throws {
        try await c.query(
            "UPDATE stripe_events SET processed_at = now(), outcome = \(outcome), tenant_id = \(tenant) WHERE event_id = \(id)",
            logger: logger)
    }

    /// The tenant of a customer: the stored link, else `metadata.tenant` (then linked).
    func tenant(customer: String, metadata: [String: String], on c: PostgresConnection) async throws -> String? {
        for try await (tenant,) in try await c.query(
            "SELECT tenant_id FROM stripe_customers WHERE customer_id = \(customer)", logger: logger
        ).decode((String,).self) {
            return tenant
        }
        guard let tenant = metadata["tenant"], !tenant.isEmpty else { return nil }
        try await c.query("INSERT INTO tenants (id) VALUES (\(tenant)) ON CONFLICT (id) DO NOTHING", logger: logger)
        try await c.query(
            "INSERT INTO stripe_customers (tenant_id, customer_id) VALUES (\(tenant), \(customer)) ON CONFLICT DO NOTHING", logger: logger)
        return tenant
    }

    /// Writes a subscription's state from an event unless the row holds a newer event's (Stripe does not order
    /// deliveries). At equal creation seconds, a canceled row stays canceled. Returns whether it was written.
    func applySubscription(
        _ s: StripeSubscription, tenant: String, plan: String?, eventID: String, created: Int, on c: PostgresConnection
    ) async throws -> Bool {
        let rows = try await c.query(
            """
            INSERT INTO subscriptions (subscription_id, tenant_id, customer_id, plan, price_id, status, current_period_end,
                                       cancel_at_period_end, canceled_at, last_event_id, last_event_created)
            VALUES (\(s.id), \(tenant), \(s.customer), \(plan), \(s.priceID), \(s.status),
                    to_timestamp(\(s.currentPeriodEnd.map(Double.init))), \(s.cancelAtPeriodEnd),
                    to_timestamp(\(s.canceledAt.map(Double.init))), \(eventID), \(created))
            ON CONFLICT (subscription_id) DO UPDATE SET plan = EXCLUDED.plan, price_id = EXCLUDED.price_id,
              status = EXCLUDED.status, current_period_end = EXCLUDED.current_period_end,
              cancel_at_period_end = EXCLUDED.cancel_at_period_end, canceled_at = EXCLUDED.canceled_at,
              last_event_id = EXCLUDED.last_event_id, last_event_created = EXCLUDED.last_event_created, updated_at = now()
            WHERE subscriptions.last_event_created < EXCLUDED.last_event_created
               OR (subscriptions.last_event_created = EXCLUDED.last_event_created AND subscriptions.status <> 'canceled')
            RETURNING subscription_id
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }

    /// Writes an invoice from an event unless the row holds a newer event's. Returns whether it was written.
    func applyInvoice(_ i: StripeInvoice, tenant: String, created: Int, on c: PostgresConnection) async throws -> Bool {
        let rows = try await c.query(
            """
            INSERT INTO invoices (invoice_id, tenant_id, subscription_id, status, amount_due, amount_paid, currency,
                                  hosted_invoice_url, last_event_created)
            VALUES (\(i.id), \(tenant), \(i.subscription), \(i.status), \(i.amountDue), \(i.amountPaid), \(i.currency),
                    \(i.hostedInvoiceURL), \(created))
            ON CONFLICT (invoice_id) DO UPDATE SET subscription_id = COALESCE(EXCLUDED.subscription_id, invoices.subscription_id),
              status = EXCLUDED.status, amount_due = EXCLUDED.amount_due, amount_paid = EXCLUDED.amount_paid,
              currency = EXCLUDED.currency, hosted_invoice_url = EXCLUDED.hosted_invoice_url,
              last_event_created = EXCLUDED.last_event_created, updated_at = now()
            WHERE invoices.last_event_created <= EXCLUDED.last_event_created
            RETURNING invoice_id
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }

    /// Sets the tenant's standing from a payment event, unless a newer payment event already set it.
    func setPastDue(_ tenant: String, _ pastDue: Bool, asOf created: Int, on c: PostgresConnection) async throws {
        try await c.query(
            """
            UPDATE tenants SET past_due = \(pastDue), past_due_event_created = \(created)
            WHERE id = \(tenant) AND past_due_event_created <= \(created)
            """, logger: logger)
    }

    func markCustomerDeleted(_ customer: String, on c: PostgresConnection) async throws {
        try await c.query("UPDATE stripe_customers SET deleted = true WHERE customer_id = \(customer)", logger: logger)
    }
}

import Foundation
import JobKit
import Logging
import PostgresNIO

/// Applies Stripe events to the store, exactly once in effect: each event's ledger row (`stripe_events`, keyed by
/// event id), its effects and its outcome commit in one transaction, and a re-run finds the row processed and does
/// nothing. Stripe does not order deliveries: subscription and invoice rows keep the creation time of the event
/// that wrote them, and an older event does not overwrite them; an event of the same second as an API answer that
/// wrote the row is settled by fetching the subscription from Stripe (when the node has a key).
///
/// Handled: `customer.subscription.created|updated|deleted` (subscription rows), `invoice.payment_succeeded|paid`
/// (invoice row; the tenant is no longer past due; a `payment_succeeded` notification, one per invoice),
/// `invoice.payment_failed` (invoice row; the tenant is past due; a `payment_failed` notification, one per event),
/// `customer.deleted`, `setup_intent.succeeded`, `payment_method.attached|detached` (recorded). Others are recorded
/// as `ignored`; events of customers no tenant has as `unknown_customer`.
public struct StripeEventHandler: Sendable {
    public let store: StripeStore
    public let plans: StripePlans
    public let queue: JobQueue
    /// With one (a node with `STRIPE_SECRET_KEY`), an event that cannot be ordered against the row (same second as
    /// the API answer that wrote it) is settled by Stripe's current object.
    public let client: StripeClient?

    public init(store: StripeStore, plans: StripePlans, queue: JobQueue, client: StripeClient? = nil) {
        self.store = store
        self.plans = plans
        self.queue = queue
        self.client = client
    }

    public func register(in registry: JobRegistry) {
        registry.register(StripeEventJob.self, timeout: .seconds(60), returning: String.self) { job, context in
            try await handle(job, context)
        }
    }

    /// Handles one event; returns its outcome (`applied`, `stale`, `recorded`, `ignored`, `unknown_customer`, or
    /// the first run's outcome for a re-run).
    public func handle(_ job: StripeEventJob, _ context: JobContext) async throws -> String {
        let body = Data(job.body.utf8)
        let envelope: StripeEventEnvelope
        do {
            envelope = try JSONDecoder().decode(StripeEventEnvelope.self, from: body)
        } catch {
            throw JobFatalError("Stripe event \(job.event) does not decode: \(error)")
        }
        var logger = context.logger
        logger[metadataKey: "stripe.event"] = "\(envelope.id)"
        logger[metadataKey: "stripe.event_type"] = "\(envelope.type)"
        let (outcome, tenant): (String, String?) = try await store.database.transaction(logger: logger) { c in
            if let done = try await store.claimEvent(
                envelope.id, type: envelope.type, created: envelope.created, object: envelope.data.object.id, jobID: context.id, on: c)
            {
                return ("duplicate:\(done)", nil)
            }
            let (outcome, tenant) = try await apply(envelope, body: body, on: c, context: context)
            try await store.finishEvent(envelope.id, outcome: outcome, tenant: tenant, on: c)
            return (outcome, tenant)
        }
        if let tenant { logger[metadataKey: "tenant"] = "\(tenant)" }
        logger.info("Stripe event handled", metadata: ["outcome": "\(outcome)"])
        return outcome
    }

    func apply(_ e: StripeEventEnvelope, body: Data, on c: PostgresConnection, context: JobContext) async throws -> (String, String?) {
        switch e.type {
        case "customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted":
            var s = try decode(StripeSubscription.self, body, e)
            guard let tenant = try await store.tenant(customer: s.customer, metadata: s.metadata, on: c) else { return try unknownCustomer(e) }
            var stamp = e.created
            if let client, e.type != "customer.subscription.deleted",
                try await store.isTieWithAnswer(subscription: s.id, created: e.created, on: c)
            {
                // Written from an API answer in this same second: which came first is unknown, so ask Stripe.
                let now = try await client.subscription(s.id)
                s = now.value
                stamp = max(now.date ?? e.created, e.created)
            }
            let written = try await store.applySubscription(
                s, tenant: tenant, plan: plans.plan(forPrice: s.priceID), eventID: e.id, created: stamp, on: c)
            // A plan or status change (Stripe lists what changed in `previous_attributes`) is told to the tenant.
            if written, e.type == "customer.subscription.updated",
                let changed = try? JSONDecoder().decode(StripePreviousAttributes.self, from: body).keys,
                !changed.isDisjoint(with: ["items", "plan", "status", "cancel_at_period_end"])
            {
                try await SubscriptionChangeNotice.enqueue(
                    on: queue, tenant: tenant, subscription: s.id, plan: plans.plan(forPrice: s.priceID), status: s.status,
                    cancelAtPeriodEnd: s.cancelAtPeriodEnd, correlation: context.correlationID)
            }
            return (written ? "applied" : "stale", tenant)
        case "invoice.payment_succeeded", "invoice.paid", "invoice.payment_failed":
            let i = try decode(StripeInvoice.self, body, e)
            guard let tenant = try await store.tenant(customer: i.customer, metadata: [:], on: c) else { return try unknownCustomer(e) }
            let written = try await store.applyInvoice(i, tenant: tenant, created: e.created, on: c)
            let failed = e.type == "invoice.payment_failed"
            guard written else { return ("stale", tenant) }
            try await store.setPastDue(tenant, failed, asOf: e.created, on: c)
            // Enqueued inside the transaction: a rollback re-runs the job, whose enqueue is the same notification.
            try await notify(
                tenant: tenant, kind: failed ? "payment_failed" : "payment_succeeded",
                id: failed ? "stripe:\(e.id)" : "stripe:\(i.id):payment_succeeded",
                data: ["invoice": i.id, "amountDue": "\(i.amountDue)", "amountPaid": "\(i.amountPaid)", "currency": i.currency],
                correlation: context.correlationID)
            return ("applied", tenant)
        case "customer.deleted":
            let customer = try decode(StripeCustomer.self, body, e)
            try await store.markCustomerDeleted(customer.id, on: c)
            return ("applied", try await store.tenant(customer: customer.id, metadata: customer.metadata, on: c))
        case "setup_intent.succeeded", "payment_method.attached", "payment_method.detached":
            let owned = try decode(StripeCustomerOwned.self, body, e)
            let tenant = try await owned.customer.asyncFlatMap { try await store.tenant(customer: $0, metadata: [:], on: c) }
            return ("recorded", tenant)
        default:
            return ("ignored", nil)
        }
    }

    /// An event of a customer no tenant has (yet): while the event is under an hour old it waits and runs again
    /// (the event that links the customer — a `customer.subscription.created` with `metadata.tenant`, or the
    /// service's own link — may be on its way: Stripe does not order deliveries); older, it is recorded as
    /// `unknown_customer`.
    func unknownCustomer(_ e: StripeEventEnvelope) throws -> (String, String?) {
        guard Int(Date().timeIntervalSince1970) - e.created < 3_600 else { return ("unknown_customer", nil) }
        throw JobRetryLater(after: .seconds(30), reason: "Stripe event \(e.id): no tenant has its customer yet")
    }

    func decode<T: Decodable & Sendable>(_ type: T.Type, _ body: Data, _ e: StripeEventEnvelope) throws -> T {
        do {
            return try JSONDecoder().decode(StripeEventObject<T>.self, from: body).data.object
        } catch {
            throw JobFatalError("Stripe event \(e.id) (\(e.type)): its object does not decode: \(error)")
        }
    }

    func notify(tenant: String, kind: String, id: String, data: [String: String], correlation: String?) async throws {
        try await NotificationSendJob.enqueue(on: queue, tenant: tenant, kind: kind, id: id, data: data, correlation: correlation)
    }
}

extension Optional {
    func asyncFlatMap<U>(_ body: (Wrapped) async throws -> U?) async rethrows -> U? {
        guard let self else { return nil }
        return try await body(self)
    }
}

/// The names of `data.previous_attributes` of an `*.updated` event (what changed).
struct StripePreviousAttributes: Decodable {
    var keys: Set<String>
    /// Any JSON value, not read.
    struct Ignored: Decodable {
        init(from decoder: any Decoder) throws {}
    }
    struct DataField: Decodable {
        var previous: [String: Ignored]?
        enum CodingKeys: String, CodingKey { case previous = "previous_attributes" }
    }
    enum CodingKeys: String, CodingKey { case data }
    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        keys = Set(try c.decode(DataField.self, forKey: .data).previous?.keys.map { $0 } ?? [])
    }
}

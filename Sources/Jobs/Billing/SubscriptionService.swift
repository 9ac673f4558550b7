import Foundation
import Logging
import PostgresNIO

/// A tenant's subscription: create on a plan, change plan (the seed's `change_subscription_plan`), cancel at the
/// period's end or now, and resume a cancel-at-period-end. Plans map to Stripe prices by ``StripePlans``
/// (`STRIPE_PLANS`).
///
/// Each call checks the subscription is the tenant's at Stripe (its customer is the tenant's), makes its Stripe
/// request with idempotency keys derived from `operation`, and writes the `subscriptions` row from Stripe's answer,
/// stamped with Stripe's time of it: an older webhook event arriving later does not overwrite it. A create runs
/// under a per-tenant lock in PostgreSQL and asks Stripe for the customer's live subscriptions first, so two
/// creates for one tenant cannot make two subscriptions; its own (by `metadata[jobkit_operation]`) is returned.
public struct SubscriptionService: Sendable {
    public let customers: StripeCustomers
    public let plans: StripePlans
    let logger: Logger

    public init(customers: StripeCustomers, plans: StripePlans, logger: Logger = Logger(label: "jobkit.billing")) {
        self.customers = customers
        self.plans = plans
        self.logger = logger
    }

    var client: StripeClient { customers.client }
    var store: StripeStore { customers.store }

    /// Subscribes the tenant to a plan, charged to its customer's default payment method (Stripe makes the first
    /// invoice at once; without a usable card the subscription is `incomplete`).
    ///
    /// - Throws: ``BillingError/alreadySubscribed(tenant:subscription:)`` when the tenant's customer has a live
    ///   subscription at Stripe (any status but `canceled` and `incomplete_expired`) other than this operation's.
    public func create(tenant: String, plan: String, email: String? = nil, operation: String = UUID().uuidString) async throws -> StripeStore.SubscriptionRow {
        let price = try price(for: plan)
        let customer = try await customers.ensure(
            tenant: tenant, email: email, idempotencyKey: StripeClient.idempotencyKey(job: operation, step: "customer.create"), logger: logger)
        let id: String = try await store.database.transaction(logger: logger) { c in
            try await store.lockBilling(tenant: tenant, on: c)
            // Stripe's list, not only our rows: a subscription made by a call whose answer was lost (or whose row
            // rolled back) is live at Stripe before any row or webhook says so.
            let existing = try await client.subscriptions(customer: customer)
            let live = existing.value.data.filter { !Self.ended.contains($0.status) }
            if let mine = live.first(where: { $0.metadata[Self.operationKey] == operation }) {
                // This operation's own subscription (a re-run after the first run committed or lost its answer).
                try await record(StripeResponse(value: mine, requestID: existing.requestID, date: existing.date), tenant: tenant, on: c)
                return mine.id
            }
            if let other = live.first {
                throw BillingError.alreadySubscribed(tenant: tenant, subscription: other.id)
            }
            let answer = try await client.createSubscription(
                customer: customer, price: price, metadata: ["tenant": tenant, Self.operationKey: operation],
                idempotencyKey: StripeClient.idempotencyKey(job: operation, step: "subscription.create"))
            try await record(answer, tenant: tenant, on: c)
            return answer.value.id
        }
        logger.info("subscription created", metadata: ["tenant": "\(tenant)", "stripe.subscription": "\(id)", "plan": "\(plan)"])
        return try await row(id, tenant: tenant)
    }

    /// Moves the tenant's subscription to another plan, prorated as configured (`STRIPE_PRORATION_BEHAVIOR`). A
    /// subscription already on the plan is left as it is.
    public func changePlan(
        tenant: String, subscription: String, to plan: String, operation: String = UUID().uuidString
    ) async throws -> StripeStore.SubscriptionRow {
        let price = try price(for: plan)
        let current = try await owned(subscription, tenant: tenant)
        guard current.value.status != "canceled" else { throw BillingError.invalid("subscription \(subscription) is canceled") }
        var answer = current
        if current.value.priceID != price {
            guard let item = current.value.itemID else {
                throw BillingError.invalid("subscription \(subscription) has no item to change")
            }
            answer = try await client.changeSubscriptionPrice(
                subscription, item: item, price: price,
                idempotencyKey: StripeClient.idempotencyKey(job: operation, step: "subscription.change_plan"))
        }
        _ = try await store.database.transaction(logger: logger) { c in try await record(answer, tenant: tenant, on: c) }
        logger.info("subscription plan changed", metadata: ["tenant": "\(tenant)", "stripe.subscription": "\(subscription)", "plan": "\(plan)"])
        return try await row(subscription, tenant: tenant)
    }

    /// Cancels the tenant's subscription at the end of the paid period, or now. One already canceled is left so.
    public func cancel(
        tenant: String, subscription: String, atPeriodEnd: Bool, operation: String = UUID().uuidString
    ) async throws -> StripeStore.SubscriptionRow {
        let current = try await owned(subscription, tenant: tenant)
        var answer = current
        if current.value.status != "canceled" {
            let key = StripeClient.idempotencyKey(job: operation, step: atPeriodEnd ? "subscription.cancel_at_period_end" : "subscription.cancel")
            if atPeriodEnd {
                answer = try await client.setCancelAtPeriodEnd(subscription, true, idempotencyKey: key)
            } else {
                do {
                    answer = try await client.cancelSubscription(subscription, idempotencyKey: key)
                } catch let error as StripeAPIError where error.status == 404 {
                    // A DELETE is not replayed: a repeat after a lost answer finds it gone. Canceled is what we asked.
                    let now = try await client.subscription(subscription)
                    guard now.value.status == "canceled" else { throw error }
                    answer = now
                }
            }
        }
        _ = try await store.database.transaction(logger: logger) { c in try await record(answer, tenant: tenant, on: c) }
        logger.info(
            "subscription canceled", metadata: ["tenant": "\(tenant)", "stripe.subscription": "\(subscription)", "atPeriodEnd": "\(atPeriodEnd)"])
        return try await row(subscription, tenant: tenant)
    }

    /// Takes back a cancel-at-period-end: the subscription renews again.
    public func resume(tenant: String, subscription: String, operation: String = UUID().uuidString) async throws -> StripeStore.SubscriptionRow {
        let current = try await owned(subscription, tenant: tenant)
        guard current.value.status != "canceled" else {
            throw BillingError.invalid("subscription \(subscription) is canceled: create a new one")
        }
        var answer = current
        if current.value.cancelAtPeriodEnd {
            answer = try await client.setCancelAtPeriodEnd(
                subscription, false, idempotencyKey: StripeClient.idempotencyKey(job: operation, step: "subscription.resume"))
        }
        _ = try await store.database.transaction(logger: logger) { c in try await record(answer, tenant: tenant, on: c) }
        return try await row(subscription, tenant: tenant)
    }

    /// What a reconcile found.
    public struct ReconcileResult: Sendable, Codable, Equatable {
        public var checked: Int
        public var repaired: Int
        /// Subscriptions Stripe no longer has (left as they are, logged).
        public var missing: Int
    }

    /// Compares every subscription row that still bills with Stripe's object and rewrites the rows that drifted
    /// (status, plan, period end, cancel at period end), logging each repair at notice with what changed. Safe to
    /// run twice and in parallel: a repair writes Stripe's state stamped with Stripe's time, so an older write
    /// never wins.
    public func reconcile(logger: Logger) async throws -> ReconcileResult {
        var result = ReconcileResult(checked: 0, repaired: 0, missing: 0)
        for row in try await store.subscriptions(tenant: nil) where !Self.ended.contains(row.status) {
            try Task.checkCancellation()
            result.checked += 1
            let current: StripeResponse<StripeSubscription>
            do {
                current = try await client.subscription(row.subscription)
            } catch let error as StripeAPIError where error.status == 404 {
                result.missing += 1
                logger.warning("subscription missing at Stripe", metadata: ["tenant": "\(row.tenant)", "stripe.subscription": "\(row.subscription)"])
                continue
            }
            let s = current.value
            let plan = plans.plan(forPrice: s.priceID)
            let periodEndMs = s.currentPeriodEnd.map { Int64($0) * 1000 }
            var drift: [String] = []
            if s.status != row.status { drift.append("status \(row.status) → \(s.status)") }
            if plan != row.plan { drift.append("plan \(row.plan ?? "-") → \(plan ?? "-")") }
            if s.cancelAtPeriodEnd != row.cancelAtPeriodEnd { drift.append("cancelAtPeriodEnd \(row.cancelAtPeriodEnd) → \(s.cancelAtPeriodEnd)") }
            if periodEndMs != row.currentPeriodEndMs { drift.append("currentPeriodEnd \(row.currentPeriodEndMs ?? 0) → \(periodEndMs ?? 0)") }
            guard !drift.isEmpty else { continue }
            let written = try await store.database.transaction(logger: logger) { c in try await record(current, tenant: row.tenant, on: c) }
            guard written else { continue }  // a newer write won meanwhile
            result.repaired += 1
            logger.notice(
                "subscription repaired from Stripe",
                metadata: ["tenant": "\(row.tenant)", "stripe.subscription": "\(row.subscription)", "drift": "\(drift.joined(separator: "; "))"])
        }
        return result
    }

    // MARK: Helpers

    /// Statuses of a subscription that no longer bills.
    static let ended: Set<String> = ["canceled", "incomplete_expired"]
    /// The metadata key a create writes its operation under, so that a re-run recognizes its own subscription.
    static let operationKey = "jobkit_operation"

    func price(for plan: String) throws -> String {
        guard let price = plans.priceByPlan[plan] else { throw BillingError.unknownPlan(plan, known: plans.priceByPlan.keys.sorted()) }
        return price
    }

    /// The subscription as Stripe has it now, if its customer is the tenant's; else not found.
    func owned(_ subscription: String, tenant: String) async throws -> StripeResponse<StripeSubscription> {
        guard !subscription.isEmpty else { throw BillingError.invalid("subscription must not be empty") }
        let notFound = BillingError.notFound("subscription \(subscription)")
        guard let customer = try await store.customer(tenant: tenant) else { throw notFound }
        let current: StripeResponse<StripeSubscription>
        do {
            current = try await client.subscription(subscription)
        } catch let error as StripeAPIError where error.status == 404 {
            throw notFound
        }
        guard current.value.customer == customer else { throw notFound }
        return current
    }

    @discardableResult
    func record(_ answer: StripeResponse<StripeSubscription>, tenant: String, on c: PostgresConnection) async throws -> Bool {
        try await store.recordSubscription(
            answer.value, tenant: tenant, plan: plans.plan(forPrice: answer.value.priceID), requestID: answer.requestID,
            asOf: answer.date ?? Int(Date().timeIntervalSince1970), on: c)
    }

    func row(_ id: String, tenant: String) async throws -> StripeStore.SubscriptionRow {
        guard let row = try await store.subscription(id, tenant: tenant) else { throw BillingError.notFound("subscription \(id)") }
        return row
    }
}

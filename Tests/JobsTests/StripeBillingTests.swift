import AsyncHTTPClient
import Foundation
import JobKit
import JobKitTestSupport
import NIOCore
import NIOHTTP1
import Testing
@testable import Jobs

/// localstripe (PyPI, GPL: its own process, `scripts/fakes/localstripe-run.py`, on the loopback) with the fake
/// Stripe in front of it for what localstripe lacks (prices, billing portal, idempotency replay, `Request-Id`).
final class Localstripe: Sendable {
    let process: ChildProcess
    let port: Int
    let front: FakeStripe

    init(directory: String) async throws {
        let script = try TestEnvironment.required("JOBKIT_LOCALSTRIPE", "scripts/fakes/localstripe-run.py (scripts/test exports it)")
        (process, port) = try await LoopbackFake.start(script: script, arguments: [], log: "\(directory)/localstripe.log")
        do {
            front = try await FakeStripe(directory: directory, upstream: "http://127.0.0.1:\(port)")
        } catch {
            await process.terminate(grace: .seconds(5))
            throw error
        }
    }

    var base: String { "http://127.0.0.1:\(port)" }

    /// A form POST to localstripe itself (as Stripe.js or the dashboard would act), or to `/_config`.
    @discardableResult
    func post(_ path: String, _ form: [(String, String)], through front: Bool = false) async throws -> [String: Any] {
        let body = StripeForm(form.map { ($0.0, StripeParam.string($0.1)) }).encoded
        let answer = try await LoopbackFake.request(
            .POST, (front ? self.front.base : base) + path, body: Array(body.utf8),
            headers: [
                ("Authorization", "Bearer \(FakeStripe.secretKey)"), ("Content-Type", "application/x-www-form-urlencoded"),
                ("Idempotency-Key", UUID().uuidString),
            ])
        guard (200..<300).contains(answer.status) else {
            throw TestEnvironment.Missing(description: "localstripe \(path) → \(answer.status): \(String(describing: answer.any))")
        }
        return answer.json
    }

    func get(_ path: String) async throws -> [String: Any] {
        try await LoopbackFake.request(.GET, base + path, headers: [("Authorization", "Bearer \(FakeStripe.secretKey)")]).json
    }

    /// A price (`recurring[interval]=month`) made through the front, which keeps it as a localstripe plan.
    func price(product: String, amount: Int) async throws -> String {
        try await post("/v1/products", [("id", product), ("name", product), ("type", "service")])
        return try #require(try await post(
            "/v1/prices", [("product", product), ("unit_amount", "\(amount)"), ("currency", "usd"), ("recurring[interval]", "month")],
            through: true)["id"] as? String)
    }

    func stop() async {
        await front.stop()
        await process.terminate(grace: .seconds(5))
    }

    static func with<T: Sendable>(_ body: @Sendable (Localstripe) async throws -> T) async throws -> T {
        let stripe = try await Localstripe(directory: try TestEnvironment.makeTemporaryDirectory("localstripe"))
        do {
            let value = try await body(stripe)
            await stripe.stop()
            return value
        } catch {
            await stripe.stop()
            throw error
        }
    }
}

/// A node with the Stripe environment, and the billing API called as a service would call it.
struct BillingAPI {
    let port: Int
    static let apiKey = "billing-test-secret-0123456789"

    func call(_ method: HTTPMethod, _ path: String, _ body: [String: Any]? = nil, headers: [(String, String)] = []) async throws -> (
        status: Int, json: [String: Any]
    ) {
        let answer = try await LoopbackFake.request(
            method, "http://127.0.0.1:\(port)\(path)", body: try body.map { Array(try JSONSerialization.data(withJSONObject: $0)) },
            headers: [("Authorization", "Bearer \(Self.apiKey)"), ("Content-Type", "application/json")] + headers)
        return (answer.status, answer.json)
    }

    /// The job ended failed (no retry), its error naming `reason`.
    static func expectFailed(_ handle: JobHandle, _ reason: String, sourceLocation: SourceLocation = #_sourceLocation) async {
        do {
            _ = try await handle.result(timeout: .seconds(60))
            Issue.record("job \(handle.id) succeeded; expected it to fail with \(reason)", sourceLocation: sourceLocation)
        } catch let error as QueueError {
            #expect(error.code == .jobFailed && error.message.contains(reason), "\(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("\(error)", sourceLocation: sourceLocation)
        }
    }

    /// A 202's job, awaited: its result (the subscription row).
    func awaitJob(_ answer: (status: Int, json: [String: Any]), _ w: PlaidWorld) async throws -> StripeStore.SubscriptionRow {
        #expect(answer.status == 202, "\(answer.json)")
        let id = try #require(answer.json["job"] as? String, "\(answer.json)")
        return try await w.queue.handle(id: id, queue: StripeBillingJobs.queueName).result(as: StripeStore.SubscriptionRow.self, timeout: .seconds(60))
    }
}

@Suite("Stripe billing against localstripe", .serialized)
struct StripeBillingTests {
    static let webhookSecret = "whsec_localstripe_\(UUID().uuidString.prefix(8))"

    static func environment(_ stripe: Localstripe, plans: String) -> [String: String] {
        [
            "STRIPE_SECRET_KEY": FakeStripe.secretKey, "STRIPE_API_BASE": stripe.front.base, "STRIPE_PUBLISHABLE_KEY": "pk_test_front",
            "STRIPE_WEBHOOK_SECRET": webhookSecret, "STRIPE_PLANS": plans, "JOBKIT_API_KEYS": "billing:\(BillingAPI.apiKey)",
        ]
    }

    @Test(
        "customer, setup intent, card, subscription, plan change, cancel at period end, resume, cancel now, invoices and portal: through the HTTP API and the jobs, rows in PostgreSQL, localstripe's webhooks delivered 3× and applied once"
    )
    func lifecycle() async throws {
        try await Localstripe.with { stripe in
            try await PlaidWorld.with { w in
                let individual = try await stripe.price(product: "prod_individual", amount: 500)
                let family = try await stripe.price(product: "prod_family", amount: 1500)
                let (_, port) = try w.startNode(
                    "billing", http: true, queues: StripeBillingJobs.queueName, concurrency: 4,
                    environment: Self.environment(stripe, plans: "individual:\(individual),family:\(family)"))
                let api = BillingAPI(port: port!)
                try await w.eventually("the node serves") { (try? await api.call(.GET, "/health"))?.status == 200 }
                // Three endpoints, one URL: every event of localstripe arrives three times.
                for id in ["a", "b", "c"] {
                    try await stripe.post(
                        "/_config/webhooks/\(id)", [("url", "http://127.0.0.1:\(port!)/webhooks/stripe"), ("secret", Self.webhookSecret)])
                }
                let store = StripeStore(database: w.database, logger: PlaidWorld.logger)

                // A setup intent for the front end: the customer is made on the way, its id stored.
                let intent = try await api.call(.POST, "/v1/billing/setup-intents", ["tenant": "t1"])
                #expect(intent.status == 200, "\(intent.json)")
                #expect((intent.json["clientSecret"] as? String)?.contains("_secret_") == true)
                #expect(intent.json["publishableKey"] as? String == "pk_test_front")
                let customer = try #require(intent.json["customer"] as? String)
                #expect(try await store.customer(tenant: "t1") == customer)
                #expect((try await api.call(.GET, "/v1/billing/payment-methods?tenant=t1").json["paymentMethods"] as? [Any])?.isEmpty == true)

                // Stripe.js makes the card and confirms the intent in the browser; the service attaches it as default.
                let card = try await stripe.post(
                    "/v1/payment_methods",
                    [("type", "card"), ("card[number]", "4242424242424242"), ("card[exp_month]", "12"), ("card[exp_year]", "2031"), ("card[cvc]", "123")])
                let pm = try #require(card["id"] as? String)
                let confirmed = try await stripe.post("/v1/setup_intents/\(intent.json["setupIntent"] as! String)/confirm", [("payment_method", pm)])
                #expect(confirmed["status"] as? String == "succeeded")
                let attach = try await w.queue.enqueue(
                    StripePaymentMethodAttachJob(tenant: "t1", paymentMethod: pm), options: EnqueueOptions(queue: StripeBillingJobs.queueName))
                _ = try await attach.result(timeout: .seconds(60))
                let methods = try #require(try await api.call(.GET, "/v1/billing/payment-methods?tenant=t1").json["paymentMethods"] as? [[String: Any]])
                #expect(methods.count == 1 && methods.first?["id"] as? String == pm && methods.first?["isDefault"] as? Bool == true)
                #expect(methods.first?["last4"] as? String == "4242")
                // Another tenant's view has none of it, and cannot take the card.
                #expect((try await api.call(.GET, "/v1/billing/payment-methods?tenant=t2").json["paymentMethods"] as? [Any])?.isEmpty == true)
                let steal = try await w.queue.enqueue(
                    StripePaymentMethodAttachJob(tenant: "t2", paymentMethod: pm), options: EnqueueOptions(queue: StripeBillingJobs.queueName))
                await BillingAPI.expectFailed(steal, "not found for this tenant")

                // Subscribe: an unknown plan is refused before anything is enqueued; a known one is a job.
                let unknown = try await api.call(.POST, "/v1/billing/subscriptions", ["tenant": "t1", "plan": "platinum"])
                #expect(unknown.status == 400 && (unknown.json["error"] as? [String: Any])?["code"] as? String == "unknown_plan")
                let retryKey = [("Idempotency-Key", "create-\(UUID().uuidString)")]
                let created = try await api.awaitJob(
                    try await api.call(.POST, "/v1/billing/subscriptions", ["tenant": "t1", "plan": "individual"], headers: retryKey), w)
                #expect(created.plan == "individual" && created.status == "active" && created.customer == customer && !created.cancelAtPeriodEnd)
                #expect((created.currentPeriodEndMs ?? 0) > Int64(Date().timeIntervalSince1970 * 1000))
                let sub = created.subscription
                // The same request again (its Idempotency-Key) is the same job; a second create job makes no second subscription.
                let twice = try await api.call(.POST, "/v1/billing/subscriptions", ["tenant": "t1", "plan": "individual"], headers: retryKey)
                #expect(twice.status == 202 && twice.json["duplicate"] as? Bool == true)
                // The same key from another tenant is another request.
                let otherTenant = try await api.call(.POST, "/v1/billing/subscriptions", ["tenant": "t3", "plan": "individual"], headers: retryKey)
                #expect(otherTenant.status == 202 && otherTenant.json["duplicate"] as? Bool == false)
                let second = try await w.queue.enqueue(
                    StripeSubscriptionCreateJob(tenant: "t1", plan: "family"), options: EnqueueOptions(queue: StripeBillingJobs.queueName))
                await BillingAPI.expectFailed(second, "already has subscription \(sub)")

                // localstripe's own deliveries: the subscription's events and the first invoice, each applied once.
                try await w.eventually("the first invoice from localstripe's webhook") {
                    try await store.invoices(tenant: "t1").contains { $0.status == "paid" && $0.amountPaid == 500 }
                }
                try await w.eventually("the created event processed") {
                    try await store.events(limit: 100).contains { $0.type == "customer.subscription.created" && $0.processedAtMs != nil }
                }
                // Every event came three times: one accepted, two answered as duplicates, one job, one ledger row.
                try await w.eventually("all deliveries in") {
                    let health = try await api.call(.GET, "/webhooks/health")
                    let counts = ((health.json["providers"] as? [String: Any])?["stripe"]) as? [String: Any] ?? [:]
                    let accepted = counts["accepted"] as? Int ?? 0
                    let duplicates = (counts["rejected"] as? [String: Any])?["duplicate"] as? Int ?? 0
                    return accepted >= 3 && duplicates == 2 * accepted
                }
                // One job per event, whatever the deliveries. An event's ledger row commits before its job is marked
                // completed in Redis, so the two counts meet a moment apart: wait for them to meet, then compare.
                @Sendable func handledJobs() async throws -> [JobRecord] {
                    try await w.jobs(.completed, queue: StripeWebhookIntake.queueName).filter { $0.name == StripeEventJob.jobName }
                }
                try await w.eventually("every ledgered event's job completed") {
                    try await handledJobs().count >= store.events(limit: 100).count
                }
                let handled = try await handledJobs()
                let events = try await store.events(limit: 100).map(\.event)
                #expect(handled.count == events.count && Set(handled.map { $0.payload }).count == handled.count)
                #expect(try await store.invoices(tenant: "t1").count == 1)
                try await w.eventually("the payment_succeeded notification") {
                    try await w.jobs(.ready, queue: "notifications").contains { $0.payload.contains("payment_succeeded") }
                }
                #expect(try await w.jobs(.ready, queue: "notifications").filter { $0.payload.contains("payment_succeeded") }.count == 1)

                // Plan change, prorated as configured; another tenant cannot touch it.
                let changed = try await api.awaitJob(
                    try await api.call(.POST, "/v1/billing/subscriptions/\(sub)/plan", ["tenant": "t1", "plan": "family"]), w)
                #expect(changed.plan == "family" && changed.status == "active" && changed.subscription == sub)
                let update = try await stripe.front.requests().last { $0["path"] as? String == "/v1/subscriptions/\(sub)" && $0["method"] as? String == "POST" }
                #expect((update?["form"] as? [String: Any])?["proration_behavior"] as? String == "create_prorations")
                let foreign = try await api.call(.POST, "/v1/billing/subscriptions/\(sub)/plan", ["tenant": "t2", "plan": "individual"])
                let foreignID = try #require(foreign.json["job"] as? String)
                await BillingAPI.expectFailed(w.queue.handle(id: foreignID, queue: StripeBillingJobs.queueName), "not found for this tenant")
                #expect(try await store.subscription(sub, tenant: "t1")?.plan == "family")
                #expect(try await store.subscription(sub, tenant: "t2") == nil)

                // Cancel at period end, resume, cancel now.
                let atEnd = try await api.awaitJob(try await api.call(.DELETE, "/v1/billing/subscriptions/\(sub)?tenant=t1&atPeriodEnd=true"), w)
                #expect(atEnd.cancelAtPeriodEnd && atEnd.status == "active")
                let resumed = try await api.awaitJob(try await api.call(.POST, "/v1/billing/subscriptions/\(sub)/resume", ["tenant": "t1"]), w)
                #expect(!resumed.cancelAtPeriodEnd && resumed.status == "active")
                // Without a key, the same request again is a new operation: cancel, resume, cancel ends canceling.
                let again = try await api.awaitJob(try await api.call(.DELETE, "/v1/billing/subscriptions/\(sub)?tenant=t1&atPeriodEnd=true"), w)
                #expect(again.cancelAtPeriodEnd)
                _ = try await api.awaitJob(try await api.call(.POST, "/v1/billing/subscriptions/\(sub)/resume", ["tenant": "t1"]), w)
                let canceled = try await api.awaitJob(try await api.call(.DELETE, "/v1/billing/subscriptions/\(sub)?tenant=t1&atPeriodEnd=false"), w)
                #expect(canceled.status == "canceled")
                try await w.eventually("the deleted event processed") {
                    try await store.events(limit: 100).contains { $0.type == "customer.subscription.deleted" && $0.processedAtMs != nil }
                }
                #expect(try await store.subscription(sub, tenant: "t1")?.status == "canceled")

                // The billing portal (the front answers for localstripe, which has none).
                let portal = try await api.call(.POST, "/v1/billing/portal-sessions", ["tenant": "t1", "returnUrl": "https://app.example/billing"])
                #expect(portal.status == 200 && (portal.json["url"] as? String)?.hasPrefix("https://billing.stripe.com/p/session/") == true)
                let badURL = try await api.call(.POST, "/v1/billing/portal-sessions", ["tenant": "t1", "returnUrl": "javascript:alert(1)"])
                #expect(badURL.status == 400)

                // What reached Stripe: every POST with a job- or request-derived key and the pinned version.
                let sent = try await stripe.front.requests()
                #expect(sent.allSatisfy { $0["stripe_version"] as? String == StripeConfiguration.apiVersion || $0["path"] as? String == "/v1/prices" || $0["path"] as? String == "/v1/products" })
                let posts = sent.filter { $0["method"] as? String == "POST" && ($0["idempotency_key"] as? String)?.hasPrefix("jobkit-") == true }
                #expect(posts.count >= 8)
                let listed = try #require(try await api.call(.GET, "/v1/billing/subscriptions?tenant=t1").json["subscriptions"] as? [[String: Any]])
                #expect(listed.count == 1 && listed.first?["subscription"] as? String == sub && listed.first?["status"] as? String == "canceled")
            }
        }
    }

    @Test("stripe.subscription.create killed -9 after Stripe made the subscription, before the commit: the re-run finds it at Stripe by its operation, one subscription, no second POST")
    func killAfterSubscriptionCreate() async throws {
        try await Localstripe.with { stripe in
            try await PlaidWorld.with { w in
                let individual = try await stripe.price(product: "prod_individual", amount: 500)
                let env = Self.environment(stripe, plans: "individual:\(individual)")
                let customer = try #require(try await stripe.post("/v1/customers", [("metadata[tenant]", "t9")])["id"] as? String)
                let card = try #require(try await stripe.post("/v1/payment_methods/pm_card_visa/attach", [("customer", customer)])["id"] as? String)
                try await stripe.post("/v1/customers/\(customer)", [("invoice_settings[default_payment_method]", card)])
                let store = StripeStore(database: w.database, logger: PlaidWorld.logger)
                try await store.linkCustomer(tenant: "t9", customer: customer, email: nil)
                try await stripe.front.control(.POST, "/_fake/hold", ["ms": 30_000])
                let (first, _) = try w.startNode("a", queues: StripeBillingJobs.queueName, environment: env)
                let handle = try await StripeBillingJobs(queue: w.queue).createSubscription(tenant: "t9", plan: "individual")
                try await w.eventually("Stripe to make the subscription") {
                    (try await stripe.front.control(.GET, "/_fake/objects?type=subscription") as? [Any])?.count == 1
                }
                first.process.signal(SIGKILL)
                _ = await first.process.wait()
                try await stripe.front.control(.POST, "/_fake/hold", ["ms": 0])
                try w.startNode("b", queues: StripeBillingJobs.queueName, environment: env)
                let row = try await handle.result(as: StripeStore.SubscriptionRow.self, timeout: .seconds(60))
                let subscriptions = try #require(try await stripe.front.control(.GET, "/_fake/objects?type=subscription") as? [[String: Any]])
                #expect(subscriptions.count == 1 && subscriptions.first?["id"] as? String == row.subscription)
                #expect(row.plan == "individual" && row.tenant == "t9")
                // The re-run found its own subscription at Stripe (metadata[jobkit_operation]) and made no second POST.
                let creates = try await stripe.front.requests().filter { $0["path"] as? String == "/v1/subscriptions" && $0["method"] as? String == "POST" }
                #expect(creates.count == 1)
                #expect((subscriptions.first?["metadata"] as? [String: Any])?["jobkit_operation"] as? String == handle.id)
            }
        }
    }

    @Test("stripe.subscriptions.reconcile repairs a row that drifted from Stripe, and a second run finds nothing")
    func reconcile() async throws {
        try await Localstripe.with { stripe in
            try await PlaidWorld.with { w in
                let individual = try await stripe.price(product: "prod_individual", amount: 500)
                let customer = try #require(try await stripe.post("/v1/customers", [("metadata[tenant]", "t5")])["id"] as? String)
                let card = try #require(try await stripe.post("/v1/payment_methods/pm_card_visa/attach", [("customer", customer)])["id"] as? String)
                try await stripe.post("/v1/customers/\(customer)", [("invoice_settings[default_payment_method]", card)])
                let store = StripeStore(database: w.database, logger: PlaidWorld.logger)
                try await store.linkCustomer(tenant: "t5", customer: customer, email: nil)
                try w.startNode("a", queues: StripeBillingJobs.queueName, environment: Self.environment(stripe, plans: "individual:\(individual)"))
                let row = try await StripeBillingJobs(queue: w.queue).createSubscription(tenant: "t5", plan: "individual")
                    .result(as: StripeStore.SubscriptionRow.self, timeout: .seconds(60))
                // A lost webhook, an operator's mistake: the row says something Stripe does not.
                try await PlaidWorld.admin(
                    w.databaseURL,
                    "UPDATE subscriptions SET status = 'past_due', plan = 'family', cancel_at_period_end = true WHERE subscription_id = '\(row.subscription)'")
                func reconcile() async throws -> SubscriptionService.ReconcileResult {
                    try await w.queue.enqueue(StripeSubscriptionsReconcileJob(), options: EnqueueOptions(queue: StripeBillingJobs.queueName))
                        .result(as: SubscriptionService.ReconcileResult.self, timeout: .seconds(60))
                }
                #expect(try await reconcile() == .init(checked: 1, repaired: 1, missing: 0))
                let fixed = try #require(try await store.subscription(row.subscription, tenant: "t5"))
                #expect(fixed.status == "active" && fixed.plan == "individual" && !fixed.cancelAtPeriodEnd)
                #expect(try await reconcile() == .init(checked: 1, repaired: 0, missing: 0))
            }
        }
    }
}

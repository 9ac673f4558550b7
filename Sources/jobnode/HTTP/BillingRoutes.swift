import Foundation
import HTTPTypes
import Hummingbird
import JobKit
import JobKitHTTP
import Jobs
import Logging

/// `/v1/billing/*` (API key): a tenant's cards, subscriptions and billing portal.
///
/// Quick calls answer at once (setup intents, payment methods, portal sessions); subscription changes are jobs and
/// answer 202 with the job's id (`GET /v1/jobs/{id}` gives its result, the subscription row). A request's
/// `Idempotency-Key` header, when sent, is the operation its Stripe idempotency keys derive from, so a retried
/// request makes nothing twice.
struct BillingRoutes: Sendable {
    /// Nil without `STRIPE_SECRET_KEY` or a database: the quick calls answer 503.
    let runner: StripeJobRunner?
    let jobs: StripeBillingJobs
    let plans: StripePlans
    let store: StripeStore?
    static let maxBody = 16 * 1024
    static let idempotencyHeader = HTTPField.Name("Idempotency-Key")!

    var registrations: [HTTPRouteRegistration] {
        [
            HTTPRouteRegistration(access: .apiKey) { group in
                group.post("v1/billing/setup-intents") { request, context in try await setupIntent(request, context) }
                group.get("v1/billing/payment-methods") { request, context in try await paymentMethods(request, context) }
                group.get("v1/billing/subscriptions") { request, context in try await subscriptions(request, context) }
                group.post("v1/billing/subscriptions") { request, context in try await create(request, context) }
                group.post("v1/billing/subscriptions/{id}/plan") { request, context in try await changePlan(request, context) }
                group.post("v1/billing/subscriptions/{id}/resume") { request, context in try await resume(request, context) }
                group.delete("v1/billing/subscriptions/{id}") { request, context in try await cancel(request, context) }
                group.post("v1/billing/portal-sessions") { request, context in try await portal(request, context) }
            }
        ]
    }

    // MARK: Quick calls

    /// `{"tenant"}` → `{"setupIntent", "clientSecret", "publishableKey", "customer"}`.
    func setupIntent(_ request: Request, _ context: JobKitRequestContext) async throws -> Response {
        let input = try await Self.decode(TenantRequest.self, request)
        let runner = try configured()
        let secret = try await Self.mapped { try await runner.payments.createSetupIntent(tenant: try Self.tenant(input.tenant), operation: try Self.operation(request, context)) }
        return try JSONResponse.make(.ok, secret)
    }

    /// `?tenant=` → `{"tenant", "paymentMethods": [{"id", "type", "brand", "last4", "expMonth", "expYear", "isDefault"}]}`.
    func paymentMethods(_ request: Request, _ context: JobKitRequestContext) async throws -> Response {
        let tenant = try Self.tenant(request.uri.queryParameters.get("tenant"))
        let runner = try configured()
        let methods = try await Self.mapped { try await runner.payments.paymentMethods(tenant: tenant) }
        return try JSONResponse.make(.ok, PaymentMethodsAnswer(tenant: tenant, paymentMethods: methods))
    }

    /// `?tenant=` → `{"tenant", "subscriptions": [row]}` as PostgreSQL has them (rows as `jobnode billing subscriptions --json`).
    func subscriptions(_ request: Request, _ context: JobKitRequestContext) async throws -> Response {
        let tenant = try Self.tenant(request.uri.queryParameters.get("tenant"))
        guard let store else { throw Self.notConfigured }
        return try JSONResponse.make(.ok, SubscriptionsAnswer(tenant: tenant, subscriptions: try await store.subscriptions(tenant: tenant)))
    }

    /// `{"tenant", "returnUrl"}` → `{"url"}`.
    func portal(_ request: Request, _ context: JobKitRequestContext) async throws -> Response {
        let input = try await Self.decode(PortalRequest.self, request)
        let runner = try configured()
        let portal = BillingPortal(customers: runner.customers, logger: context.logger)
        let url = try await Self.mapped {
            try await portal.createSession(tenant: try Self.tenant(input.tenant), returnURL: input.returnUrl, operation: try Self.operation(request, context))
        }
        return try JSONResponse.make(.ok, ["url": url])
    }

    // MARK: Jobs

    /// `{"tenant", "plan"}` → 202 `{"job", "jobName", "tenant"}` (`stripe.subscription.create`).
    func create(_ request: Request, _ context: JobKitRequestContext) async throws -> Response {
        let input = try await Self.decode(PlanRequest.self, request)
        let tenant = try Self.tenant(input.tenant)
        try checkPlan(input.plan)
        let handle = try await jobs.createSubscription(tenant: tenant, plan: input.plan, request: try Self.requestKey(request, context), correlation: context.requestID)
        return try Self.accepted(handle, StripeSubscriptionCreateJob.jobName, tenant)
    }

    /// `{"tenant", "plan"}` → 202 (`stripe.subscription.change_plan`).
    func changePlan(_ request: Request, _ context: JobKitRequestContext) async throws -> Response {
        let subscription = try Self.subscriptionID(context)
        let input = try await Self.decode(PlanRequest.self, request)
        let tenant = try Self.tenant(input.tenant)
        try checkPlan(input.plan)
        let handle = try await jobs.changePlan(
            tenant: tenant, subscription: subscription, plan: input.plan, request: try Self.requestKey(request, context), correlation: context.requestID)
        return try Self.accepted(handle, StripeSubscriptionChangePlanJob.jobName, tenant)
    }

    /// `?tenant=&atPeriodEnd=true|false` (default true: the tenant keeps what it paid for) → 202
    /// (`stripe.subscription.cancel`).
    func cancel(_ request: Request, _ context: JobKitRequestContext) async throws -> Response {
        let subscription = try Self.subscriptionID(context)
        let tenant = try Self.tenant(request.uri.queryParameters.get("tenant"))
        let atPeriodEnd: Bool
        switch request.uri.queryParameters.get("atPeriodEnd")?.lowercased() {
        case nil, "true", "1": atPeriodEnd = true
        case "false", "0": atPeriodEnd = false
        case let other?: throw APIError(.badRequest, code: "invalid_field", "atPeriodEnd: must be true or false, not '\(other)'")
        }
        let handle = try await jobs.cancel(
            tenant: tenant, subscription: subscription, atPeriodEnd: atPeriodEnd, request: try Self.requestKey(request, context),
            correlation: context.requestID)
        return try Self.accepted(handle, StripeSubscriptionCancelJob.jobName, tenant)
    }

    /// `{"tenant"}` → 202 (`stripe.subscription.resume`: takes back a cancel at period end).
    func resume(_ request: Request, _ context: JobKitRequestContext) async throws -> Response {
        let subscription = try Self.subscriptionID(context)
        let input = try await Self.decode(TenantRequest.self, request)
        let tenant = try Self.tenant(input.tenant)
        let handle = try await jobs.resume(
            tenant: tenant, subscription: subscription, request: try Self.requestKey(request, context), correlation: context.requestID)
        return try Self.accepted(handle, StripeSubscriptionResumeJob.jobName, tenant)
    }

    // MARK: Helpers

    static let notConfigured = APIError(
        .serviceUnavailable, code: "stripe_not_configured", "this process has no STRIPE_SECRET_KEY or no database (--database, DATABASE_URL)")

    func configured() throws -> StripeJobRunner {
        guard let runner else { throw Self.notConfigured }
        return runner
    }

    func checkPlan(_ plan: String) throws {
        guard plans.priceByPlan[plan] != nil else {
            throw APIError(.badRequest, code: "unknown_plan", BillingError.unknownPlan(plan, known: plans.priceByPlan.keys.sorted()).description)
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T {
        let body = try await JobKitHTTP.RequestBody.collect(request, limit: maxBody)
        return try JobKitHTTP.RequestBody.decode(T.self, from: body)
    }

    static func tenant(_ value: String?) throws -> String {
        guard let value, !value.isEmpty, value.utf8.count <= 200 else {
            throw APIError(.badRequest, code: "invalid_field", "tenant: must be 1 to 200 bytes")
        }
        return value
    }

    static func subscriptionID(_ context: JobKitRequestContext) throws -> String {
        let id = try context.parameters.require("id")
        guard !id.isEmpty, id.utf8.count <= 255 else { throw APIError(.badRequest, code: "invalid_field", "subscription id: 1 to 255 bytes") }
        return id
    }

    /// The request's `Idempotency-Key`, scoped to the API key that sent it; nil without one.
    static func requestKey(_ request: Request, _ context: JobKitRequestContext) throws -> String? {
        guard let key = request.headers[idempotencyHeader] else { return nil }
        guard !key.isEmpty, key.utf8.count <= 200 else {
            throw APIError(.badRequest, code: "invalid_header", "Idempotency-Key: must be 1 to 200 bytes")
        }
        return Digest.sha256Hex((context.identity?.name ?? "-") + "\n" + key)
    }

    /// The operation a quick call's Stripe keys derive from: the request's scoped `Idempotency-Key`, else a new one.
    static func operation(_ request: Request, _ context: JobKitRequestContext) throws -> String {
        guard let key = try requestKey(request, context) else { return "req-" + UUID().uuidString.lowercased() }
        return "http-" + key.prefix(32)
    }

    static func accepted(_ handle: JobHandle, _ jobName: String, _ tenant: String) throws -> Response {
        try JSONResponse.make(.accepted, BillingJobAnswer(job: handle.id, jobName: jobName, tenant: tenant, duplicate: !handle.created))
    }

    /// Refusals and Stripe's answers as HTTP errors.
    static func mapped<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as BillingError {
            switch error {
            case .notFound, .noCustomer: throw APIError(.notFound, code: "not_found", error.description)
            case .alreadySubscribed: throw APIError(.conflict, code: "already_subscribed", error.description)
            case .unknownPlan: throw APIError(.badRequest, code: "unknown_plan", error.description)
            case .invalid: throw APIError(.badRequest, code: "invalid_field", error.description)
            }
        } catch let error as StripeAPIError {
            if error.isCardError { throw APIError(HTTPResponse.Status(code: 402, reasonPhrase: "Payment Required"), code: "card_declined", error.description) }
            if error.isRetryable { throw APIError(.serviceUnavailable, code: "stripe_unavailable", error.description) }
            throw APIError(.badGateway, code: "stripe_error", error.description)
        } catch let error as CircuitOpenError {
            throw APIError(.serviceUnavailable, code: "stripe_unavailable", "\(error)")
        }
    }
}

struct TenantRequest: Decodable {
    var tenant: String
}

struct PlanRequest: Decodable {
    var tenant: String
    var plan: String
}

struct PortalRequest: Decodable {
    var tenant: String
    var returnUrl: String
}

struct PaymentMethodsAnswer: Encodable {
    var tenant: String
    var paymentMethods: [PaymentService.PaymentMethodSummary]
}

struct SubscriptionsAnswer: Encodable {
    var tenant: String
    var subscriptions: [StripeStore.SubscriptionRow]
}

struct BillingJobAnswer: Encodable {
    var job: String
    var jobName: String
    var tenant: String
    var duplicate: Bool
}

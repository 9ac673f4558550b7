import Hummingbird
import JobKit

/// `/health`, `/health/ready`, `/health/detailed` and `/webhooks/health`.
struct HealthRoutes: Sendable {
    let checker: HealthChecker
    let ledger: WebhookLedger

    func register(on group: RouterGroup<JobKitRequestContext>) {
        // Liveness never looks at a dependency: a probe that failed on Redis trouble would restart every pod at once.
        group.get("health") { _, _ in try JSONResponse.make(.ok, ["status": "ok"]) }
        group.get("health/ready") { _, _ in
            switch await checker.ready() {
            case .success: return try JSONResponse.make(.ok, ["status": "ok"])
            case .failure(let failure):
                return try JSONResponse.make(.serviceUnavailable, NotReady(failure))
            }
        }
        group.get("health/detailed") { _, _ in
            let report = await checker.detailed()
            return try JSONResponse.make(report.status == .down ? .serviceUnavailable : .ok, report)
        }
    }

    func registerWebhooks(on group: RouterGroup<JobKitRequestContext>) {
        group.get("webhooks/health") { _, _ in
            var providers: [String: WebhookSummary] = [:]
            for provider in WebhookLedger.providers { providers[provider.name] = try await ledger.summary(provider: provider) }
            return try JSONResponse.make(.ok, ["providers": providers])
        }
    }

    /// `/health/ready`'s 503 body: a status and the API's error shape (`redis_unavailable`,
    /// `postgres_unavailable`).
    struct NotReady: Encodable {
        struct Inner: Encodable {
            var code: String
            var message: String
        }
        var status = "down"
        var error: Inner
        init(_ failure: HealthChecker.NotReady) {
            let what = failure.dependency == "redis" ? "Redis" : failure.dependency == "postgres" ? "PostgreSQL" : failure.dependency
            self.error = Inner(code: "\(failure.dependency)_unavailable", message: "\(what) did not answer: \(failure.message)")
        }
    }
}

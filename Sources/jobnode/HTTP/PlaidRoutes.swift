import Foundation
import HTTPTypes
import Hummingbird
import JobKit
import JobKitHTTP
import Jobs

/// `POST /webhooks/plaid` (open: Plaid's JWT is the credential) and `POST /v1/plaid/items` (API key).
struct PlaidRoutes: Sendable {
    /// Nil when this process has no Plaid credentials (it cannot fetch verification keys): webhooks get 503.
    let intake: PlaidWebhookIntake?
    let service: PlaidService
    /// Counts deliveries for `/webhooks/health` (flushed to Redis every 100 ms, not one call per delivery).
    let tally: WebhookTally
    /// Plaid's webhooks are small; anything larger is refused before it is read.
    static let maxWebhookBytes = 256 * 1024
    static let verificationHeader = HTTPField.Name("Plaid-Verification")!

    var registrations: [HTTPRouteRegistration] {
        [
            HTTPRouteRegistration(access: .open) { group in
                group.post("webhooks/plaid") { request, context in try await webhook(request, context) }
            },
            HTTPRouteRegistration(access: .apiKey) { group in
                group.post("v1/plaid/items") { request, context in try await link(request, context) }
            },
        ]
    }

    /// 200 once `plaid.webhook` is durably enqueued (or was, for a duplicate delivery); 400 with nothing enqueued
    /// for a bad or stale signature or a malformed body; 503 when the verification key or Redis is unreachable
    /// (Plaid delivers again).
    func webhook(_ request: Request, _ context: JobKitRequestContext) async throws -> Response {
        guard let intake else {
            throw APIError(.serviceUnavailable, code: "plaid_not_configured", "this node has no Plaid credentials (PLAID_CLIENT_ID, PLAID_SECRET)")
        }
        let body: ByteBuffer
        do {
            body = try await JobKitHTTP.RequestBody.collect(request, limit: Self.maxWebhookBytes)
        } catch {
            tally.count(.plaid, .rejectedMalformed)
            throw error
        }
        let outcome = try await intake.receive(
            header: request.headers[Self.verificationHeader], body: Array(body.readableBytesView),
            now: Int(Date().timeIntervalSince1970))
        switch outcome {
        case .accepted(let jobID, let duplicate, let type, let code):
            tally.count(.plaid, duplicate ? .rejectedDuplicate : .accepted)
            return try JSONResponse.make(
                .ok, PlaidWebhookAnswer(received: true, job: jobID, duplicate: duplicate, type: type, code: code))
        case .rejected(let rejection):
            let (ledgerOutcome, code): (WebhookOutcome, String)
            switch rejection {
            case .keyUnavailable:
                throw APIError(.serviceUnavailable, code: "plaid_key_unavailable", rejection.description)
            case .stale: (ledgerOutcome, code) = (.rejectedAge, "stale_signature")
            case .malformed: (ledgerOutcome, code) = (.rejectedMalformed, "malformed_webhook")
            case .algorithm, .signature, .unknownKey: (ledgerOutcome, code) = (.rejectedSignature, "invalid_signature")
            }
            tally.count(.plaid, ledgerOutcome)
            context.logger.notice("Plaid webhook rejected", metadata: ["reason": "\(rejection)"])
            throw APIError(.badRequest, code: code, rejection.description)
        }
    }

    /// `{"tenant", "publicToken"}` → 202 with the `plaid.item.link` job (`GET /v1/jobs/{id}` gives its result).
    func link(_ request: Request, _ context: JobKitRequestContext) async throws -> Response {
        let body = try await JobKitHTTP.RequestBody.collect(request, limit: 16 * 1024)
        let input = try JobKitHTTP.RequestBody.decode(PlaidLinkRequest.self, from: body)
        guard !input.tenant.isEmpty, input.tenant.utf8.count <= 200 else {
            throw APIError(.badRequest, code: "invalid_field", "tenant: must be 1 to 200 bytes")
        }
        guard !input.publicToken.isEmpty, input.publicToken.utf8.count <= 512 else {
            throw APIError(.badRequest, code: "invalid_field", "publicToken: must be 1 to 512 bytes")
        }
        let handle = try await service.jobs.link(tenant: input.tenant, publicToken: input.publicToken, correlation: context.requestID)
        return try JSONResponse.make(.accepted, PlaidLinkAnswer(job: handle.id, jobName: PlaidItemLinkJob.jobName, tenant: input.tenant))
    }
}

struct PlaidLinkRequest: Decodable {
    var tenant: String
    var publicToken: String
}

struct PlaidLinkAnswer: Encodable {
    var job: String
    var jobName: String
    var tenant: String
}

struct PlaidWebhookAnswer: Encodable {
    var received: Bool
    var job: String
    var duplicate: Bool
    var type: String
    var code: String
}

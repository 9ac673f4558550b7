import Foundation
import Hummingbird
import JobKit
import JobKitHTTP
import Jobs

/// `/v1/notifications` (API key): a tenant's inbox and its read state.
struct NotificationRoutes: Sendable {
    /// Nil without a database: the routes answer 503.
    let store: NotificationStore?

    var registrations: [HTTPRouteRegistration] {
        [
            HTTPRouteRegistration(access: .apiKey) { group in
                group.get("v1/notifications") { request, context in try await list(request, context) }
                group.post("v1/notifications/{id}/read") { request, context in try await read(request, context) }
            }
        ]
    }

    func configured() throws -> NotificationStore {
        guard let store else {
            throw APIError(.serviceUnavailable, code: "database_not_configured", "this process has no database (--database, DATABASE_URL)")
        }
        return store
    }

    /// `?tenant=&user=&limit=` → `{"tenant", "notifications": [row]}`: the inbox, newest first (rows as
    /// `jobnode notifications list --json`).
    func list(_ request: Request, _ context: JobKitRequestContext) async throws -> Response {
        let store = try configured()
        let tenant = try BillingRoutes.tenant(request.uri.queryParameters.get("tenant"))
        let limitText = request.uri.queryParameters.get("limit") ?? "50"
        guard let limit = Int(limitText), (1...500).contains(limit) else {
            throw APIError(.badRequest, code: "invalid_field", "limit: must be 1 to 500")
        }
        let rows = try await store.inbox(tenant: tenant, user: request.uri.queryParameters.get("user"), limit: limit)
        return try JSONResponse.make(.ok, InboxAnswer(tenant: tenant, notifications: rows))
    }

    /// `{"tenant"}` → `{"notification", "read": true}`; 404 `not_found` when the tenant has no such notification.
    func read(_ request: Request, _ context: JobKitRequestContext) async throws -> Response {
        let store = try configured()
        let id = try context.parameters.require("id")
        let input = try await BillingRoutes.decode(TenantRequest.self, request)
        let tenant = try BillingRoutes.tenant(input.tenant)
        guard try await store.markRead(tenant: tenant, notification: id) else {
            throw APIError(.notFound, code: "not_found", "notification \(id) not found for this tenant")
        }
        return try JSONResponse.make(.ok, ReadAnswer(notification: id, read: true))
    }
}

struct InboxAnswer: Encodable {
    var tenant: String
    var notifications: [NotificationStore.InboxRow]
}

struct ReadAnswer: Encodable {
    var notification: String
    var read: Bool
}

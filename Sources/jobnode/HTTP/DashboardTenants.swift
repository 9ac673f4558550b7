import JobKitHTTP
import Jobs
import Logging
import PostgresNIO

/// The dashboard's tenants page, from PostgreSQL: tenants by id, with their Plaid items and subscriptions
/// (three queries per page of 20 tenants).
struct DashboardTenants: DashboardTenantSource {
    let database: StoreDatabase
    let logger: Logger

    func tenants(after: String?, limit: Int) async throws -> [DashboardTenant] {
        let client = database.client
        var tenants: [DashboardTenant] = []
        for try await (id, name) in try await client.query(
            "SELECT id, name FROM tenants WHERE id > \(after ?? "") ORDER BY id LIMIT \(limit)", logger: logger
        ).decode((String, String?).self) {
            tenants.append(DashboardTenant(id: id, name: name, items: [], subscriptions: []))
        }
        guard !tenants.isEmpty else { return [] }
        let ids = tenants.map(\.id)
        var index: [String: Int] = [:]
        for (i, t) in tenants.enumerated() { index[t.id] = i }
        for try await (item, tenant, institution, status, error, synced) in try await client.query(
            """
            SELECT item_id, tenant_id, institution_name, status, error_code, (extract(epoch FROM last_synced_at) * 1000)::bigint
            FROM plaid_items WHERE tenant_id = ANY(\(ids)) ORDER BY created_at
            """, logger: logger
        ).decode((String, String, String?, String, String?, Int64?).self) {
            guard let i = index[tenant] else { continue }
            tenants[i].items.append(.init(id: item, institution: institution, status: status, errorCode: error, lastSyncedAtMs: synced))
        }
        for try await (subscription, tenant, customer, plan, status, end) in try await client.query(
            """
            SELECT subscription_id, tenant_id, customer_id, plan, status, (extract(epoch FROM current_period_end) * 1000)::bigint
            FROM subscriptions WHERE tenant_id = ANY(\(ids)) ORDER BY updated_at DESC
            """, logger: logger
        ).decode((String, String, String, String?, String, Int64?).self) {
            guard let i = index[tenant] else { continue }
            tenants[i].subscriptions.append(.init(id: subscription, customer: customer, plan: plan, status: status, periodEndMs: end))
        }
        return tenants
    }
}

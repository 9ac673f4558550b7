import Foundation
import JobKit
import Logging
import PostgresNIO

/// The reports half of the store: the month's figures read from the Plaid tables (summed by PostgreSQL's exact
/// `numeric`), and the `reports` table. Every query is scoped by the tenant.
public struct ReportStore: Sendable {
    public let database: StoreDatabase
    let logger: Logger

    public init(database: StoreDatabase, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    var client: PostgresClient { database.client }

    /// Every tenant with its time zone (the fan-outs).
    func tenantTimeZones() async throws -> [(String, String)] {
        var out: [(String, String)] = []
        for try await (id, zone) in try await client.query("SELECT id, time_zone FROM tenants ORDER BY id", logger: logger)
            .decode((String, String).self)
        {
            out.append((id, zone))
        }
        return out
    }

    /// Sets a tenant's time zone (an IANA name; the tenant's row is made when missing).
    ///
    /// - Throws: ``ReportStoreError`` for a zone Foundation does not know.
    public func setTimeZone(tenant: String, zone: String) async throws {
        guard TimeZone(identifier: zone) != nil else { throw ReportStoreError("unknown time zone '\(zone)' (an IANA name, e.g. Europe/Paris)") }
        try await client.query(
            "INSERT INTO tenants (id, time_zone) VALUES (\(tenant), \(zone)) ON CONFLICT (id) DO UPDATE SET time_zone = EXCLUDED.time_zone",
            logger: logger)
    }

    /// A tenant's time zone; nil when the tenant has no row.
    public func timeZone(tenant: String) async throws -> String? {
        for try await (zone,) in try await client.query("SELECT time_zone FROM tenants WHERE id = \(tenant)", logger: logger).decode((String,).self) {
            return zone
        }
        return nil
    }

    /// Posted spending (amount > 0) per category in a month: category → (sum, count).
    func spendingByCategory(tenant: String, month: ReportMonth) async throws -> [(String, Decimal, Int)] {
        var out: [(String, Decimal, Int)] = []
        for try await (category, sum, count) in try await client.query(
            """
            SELECT COALESCE(NULLIF(category, ''), 'uncategorized'), sum(amount)::text, count(*)::bigint FROM transactions
            WHERE tenant_id = \(tenant) AND NOT pending AND NOT removed AND amount > 0
              AND date >= \(month.firstDay)::date AND date < \(month.adding(1).firstDay)::date
            GROUP BY 1 ORDER BY sum(amount) DESC, 1
            """, logger: logger
        ).decode((String, String, Int64).self) {
            out.append((category, Decimal(string: sum) ?? 0, Int(count)))
        }
        return out
    }

    /// Posted income (−sum of amounts < 0) in a month.
    func income(tenant: String, month: ReportMonth) async throws -> Decimal {
        for try await (sum,) in try await client.query(
            """
            SELECT COALESCE(-sum(amount), 0)::text FROM transactions
            WHERE tenant_id = \(tenant) AND NOT pending AND NOT removed AND amount < 0
              AND date >= \(month.firstDay)::date AND date < \(month.adding(1).firstDay)::date
            """, logger: logger
        ).decode((String,).self) {
            return Decimal(string: sum) ?? 0
        }
        return 0
    }

    /// The top `limit` merchants (else the transaction's name) by posted spending in a month.
    func topMerchants(tenant: String, month: ReportMonth, limit: Int = 5) async throws -> [MonthlyReport.Merchant] {
        var out: [MonthlyReport.Merchant] = []
        for try await (merchant, sum, count) in try await client.query(
            """
            SELECT COALESCE(NULLIF(merchant, ''), name), sum(amount)::text, count(*)::bigint FROM transactions
            WHERE tenant_id = \(tenant) AND NOT pending AND NOT removed AND amount > 0
              AND date >= \(month.firstDay)::date AND date < \(month.adding(1).firstDay)::date
            GROUP BY 1 ORDER BY sum(amount) DESC, 1 LIMIT \(limit)
            """, logger: logger
        ).decode((String, String, Int64).self) {
            out.append(MonthlyReport.Merchant(merchant: merchant, amount: sum, count: Int(count)))
        }
        return out
    }

    /// Each account's last observed balance before the month's end: 00:00 of the next month's first day in the
    /// tenant's time zone (`tenants.time_zone`).
    func endOfMonthBalances(tenant: String, month: ReportMonth) async throws -> [MonthlyReport.Balance] {
        var out: [MonthlyReport.Balance] = []
        for try await (account, name, type, currency, current) in try await client.query(
            """
            SELECT a.account_id, a.name, a.type, a.currency, b.current::text FROM accounts a
            LEFT JOIN LATERAL (
              SELECT current FROM account_balances
              WHERE tenant_id = a.tenant_id AND account_id = a.account_id
                AND observed_at < (\(month.adding(1).firstDay)::date)::timestamp
                  AT TIME ZONE COALESCE((SELECT time_zone FROM tenants WHERE id = a.tenant_id), 'UTC')
              ORDER BY observed_at DESC LIMIT 1) b ON true
            WHERE a.tenant_id = \(tenant) ORDER BY a.account_id
            """, logger: logger
        ).decode((String, String, String, String?, String?).self) {
            out.append(MonthlyReport.Balance(account: account, name: name, type: type, currency: currency, endOfMonth: current))
        }
        return out
    }

    /// Stores (or replaces) a report in every format.
    func save(_ report: MonthlyReport, json: String) async throws {
        try await client.query(
            """
            INSERT INTO reports (tenant_id, kind, period, formats, json, csv, svg)
            VALUES (\(report.tenant), 'monthly', \(report.month), ARRAY['json', 'csv', 'svg'], \(json)::jsonb, \(report.csv), \(report.svg))
            ON CONFLICT (tenant_id, kind, period) DO UPDATE SET formats = EXCLUDED.formats, json = EXCLUDED.json, csv = EXCLUDED.csv,
              svg = EXCLUDED.svg, created_at = now()
            """, logger: logger)
    }

    /// A stored report in one format (`json`, `csv`, `svg`); nil when there is none.
    public func report(tenant: String, month: String, format: String) async throws -> String? {
        let column: String
        switch format {
        case "json": column = "json::text"
        case "csv": column = "csv"
        case "svg": column = "svg"
        default: return nil
        }
        for try await (text,) in try await client.query(
            PostgresQuery(
                unsafeSQL: "SELECT \(column) FROM reports WHERE tenant_id = $1 AND kind = 'monthly' AND period = $2",
                binds: { var b = PostgresBindings(); b.append(tenant); b.append(month); return b }()), logger: logger
        ).decode((String,).self) {
            return text
        }
        return nil
    }
}

/// A refused store operation, with the reason.
public struct ReportStoreError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

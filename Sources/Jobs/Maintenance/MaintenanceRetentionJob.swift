import Foundation
import JobKit
import Logging
import PostgresNIO

/// `maintenance.retention` `{"target"}`: deletes the rows of one target older than its retention, in batches of
/// 5,000 (each its own statement, so no long lock), until none is left. Safe to run twice and in parallel: a row is
/// deleted once, whoever gets it. Targets and their default retention (days; `JOBKIT_RETENTION_<TARGET>_DAYS`
/// overrides, e.g. `JOBKIT_RETENTION_WEBHOOKS_DAYS=30`):
///
/// | target | rows | default |
/// |---|---|---|
/// | `webhooks` | `plaid_webhooks` and `stripe_events` by `received_at` (Stripe redelivers for 3 days at most) | 90 |
/// | `notifications` | `notifications` (with their `notification_deliveries`) by `created_at` | 180 |
/// | `reports` | `reports` by `created_at` | 730 |
public struct MaintenanceRetentionJob: JobPayload {
    public static let jobName = "maintenance.retention"
    public var target: String
    public init(target: String) { self.target = target }

    public static let defaults: [String: Int] = ["webhooks": 90, "notifications": 180, "reports": 730]

    /// The retention of a target in days, from the environment or ``defaults``; nil for an unknown target.
    ///
    /// - Throws: ``JobFatalError`` for a `JOBKIT_RETENTION_<TARGET>_DAYS` that is not a positive whole number.
    public static func retentionDays(_ target: String, _ env: [String: String] = ProcessInfo.processInfo.environment) throws -> Int? {
        guard let fallback = defaults[target] else { return nil }
        let name = "JOBKIT_RETENTION_\(target.uppercased())_DAYS"
        guard let text = env[name], !text.isEmpty else { return fallback }
        guard let days = Int(text), days >= 1 else { throw JobFatalError("\(name) must be a positive number of days, not '\(text)'") }
        return days
    }

    /// Deletes what is past retention; returns the rows deleted per table.
    static func run(_ job: MaintenanceRetentionJob, database: StoreDatabase, logger: Logger) async throws -> [String: Int] {
        guard let days = try retentionDays(job.target) else {
            throw JobFatalError("unknown retention target '\(job.target)' (known: \(defaults.keys.sorted().joined(separator: ", ")))")
        }
        let statements: [(String, String)]
        switch job.target {
        case "webhooks":
            statements = [
                ("plaid_webhooks", "DELETE FROM plaid_webhooks WHERE ctid IN (SELECT ctid FROM plaid_webhooks WHERE received_at < now() - make_interval(days => $1::int) LIMIT 5000 FOR UPDATE SKIP LOCKED)"),
                ("stripe_events", "DELETE FROM stripe_events WHERE ctid IN (SELECT ctid FROM stripe_events WHERE received_at < now() - make_interval(days => $1::int) LIMIT 5000 FOR UPDATE SKIP LOCKED)"),
            ]
        case "notifications":
            // A notification and its deliveries go in one statement (the deliveries reference it).
            statements = [
                ("notifications",
                 """
                 WITH old AS (SELECT tenant_id, notification_id FROM notifications WHERE created_at < now() - make_interval(days => $1::int)
                              LIMIT 5000 FOR UPDATE SKIP LOCKED),
                      gone AS (DELETE FROM notification_deliveries d USING old
                               WHERE d.tenant_id = old.tenant_id AND d.notification_id = old.notification_id)
                 DELETE FROM notifications n USING old WHERE n.tenant_id = old.tenant_id AND n.notification_id = old.notification_id
                 """)
            ]
        default:
            statements = [
                ("reports", "DELETE FROM reports WHERE ctid IN (SELECT ctid FROM reports WHERE created_at < now() - make_interval(days => $1::int) LIMIT 5000 FOR UPDATE SKIP LOCKED)")
            ]
        }
        var deleted: [String: Int] = [:]
        for (table, sql) in statements {
            // Rows another run holds are skipped (SKIP LOCKED) or wait for its commit, then are gone: two runs
            // together delete what one would.
            while true {
                try Task.checkCancellation()
                var binds = PostgresBindings()
                binds.append(days)
                let rows = try await database.client.query(PostgresQuery(unsafeSQL: sql + " RETURNING 1", binds: binds), logger: logger)
                var n = 0
                for try await _ in rows { n += 1 }
                deleted[table, default: 0] += n
                if n < 5000 { break }
            }
        }
        logger.info("retention applied", metadata: ["target": "\(job.target)", "days": "\(days)", "deleted": "\(deleted)"])
        return deleted
    }
}

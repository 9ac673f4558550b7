import JobKit
import Logging

/// Registers every domain job of the personal-finance backend. Any jobnode can run any of them.
///
/// The Plaid jobs, Stripe's event handling and `stripe.customer.ensure` are registered on every node: where a node
/// lacks what they need, as unavailable (back to `scheduled`, no attempt spent). The maintenance and report jobs back
/// the default schedules. Notifications (`notifications.send`) need a database: without one they wait in
/// `scheduled` (no attempt spent) for a node that has it.
public enum JobCatalog {
    /// Registers every domain job's handler, giving each the dependencies it uses.
    public static func register(in registry: JobRegistry, dependencies: JobDependencies) {
        registry.register(NightlyMaintenanceJob.self, timeout: .seconds(600)) { _, context in
            try await NightlyMaintenanceJob.run(context)
        }
        if let reports = dependencies.reports {
            reports.register(in: registry)
        } else {
            registry.registerRaw(MonthlyReportJob.jobName) { _, _ in
                throw JobRetryLater(after: .seconds(60), reason: "this node has no database (--database, DATABASE_URL): it cannot build reports")
            }
        }
        registry.register(SessionCleanupJob.self, timeout: .seconds(600)) { _, context in
            try await SessionCleanupJob.run(context)
        }
        if let database = dependencies.database {
            registry.register(MaintenanceRetentionJob.self, timeout: .seconds(1800), returning: [String: Int].self) { job, context in
                try await MaintenanceRetentionJob.run(job, database: database, logger: context.logger)
            }
        } else {
            registry.registerRaw(MaintenanceRetentionJob.jobName) { _, _ in
                throw JobRetryLater(after: .seconds(60), reason: "this node has no database (--database, DATABASE_URL): it cannot apply retention")
            }
        }
        switch dependencies.plaid {
        case .success(let plaid): plaid.register(in: registry)
        case .failure(let reason): PlaidJobRunner.registerUnavailable(in: registry, reason: reason)
        }
        switch dependencies.stripe {
        case .success(let runner): runner.register(in: registry)
        case .failure(let reason): StripeJobRunner.registerUnavailable(in: registry, reason: reason.description)
        }
        if let notifications = dependencies.notifications {
            notifications.register(in: registry)
        } else {
            registry.registerRaw(NotificationSendJob.jobName) { _, _ in
                throw JobRetryLater(after: .seconds(60), reason: "this node has no database (--database, DATABASE_URL): it cannot deliver notifications")
            }
        }
        if let stripe = dependencies.stripeEvents {
            stripe.register(in: registry)
        } else {
            // Back to `scheduled` without using an attempt: Stripe was already told 200, so the event must wait for a
            // node with a database rather than die.
            registry.registerRaw(StripeEventJob.jobName) { _, _ in
                throw JobRetryLater(
                    after: .seconds(60), reason: "this node has no database (--database, DATABASE_URL): it cannot apply Stripe events")
            }
        }
    }

    /// Schedules every node syncs at start (new ones are added; changed ones updated without resetting
    /// their next tick; operators' own schedules are left alone).
    public static var defaultSchedules: [Schedule] {
        var nightly = Schedule.cron("maintenance.nightly", "0 3 * * *", job: NightlyMaintenanceJob.jobName, queue: "maintenance")
        nightly.overlap = .skip
        // Daily: the fan-out enqueues each tenant's report for 06:00 on the 1st in the tenant's zone (ReportTiming).
        var monthly = Schedule.cron("reports.monthly", "0 15 * * *", job: MonthlyReportJob.jobName, queue: "reports")
        monthly.misfire = .once
        var sessions = Schedule.every("maintenance.sessions", .seconds(900), job: SessionCleanupJob.jobName, queue: "maintenance")
        sessions.overlap = .skip
        return [nightly, monthly, sessions] + PlaidJobs.defaultSchedules
    }
}

import Foundation
import JobKit

/// `maintenance.nightly` (the default schedule, 03:00 UTC): logs each queue's counts, then fans out the night's
/// maintenance as jobs of their own on `maintenance`, each keyed by its name and the UTC day (a second run of the
/// same night enqueues nothing; each piece is safe to run twice and in parallel):
///
/// - `maintenance.sessions` — expired session index entries (``SessionCleanupJob``);
/// - `maintenance.retention` `webhooks`, `notifications`, `reports` — rows past retention (``MaintenanceRetentionJob``);
/// - `plaid.item.health` — every item's health (the Plaid jobs' queue);
/// - `stripe.subscriptions.reconcile` — subscription rows against Stripe (``StripeSubscriptionsReconcileJob``).
///
/// Expired leases need no job: every node's reaper returns them.
public struct NightlyMaintenanceJob: JobPayload {
    public static let jobName = "maintenance.nightly"
    public static let queue = "maintenance"
    public init() {}

    static func run(_ context: JobContext) async throws {
        let queue = JobQueue(redis: context.redis, namespace: context.namespace, logger: context.logger)
        for name in try await queue.queueNames() {
            try Task.checkCancellation()
            let counts = try await queue.counts(name)
            context.logger.info(
                "Queue counts",
                metadata: [
                    "queue": "\(name)", "ready": "\(counts.ready)", "active": "\(counts.active)",
                    "dead": "\(counts.dead)", "completed": "\(counts.completed)",
                ])
        }
        let day = Int(Date().timeIntervalSince1970 / 86_400)
        func options(_ key: String, queue name: String = Self.queue) -> EnqueueOptions {
            var options = EnqueueOptions(queue: name)
            options.idempotencyKey = "maintenance.nightly:\(key):\(day)"
            options.idempotencyTTL = .seconds(2 * 86_400)
            options.correlationID = context.correlationID
            return options
        }
        var jobs = [try JobQueue.Job(SessionCleanupJob(), options: options("sessions"))]
        for target in MaintenanceRetentionJob.defaults.keys.sorted() {
            jobs.append(try JobQueue.Job(MaintenanceRetentionJob(target: target), options: options("retention:\(target)")))
        }
        jobs.append(try JobQueue.Job(PlaidItemHealthJob(), options: options("plaid.item.health", queue: PlaidJobs.queue)))
        jobs.append(try JobQueue.Job(StripeSubscriptionsReconcileJob(), options: options("stripe.subscriptions.reconcile")))
        let handles = try await queue.enqueueBulk(jobs)
        context.logger.info("nightly maintenance enqueued", metadata: ["jobs": "\(handles.filter(\.created).count)"])
    }
}

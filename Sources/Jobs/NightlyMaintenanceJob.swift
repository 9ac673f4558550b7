import JobKit

/// `maintenance.nightly`: logs each queue's counts (expired leases are returned by every node's reaper).
public struct NightlyMaintenanceJob: JobPayload {
    public static let jobName = "maintenance.nightly"
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
    }
}

import JobKit

/// `maintenance.sessions`: removes the index entries of expired sessions and the users left without any
/// (``SessionStore/cleanup(cursor:batch:)``), in bounded steps, so Redis memory returns to its baseline after a
/// mass expiry. Safe to run twice and in parallel (each step is idempotent). In the default schedules every
/// 15 minutes.
public struct SessionCleanupJob: JobPayload {
    public static let jobName = "maintenance.sessions"
    public init() {}

    static func run(_ context: JobContext) async throws {
        let store = SessionStore(redis: context.redis, namespace: context.namespace)
        var cursor = "0"
        var removed = 0
        repeat {
            try Task.checkCancellation()
            let step = try await store.cleanup(cursor: cursor, batch: 500)
            removed += step.removed
            cursor = step.cursor
        } while cursor != "0"
        context.logger.info("Session index cleaned", metadata: ["removed": "\(removed)"])
    }
}

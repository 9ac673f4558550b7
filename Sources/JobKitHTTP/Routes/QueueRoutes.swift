import Hummingbird
import JobKit

/// `/v1/queues…`, `/v1/nodes` and `/v1/schedules`: the shapes of `jobnode queues --json`, `nodes --json` and
/// `schedules list --json`.
struct QueueRoutes: Sendable {
    let queue: JobQueue

    func register(on group: RouterGroup<JobKitRequestContext>) {
        group.get("queues") { _, _ in try await self.list() }
        group.post("queues/{queue}/pause") { _, context in try await self.setPaused(true, context) }
        group.post("queues/{queue}/resume") { _, context in try await self.setPaused(false, context) }
        group.get("nodes") { _, _ in
            try JSONResponse.make(.ok, try await NodeRegistry(redis: queue.redis, namespace: queue.namespace).nodes())
        }
        group.get("schedules") { _, _ in
            let schedules = try await ScheduleStore(redis: queue.redis, namespace: queue.namespace).list()
            return try JSONResponse.make(.ok, schedules.map(ScheduleRow.init))
        }
    }

    func list() async throws -> Response {
        var all: [QueueCounts] = []
        for name in try await queue.queueNames() { all.append(try await queue.counts(name)) }
        return try JSONResponse.make(.ok, all)
    }

    /// `POST /v1/queues/{q}/pause|resume` → `{"queue", "paused"}`; 404 `queue_not_found`.
    func setPaused(_ paused: Bool, _ context: JobKitRequestContext) async throws -> Response {
        let name = try context.parameters.require("queue")
        guard try await queue.queueExists(name) else {
            throw APIError(.notFound, code: "queue_not_found", "unknown queue '\(name)'")
        }
        if paused { try await queue.pause(queue: name) } else { try await queue.resume(queue: name) }
        struct Reply: Encodable {
            var queue: String
            var paused: Bool
        }
        return try JSONResponse.make(.ok, Reply(queue: name, paused: paused))
    }
}

import HTTPTypes
import Hummingbird
import JobKit
import NIOCore

/// `/v1/jobs…`: enqueue (one or a batch), read, cancel and retry jobs.
struct JobRoutes: Sendable {
    let queue: JobQueue
    let maxBodyBytes: Int
    /// Jobs one batch may hold.
    static let maxBatch = 1000

    func register(on group: RouterGroup<JobKitRequestContext>) {
        group.post("jobs") { request, context in try await self.enqueue(request, context) }
        group.post("jobs:batch") { request, context in try await self.enqueueBatch(request, context) }
        group.get("jobs/{id}") { request, context in try await self.show(request, context) }
        group.delete("jobs/{id}") { request, context in try await self.cancel(request, context) }
        group.post("jobs/{id}/retry") { request, context in try await self.retry(request, context) }
    }

    /// `POST /v1/jobs` → 201 with the new job's record, or 200 with the existing one when the idempotency key
    /// is live.
    func enqueue(_ request: Request, _ context: JobKitRequestContext) async throws -> Response {
        let body = try await RequestBody.collect(request, limit: maxBodyBytes)
        let job = try EnqueueRequest.decode(body).job(field: "", requestID: context.requestID)
        let (handle, record) = try await queue.enqueueReturningRecord(job)
        guard let record else {
            // Retention removed it between the two calls (a keep-nothing queue whose job already ran).
            return try JSONResponse.make(handle.created ? .created : .ok, EnqueuedJob(handle))
        }
        return JSONResponse.make(handle.created ? .created : .ok, record)
    }

    /// `POST /v1/jobs:batch` → `{"jobs": [{"id", "queue", "created"}, …]}` in request order; 201 when at least
    /// one job was created, else 200.
    func enqueueBatch(_ request: Request, _ context: JobKitRequestContext) async throws -> Response {
        let body = try await RequestBody.collect(request, limit: maxBodyBytes)
        let batch = try EnqueueBatchRequest.decode(body)
        guard !batch.jobs.isEmpty else { throw APIError.invalidField("jobs", "is empty") }
        guard batch.jobs.count <= Self.maxBatch else {
            throw APIError(.badRequest, code: "batch_too_large", "\(batch.jobs.count) jobs in one batch; at most \(Self.maxBatch)")
        }
        var jobs: [JobQueue.Job] = []
        jobs.reserveCapacity(batch.jobs.count)
        for (i, r) in batch.jobs.enumerated() { jobs.append(try r.job(field: "jobs[\(i)]", requestID: context.requestID)) }
        let handles = try await queue.enqueueBulk(jobs)
        let created = handles.contains(where: \.created)
        return try JSONResponse.make(created ? .created : .ok, EnqueuedBatch(jobs: handles.map(EnqueuedJob.init)))
    }

    /// `GET /v1/jobs/{id}` (optional `?queue=`) → the record, as `jobnode jobs show --json` prints it.
    func show(_ request: Request, _ context: JobKitRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        guard let record = try await queue.job(id, queue: request.uri.queryParameters.get("queue")) else {
            throw APIError.jobNotFound(id)
        }
        return JSONResponse.make(.ok, record)
    }

    /// `DELETE /v1/jobs/{id}` → `{"id", "outcome"}` (`canceled`, `requested`, `alreadyFinished`), as one entry
    /// of `jobnode jobs cancel --json`; 404 `job_not_found`.
    func cancel(_ request: Request, _ context: JobKitRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        let outcome = try await queue.cancel(id, queue: request.uri.queryParameters.get("queue"))
        if outcome == .notFound { throw APIError.jobNotFound(id) }
        return try JSONResponse.make(outcome == .requested ? .accepted : .ok, ["id": id, "outcome": outcome.rawValue])
    }

    /// `POST /v1/jobs/{id}/retry` → the record after moving a dead (or canceled) job back to `ready`; 409
    /// `invalid_state` for a job in any other state.
    func retry(_ request: Request, _ context: JobKitRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        guard let record = try await queue.job(id, queue: request.uri.queryParameters.get("queue")) else {
            throw APIError.jobNotFound(id)
        }
        guard record.state == .dead || record.state == .canceled else {
            throw APIError(.conflict, code: "invalid_state", "job \(id) is \(record.state.rawValue); only dead or canceled jobs can be retried")
        }
        let moved = try await queue.requeue([id], queue: record.queue)
        guard moved == 1, let after = try await queue.job(id, queue: record.queue) else {
            throw APIError(.conflict, code: "invalid_state", "job \(id) changed state while it was retried")
        }
        return JSONResponse.make(.ok, after)
    }
}

/// One enqueued job in a batch reply.
struct EnqueuedJob: Encodable {
    var id: String
    var queue: String
    var created: Bool
    init(_ handle: JobHandle) {
        id = handle.id
        queue = handle.queue
        created = handle.created
    }
}

struct EnqueuedBatch: Encodable {
    var jobs: [EnqueuedJob]
}

/// JSON responses in JobKit's output shape.
public enum JSONResponse {
    public static func make<T: Encodable>(_ status: HTTPResponse.Status, _ value: T) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: try JSONOutput.encode(value)))
    }

    /// A job's record, written without `JSONEncoder` (the same bytes, see `JSONScannerTests`).
    public static func make(_ status: HTTPResponse.Status, _ record: JobRecord) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        var buffer = ByteBuffer()
        buffer.reserveCapacity(512 + record.payload.utf8.count)
        record.writeJSON(into: &buffer)
        return Response(status: status, headers: headers, body: .init(byteBuffer: buffer))
    }
}

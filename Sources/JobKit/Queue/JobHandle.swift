import Foundation
import NIOCore

/// A reference to an enqueued job: its id, and a way to await its outcome.
public struct JobHandle: Sendable, Hashable {
    /// The job's id.
    public let id: String
    /// The queue it was enqueued to.
    public let queue: String
    /// False when the enqueue matched a live idempotency key: ``id`` is then the existing job's.
    public let created: Bool
    let owner: JobQueue

    init(id: String, queue: String, created: Bool = true, owner: JobQueue) {
        self.id = id
        self.queue = queue
        self.created = created
        self.owner = owner
    }

    public static func == (a: JobHandle, b: JobHandle) -> Bool { a.id == b.id && a.queue == b.queue }
    public func hash(into h: inout Hasher) { h.combine(id) }

    /// Waits for the job to finish and returns its encoded result (empty when the handler returns none).
    ///
    /// Waits on the queue's event stream (no polling). Call it any time after enqueue: a job that has
    /// already finished answers at once while its record is retained.
    ///
    /// - Throws: `QueueError` — `jobFailed` (ended `dead`, with its last error), `jobCanceled`, `timeout`,
    ///   `jobNotFound` (never existed, or removed by retention).
    public func result(timeout: Duration = .seconds(60)) async throws -> ByteBuffer {
        let outcome = try await owner.listener.awaitTerminal(queue: queue, id: id, timeout: timeout)
        switch outcome.state {
        case .completed: return outcome.result
        case .dead: throw QueueError(.jobFailed, "job \(id) failed: \(outcome.error)")
        default: throw QueueError(.jobCanceled, "job \(id) was canceled")
        }
    }

    /// Waits for the job and decodes its JSON result.
    public func result<R: Decodable>(as type: R.Type, timeout: Duration = .seconds(60)) async throws -> R {
        let buffer = try await result(timeout: timeout)
        return try JSONDecoder().decode(R.self, from: Data(buffer.readableBytesView))
    }
}

/// How a job ended, as its terminal event or record says.
struct TerminalOutcome: Sendable {
    var state: JobState
    var result: ByteBuffer
    var error: String
}

extension JobQueue {
    /// A handle on a job enqueued earlier, by its id and queue (as a `202` of the HTTP API names it), to await its
    /// result. `created` is false: this handle did not make the job.
    public func handle(id: String, queue: String) -> JobHandle { JobHandle(id: id, queue: queue, created: false, owner: self) }
}

import Foundation

/// Operators' job-name → queue overrides, Celery's `task_routes`: a route decides the queue of every job of that
/// name that a ``JobQueue`` with it enqueues, whatever queue the code or the caller named, so an operator can move
/// one job family to a queue of its own (its own nodes, weights, limits) without a deploy.
///
/// Every `JobQueue` takes ``environment`` unless given other routes: `JOBKIT_ROUTES`, comma-separated
/// `job.name=queue` pairs (`reports.monthly=reports_bulk,notifications.send=high_priority`). Producers and nodes
/// read the same variable, so both sides agree. Every `jobnode` command refuses to start when it does not parse
/// (``parse(_:)``); a library caller whose variable does not parse gets no routes (parse it yourself to refuse).
///
/// Idempotency keys live per queue: while producers disagree about a route (a rolling change), the same key can
/// enqueue once in each queue. Change routes on producers and nodes together.
public struct QueueRoutes: Sendable, Equatable {
    /// Job name → queue.
    public var queues: [String: String]

    public init(_ queues: [String: String] = [:]) {
        self.queues = queues
    }

    /// No routes.
    public static let none = QueueRoutes()

    /// The name of the environment variable read by ``environment``.
    public static let variable = "JOBKIT_ROUTES"

    /// The routes of this process's `JOBKIT_ROUTES`, read once (none when it is unset, empty, or does not parse).
    public static let environment: QueueRoutes = {
        guard let text = ProcessInfo.processInfo.environment[variable] else { return .none }
        return (try? parse(text)) ?? .none
    }()

    /// The queue a route gives `jobName`, if any.
    public func queue(for jobName: String) -> String? { queues.isEmpty ? nil : queues[jobName] }

    /// `job` with its queue replaced by its route's, if it has one.
    public func apply(_ job: JobQueue.Job) -> JobQueue.Job {
        guard let queue = queue(for: job.name), queue != job.options.queue else { return job }
        var routed = job
        routed.options.queue = queue
        return routed
    }

    /// Parses `job.name=queue[,job.name=queue…]` (spaces around entries are ignored; an empty text is no routes).
    ///
    /// - Throws: ``QueueError`` `invalidOptions` naming the entry: no `=`, an empty job name, a queue name that is
    ///   not 1-100 characters of `a-z A-Z 0-9 . _ -`, or a job named twice.
    public static func parse(_ text: String) throws -> QueueRoutes {
        var queues: [String: String] = [:]
        for (name, queue) in try AssignmentList.parse(text, variable: variable, shape: "job.name=queue", twice: "is routed twice") {
            guard !name.isEmpty else { throw QueueError(.invalidOptions, "\(variable): '\(name)=\(queue)' has no job name") }
            guard QueueName.isValid(queue) else {
                throw QueueError(.invalidOptions, "\(variable): queue name '\(queue)' must be 1-100 characters of a-z A-Z 0-9 . _ -")
            }
            queues[name] = queue
        }
        return QueueRoutes(queues)
    }
}

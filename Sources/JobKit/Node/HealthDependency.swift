import Synchronization

/// A dependency of a node besides Redis, such as PostgreSQL, that health checks look at (`/health/ready`,
/// `/health/detailed` of the HTTP surface). Checkers run each with a deadline
/// (``DependencyHealth/checkWithDeadline(_:timeout:)``), so that a hung dependency makes a report say `down`
/// instead of hanging it.
public protocol HealthDependency: Sendable {
    /// The key of its part in `/health/detailed` (`postgres`).
    var name: String { get }
    /// One check: a round trip and what the dependency says about itself. Should return within `timeout`;
    /// the checker stops waiting after it either way.
    func check(timeout: Duration) async -> DependencyHealth
}

/// One dependency's part of `/health/detailed`: `{"status": "ok"|"down"|"not configured", "latencyMs", "pool",
/// "error"}`; absent fields are left out.
public struct DependencyHealth: Sendable, Encodable, Equatable {
    /// `ok`, `down`, or `not configured`.
    public var status: String
    /// One round trip, in ms.
    public var latencyMs: Double?
    /// The client's connection pool, as far as the client tells (`maxConnections`, …).
    public var pool: [String: Int]?
    public var error: String?

    public init(status: String, latencyMs: Double? = nil, pool: [String: Int]? = nil, error: String? = nil) {
        self.status = status
        self.latencyMs = latencyMs
        self.pool = pool
        self.error = error
    }

    public static let notConfigured = DependencyHealth(status: "not configured")
    public var isUp: Bool { status == "ok" }

    /// Runs `dependency.check` and gives up after `timeout` (plus a small margin) without waiting for it to
    /// return: a dependency stopped with `SIGSTOP` never answers, and a health report must.
    public static func checkWithDeadline(_ dependency: any HealthDependency, timeout: Duration) async -> DependencyHealth {
        let first = FirstAnswer()
        let result = await withCheckedContinuation { (c: CheckedContinuation<DependencyHealth, Never>) in
            first.set(c)
            first.add(Task { first.finish(await dependency.check(timeout: timeout)) })
            first.add(
                Task {
                    try? await Task.sleep(for: timeout + .milliseconds(100))
                    first.finish(DependencyHealth(status: "down", error: "no answer within \(timeout)"))
                })
        }
        first.cancelAll()
        return result
    }
}

/// The first of two racing answers resumes the waiter; the other is dropped.
private final class FirstAnswer: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<DependencyHealth, Never>?, tasks: [Task<Void, Never>])>((nil, []))
    func set(_ c: CheckedContinuation<DependencyHealth, Never>) { state.withLock { $0.continuation = c } }
    func add(_ task: Task<Void, Never>) { state.withLock { $0.tasks.append(task) } }
    func finish(_ value: DependencyHealth) {
        let c = state.withLock { s -> CheckedContinuation<DependencyHealth, Never>? in
            defer { s.continuation = nil }
            return s.continuation
        }
        c?.resume(returning: value)
    }
    func cancelAll() { for task in state.withLock({ $0.tasks }) { task.cancel() } }
}

import NIOCore
import Synchronization

/// Why a running job is being stopped before it finished on its own.
enum StopReason: Sendable, Equatable {
    /// Its execution timeout passed.
    case timeout(Duration)
    /// An operator or producer canceled it.
    case canceled
    /// Its lease was taken over by another node; its result would be refused.
    case leaseLost
    /// The node is shutting down; the job is handed back.
    case shutdown
}

/// How a job's handler ended.
enum JobOutcome: Sendable {
    case success(ByteBuffer)
    case thrown(any Error)
}

/// The node-side handle of one running attempt: its lease token, deadline, and the means to stop it.
final class JobControl: Sendable {
    let job: ClaimedJob
    let timeout: Duration
    let deadline: ContinuousClock.Instant
    private struct State {
        var task: Task<Void, Never>?
        var reason: StopReason?
        var stoppedAt: ContinuousClock.Instant?
        var finalized = false
        var finishedByHandler = false
        var reportedIgnoring = false
    }
    private let state = Mutex(State())

    init(job: ClaimedJob, timeout: Duration) {
        self.job = job
        self.timeout = timeout
        self.deadline = .now + timeout
    }

    func attach(_ task: Task<Void, Never>) {
        let cancelNow = state.withLock { s -> Bool in
            s.task = task
            return s.reason != nil
        }
        if cancelNow { task.cancel() }
    }

    /// Asks the handler to stop (first reason wins) by canceling its task.
    func stop(_ reason: StopReason) {
        let task = state.withLock { s -> Task<Void, Never>? in
            guard s.reason == nil else { return nil }
            s.reason = reason
            s.stoppedAt = .now
            return s.task
        }
        task?.cancel()
    }

    var reason: StopReason? { state.withLock { $0.reason } }

    /// The handler said its work is done (``JobContext/markFinished()``): a normal return after a stop
    /// request then still counts as success.
    func markFinished() { state.withLock { $0.finishedByHandler = true } }
    var finishedByHandler: Bool { state.withLock { $0.finishedByHandler } }

    /// Takes the right to write the attempt's outcome: true exactly once (the handler's task when it
    /// returns, or the worker handing back a handler that never returned when the worker stops).
    func claimFinalization() -> Bool {
        state.withLock { s in
            if s.finalized { return false }
            s.finalized = true
            return true
        }
    }

    /// Called by the watchdog: applies the timeout; returns true, once, when the handler has ignored a
    /// stop request for longer than `grace` (it is reported; its slot stays taken until it returns).
    func check(now: ContinuousClock.Instant, grace: Duration) -> Bool {
        if now >= deadline, reason == nil {
            stop(.timeout(timeout))
        }
        return state.withLock { s in
            guard let stoppedAt = s.stoppedAt, !s.reportedIgnoring, !s.finalized, now - stoppedAt >= grace else {
                return false
            }
            s.reportedIgnoring = true
            return true
        }
    }
}

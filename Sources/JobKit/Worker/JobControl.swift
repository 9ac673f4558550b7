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
    /// The handler ignored cancellation past the grace period; its task is abandoned.
    case abandoned
}

/// The node-side handle of one running job: its lease token, deadline, and the means to stop it.
final class JobControl: Sendable {
    let job: ClaimedJob
    let timeout: Duration
    let deadline: ContinuousClock.Instant
    private struct State {
        var task: Task<Void, Never>?
        var reason: StopReason?
        var stoppedAt: ContinuousClock.Instant?
        var finalized = false
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

    /// Takes the right to write the job's outcome: true exactly once (the handler's task when it returns,
    /// or the watchdog when the handler ignored cancellation past the grace period).
    func claimFinalization() -> Bool {
        state.withLock { s in
            if s.finalized { return false }
            s.finalized = true
            return true
        }
    }

    /// Called by the watchdog: applies the timeout; returns true when the handler has ignored
    /// cancellation for longer than `grace` and should be abandoned.
    func check(now: ContinuousClock.Instant, grace: Duration) -> Bool {
        if now >= deadline, reason == nil {
            stop(.timeout(timeout))
        }
        if let stoppedAt = state.withLock({ $0.stoppedAt }), now - stoppedAt >= grace {
            return true
        }
        return false
    }
}

import NIOCore

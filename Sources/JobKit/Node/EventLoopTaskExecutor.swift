import NIOCore

/// Runs tasks on one NIO event loop: with `withTaskExecutorPreference`, every nonisolated async function
/// and default actor in the task runs there, not on the global executor. The node agent uses it so that
/// heartbeats and lease renewals keep running while handlers block the global executor's threads.
final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    // Invariant: `loop` is immutable and event loops are thread-safe.
    let loop: any EventLoop

    init(_ loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

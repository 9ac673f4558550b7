import CoreMetrics
import Synchronization

/// The worker's metrics, through swift-metrics: whatever backend the process bootstrapped (jobnode
/// bootstraps swift-prometheus and serves `/metrics`), or nothing at all when none was.
///
/// Labels are bounded: `queue` is one of the worker's queues, `job` a name registered in the
/// ``JobRegistry`` (any other name is counted as `unregistered`). Ids, tenants and error texts are never
/// labels. The names and their meaning are listed in `docs/metrics.md`.
final class WorkerMetrics: Sendable {
    /// The series of one queue and job name, made once and reused.
    final class JobSeries: Sendable {
        let started: Counter
        let completed: Counter
        let failed: Counter
        let retried: Counter
        let dead: Counter
        let canceled: Counter
        let duration: Timer
        let wait: Timer
        /// The job label: the name, or `unregistered`.
        let label: String

        init(queue: String, job: String) {
            label = job
            let d = [("queue", queue), ("job", job)]
            started = Counter(label: "jobkit_jobs_started_total", dimensions: d)
            completed = Counter(label: "jobkit_jobs_completed_total", dimensions: d)
            failed = Counter(label: "jobkit_jobs_failed_total", dimensions: d)
            retried = Counter(label: "jobkit_jobs_retried_total", dimensions: d)
            dead = Counter(label: "jobkit_jobs_dead_total", dimensions: d)
            canceled = Counter(label: "jobkit_jobs_canceled_total", dimensions: d)
            duration = Timer(label: "jobkit_job_duration_seconds", dimensions: d, preferredDisplayUnit: .seconds)
            wait = Timer(label: "jobkit_job_wait_seconds", dimensions: d, preferredDisplayUnit: .seconds)
        }
    }

    struct Key: Hashable {
        var queue: String
        var job: String
    }

    /// The label for job names that no handler is registered for.
    static let unregistered = "unregistered"

    static let leaseRenewals = Counter(label: "jobkit_lease_renewals_total")
    static let leasesLost = Counter(label: "jobkit_leases_lost_total")
    let resultsRefused = Counter(label: "jobkit_results_refused_total")
    let claimBatch = Recorder(label: "jobkit_claim_batch_size", aggregate: true)

    private let registry: JobRegistry
    private let series = Mutex<[Key: JobSeries]>([:])

    init(registry: JobRegistry) {
        self.registry = registry
    }

    /// The series for a job of `queue` named `name` (`unregistered` when no handler has that name).
    func job(queue: String, name: String) -> JobSeries {
        let key = Key(queue: queue, job: registry.entry(name) == nil ? Self.unregistered : name)
        if let existing = series.withLock({ $0[key] }) { return existing }
        let made = JobSeries(queue: key.queue, job: key.job)
        return series.withLock { s in
            if let existing = s[key] { return existing }
            s[key] = made
            return made
        }
    }
}

/// Counters of jobs taken back from expired leases and dead nodes (the reaper's and the agent's).
enum ReclaimMetrics {
    /// Jobs put back to `ready` from an expired lease or a dead node.
    static let reclaimed = Counter(label: "jobkit_jobs_reclaimed_total")
    /// Jobs made dead instead, because their leases expired too often (``WorkerOptions/maxLeaseExpiries``).
    static let deadAfterReclaim = Counter(label: "jobkit_jobs_dead_after_lease_expiry_total")

    static func record(_ moved: LeaseScripts.Moved) {
        if moved.requeued > 0 { reclaimed.increment(by: moved.requeued) }
        if moved.dead > 0 { deadAfterReclaim.increment(by: moved.dead) }
    }
}

import JobKit
import Logging
import Synchronization

/// The webhook endpoints' counters, kept in memory and written to the ``WebhookLedger`` in one script call per
/// provider at most every ``interval`` — as Sidekiq flushes its processed/failed counts on its heartbeat — instead
/// of one Redis call per delivery (on the intake path that call was a third of the Redis work).
///
/// ``count(_:_:)`` never waits and never fails. `GET /webhooks/health` shows a delivery once the flush after it has
/// run (at most ``interval`` later). Counts of a flush that Redis refuses are put back for the next one; counts
/// not yet flushed when the process dies are lost (they are health statistics, not the record of events: that is
/// the jobs and, for Stripe, the `stripe_events` table).
public final class WebhookTally: Sendable {
    public let ledger: WebhookLedger
    public let interval: Duration
    let logger: Logger
    struct State {
        var counts: [WebhookProvider: [WebhookOutcome: Int]] = [:]
        var flushScheduled = false
    }
    let state = Mutex(State())

    public init(ledger: WebhookLedger, interval: Duration = .milliseconds(100), logger: Logger = Logger(label: "jobkit.webhooks")) {
        self.ledger = ledger
        self.interval = interval
        self.logger = logger
    }

    /// Counts one delivery; a flush is scheduled if none is.
    public func count(_ provider: WebhookProvider, _ outcome: WebhookOutcome) {
        let schedule = state.withLock { state -> Bool in
            state.counts[provider, default: [:]][outcome, default: 0] += 1
            guard !state.flushScheduled else { return false }
            state.flushScheduled = true
            return true
        }
        guard schedule else { return }
        Task { [self] in
            try? await Task.sleep(for: interval)
            await flush()
        }
    }

    /// Writes what is counted now (tests and shutdown call it; the scheduled flush does too).
    public func flush() async {
        let taken = state.withLock { state -> [WebhookProvider: [WebhookOutcome: Int]] in
            defer {
                state.counts = [:]
                state.flushScheduled = false
            }
            return state.counts
        }
        for (provider, counts) in taken {
            do {
                try await ledger.record(provider: provider, counts: counts)
            } catch {
                logger.notice("webhook counts not written; kept for the next flush", metadata: ["provider": "\(provider.name)", "error": "\(error)"])
                state.withLock { state in
                    for (outcome, n) in counts { state.counts[provider, default: [:]][outcome, default: 0] += n }
                }
            }
        }
    }
}

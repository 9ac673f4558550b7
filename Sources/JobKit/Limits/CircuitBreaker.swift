#if canImport(Glibc)
import Glibc
#endif
import Logging

/// A circuit breaker for one external dependency on one node: **closed** (calls pass; outcomes go into a
/// sliding window of the last ``Policy/windowSize`` calls) → **open** when, after at least
/// ``Policy/minimumCalls``, the share of failures (slow calls included) reaches ``Policy/failureRateThreshold``
/// (calls are refused at once for ``Policy/openDuration``) → **half-open** (``Policy/halfOpenTrials`` trial
/// calls pass, the rest are refused) → closed again when the trials' failure rate is under the threshold, open
/// again otherwise. Each transition is logged once at notice.
///
/// What a refused call does is the dependency's ``Policy/whenOpen``: fail closed (throw ``CircuitOpenError``),
/// fail closed with retry (throw `JobRetryLater` for the remaining open time, so a job goes back to
/// `scheduled` without using an attempt), or fail open (``run(_:fallback:)`` returns the fallback's value).
public actor CircuitBreaker {
    /// How one breaker judges and what a refused call does. Defaults after resilience4j's: 50 % of the last
    /// 100 calls, judged from 20 calls on, open for 60 s, 3 half-open trials, no slow-call threshold.
    public struct Policy: Sendable, Hashable {
        public enum WhenOpen: String, Sendable, Hashable {
            /// Throw ``CircuitOpenError`` (payments: never guess).
            case failClosed = "fail-closed"
            /// Throw `JobRetryLater(after: remaining open time)`: the job waits without spending an attempt.
            case retryLater = "retry-later"
            /// Skip the dependency: ``CircuitBreaker/run(_:fallback:)`` returns the fallback (a cache).
            case failOpen = "fail-open"
        }
        public var failureRateThreshold = 0.5
        public var windowSize = 100
        public var minimumCalls = 20
        public var openDuration: Duration = .seconds(60)
        public var halfOpenTrials = 3
        /// Calls slower than this count as failures (nil: none do).
        public var slowCallThreshold: Duration?
        public var whenOpen: WhenOpen = .failClosed

        public init(whenOpen: WhenOpen = .failClosed) { self.whenOpen = whenOpen }

        /// Redis used as a cache: fails open.
        public static var cache: Policy {
            var p = Policy(whenOpen: .failOpen)
            p.openDuration = .seconds(10)
            p.slowCallThreshold = .milliseconds(250)
            return p
        }
        /// Stripe: fails closed.
        public static var stripe: Policy { Policy(whenOpen: .failClosed) }
        /// Plaid: fails closed with retry.
        public static var plaid: Policy { Policy(whenOpen: .retryLater) }

        func validate() throws {
            guard (0.0...1.0).contains(failureRateThreshold), windowSize >= 1, minimumCalls >= 1, halfOpenTrials >= 1,
                openDuration > .zero
            else { throw LimitError("invalid breaker policy \(self)") }
        }
    }

    public enum State: String, Sendable, Codable {
        case closed, open
        case halfOpen = "half-open"
    }

    /// A breaker's state for health, metrics and `jobnode breakers`.
    public struct Snapshot: Sendable, Codable, Equatable {
        public var service: String
        public var state: State
        /// Failures (slow calls included) / calls in the window, 0 without calls.
        public var failureRate: Double
        /// Calls in the window.
        public var calls: Int
        /// When it last opened (ms since the Unix epoch, this node's clock), nil when never.
        public var openedAtMs: Int64?
        /// When an open breaker lets trial calls through, nil unless open.
        public var nextAttemptAtMs: Int64?
    }

    public nonisolated let service: String
    public nonisolated let policy: Policy
    private let logger: Logger
    private let clock = ContinuousClock()
    private var state: State = .closed
    /// The window: true = failure, oldest first.
    private var outcomes: [Bool] = []
    private var failures = 0
    private var openedAt: ContinuousClock.Instant?
    private var openedAtWall: Int64?
    private var trialsStarted = 0
    private var trialOutcomes: [Bool] = []
    private var onTransition: (@Sendable (Snapshot) -> Void)?

    /// - Throws: ``LimitError`` for a policy out of range.
    public init(service: String, policy: Policy = Policy(), logger: Logger = Logger(label: "jobkit.breaker")) throws {
        try policy.validate()
        self.service = service
        self.policy = policy
        var logger = logger
        logger[metadataKey: "breaker.service"] = "\(service)"
        self.logger = logger
    }

    /// Calls `handler` with the new snapshot on every transition (publishing, metrics).
    public func setOnTransition(_ handler: @escaping @Sendable (Snapshot) -> Void) { onTransition = handler }

    /// Runs `body` if the breaker lets it, recording its outcome; a refused call throws per the policy
    /// (``CircuitOpenError`` or `JobRetryLater`; a fail-open breaker also throws ``CircuitOpenError`` here —
    /// use ``run(_:fallback:)``). `isFailure` decides which errors count against the dependency (by default
    /// all but cancellation; a card decline is the caller's answer, not the dependency's failure).
    public func run<T: Sendable>(
        isFailure: @Sendable (any Error) -> Bool = { !($0 is CancellationError) },
        _ body: @Sendable () async throws -> T
    ) async throws -> T {
        let trial = try permit()
        let start = clock.now
        do {
            let value = try await body()
            record(failed: isSlow(clock.now - start), trial: trial)
            return value
        } catch {
            record(failed: isFailure(error) || isSlow(clock.now - start), trial: trial)
            throw error
        }
    }

    /// Fail-open use: while the breaker refuses calls, or when `body` throws, returns `fallback()` instead.
    public func run<T: Sendable>(
        _ body: @Sendable () async throws -> T, fallback: @Sendable () async -> T
    ) async -> T {
        do {
            return try await run(body)
        } catch {
            return await fallback()
        }
    }

    /// The current state (an open breaker past its open time reports half-open).
    public func snapshot() -> Snapshot {
        advance()
        return currentSnapshot()
    }

    // MARK: - Internals

    /// Open past its time → half-open.
    private func advance() {
        if state == .open, let openedAt, clock.now - openedAt >= policy.openDuration {
            transition(to: .halfOpen)
        }
    }

    /// Lets a call through (true when it is a half-open trial) or throws per the policy.
    private func permit() throws -> Bool {
        advance()
        switch state {
        case .closed:
            return false
        case .halfOpen where trialsStarted < policy.halfOpenTrials:
            trialsStarted += 1
            return true
        case .halfOpen, .open:
            let remaining: Duration
            if state == .open, let openedAt { remaining = max(.milliseconds(1), policy.openDuration - (clock.now - openedAt)) } else { remaining = .seconds(1) }
            if policy.whenOpen == .retryLater {
                throw JobRetryLater(after: remaining, reason: "circuit breaker for \(service) is \(state.rawValue)")
            }
            throw CircuitOpenError(service: service, state: state, retryAfter: remaining)
        }
    }

    private func isSlow(_ took: Duration) -> Bool { policy.slowCallThreshold.map { took > $0 } ?? false }

    private func record(failed: Bool, trial: Bool) {
        if trial {
            guard state == .halfOpen else { return }
            trialOutcomes.append(failed)
            if failed {
                transition(to: .open)
            } else if trialOutcomes.count >= policy.halfOpenTrials {
                let rate = Double(trialOutcomes.filter { $0 }.count) / Double(trialOutcomes.count)
                transition(to: rate >= policy.failureRateThreshold ? .open : .closed)
            }
            return
        }
        guard state == .closed else { return }
        outcomes.append(failed)
        if failed { failures += 1 }
        if outcomes.count > policy.windowSize, outcomes.removeFirst() { failures -= 1 }
        if outcomes.count >= policy.minimumCalls, Double(failures) / Double(outcomes.count) >= policy.failureRateThreshold {
            transition(to: .open)
        }
    }

    private func transition(to next: State) {
        let previous = state
        let rate = outcomes.isEmpty ? 0 : Double(failures) / Double(outcomes.count)
        state = next
        switch next {
        case .open:
            openedAt = clock.now
            openedAtWall = Self.wallMs()
        case .halfOpen:
            trialsStarted = 0
            trialOutcomes = []
        case .closed:
            outcomes = []
            failures = 0
            trialOutcomes = []
        }
        logger.notice(
            "Circuit breaker \(next.rawValue)",
            metadata: ["breaker.from": "\(previous.rawValue)", "breaker.failureRate": "\(rate)"])
        onTransition?(currentSnapshot())
    }

    /// The state as it stands (half-open: the trials' outcomes).
    private func currentSnapshot() -> Snapshot {
        let calls = state == .halfOpen ? trialOutcomes.count : outcomes.count
        let failed = state == .halfOpen ? trialOutcomes.filter { $0 }.count : failures
        var next: Int64?
        if state == .open, let openedAtWall { next = openedAtWall + policy.openDuration.milliseconds }
        return Snapshot(
            service: service, state: state, failureRate: calls == 0 ? 0 : Double(failed) / Double(calls), calls: calls,
            openedAtMs: openedAtWall, nextAttemptAtMs: next)
    }

    static func wallMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}

/// A call refused by an open (or saturated half-open) circuit breaker: the dependency is treated as
/// unavailable, at once, without calling it.
public struct CircuitOpenError: Error, Sendable, CustomStringConvertible {
    public var service: String
    public var state: CircuitBreaker.State
    /// When the breaker lets trial calls through again.
    public var retryAfter: Duration
    public var description: String {
        "serviceUnavailable: the circuit breaker for \(service) is \(state.rawValue); not calling it (retry after \(retryAfter))"
    }
}

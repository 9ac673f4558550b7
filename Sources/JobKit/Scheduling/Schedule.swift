import Foundation

/// A recurring job: what to enqueue, and when.
///
/// Schedules live in Redis; every node's ``Scheduler`` fires them, and each tick enqueues exactly one job
/// (the tick time is the job's idempotency key, claimed in the same script that advances the tick).
public struct Schedule: Codable, Sendable, Equatable {
    /// When a schedule fires.
    public enum Trigger: Codable, Sendable, Equatable {
        /// A cron expression, evaluated in an IANA time zone.
        case cron(expression: String, timeZone: String)
        /// Every `milliseconds`, anchored at `anchorMs` (ticks are anchor + k × interval: no drift).
        case every(milliseconds: Int64, anchorMs: Int64)
    }

    /// What to do with ticks missed while no node ran the scheduler.
    public enum Misfire: Codable, Sendable, Equatable {
        /// Drop them; fire only the latest tick if it is less than a minute late (the default).
        case skip
        /// Fire one catch-up job for all of them.
        case once
        /// Fire one job per missed tick, at most `cap` (the most recent ones).
        case all(cap: Int)
    }

    /// What to do when a tick comes while the previous run is still waiting or running.
    public enum Overlap: String, Codable, Sendable, Equatable {
        /// Enqueue anyway (the default).
        case allow
        /// Skip this tick.
        case skip
        /// Cancel the previous run, then enqueue.
        case replace
    }

    /// Unique name (also the key of its state).
    public var name: String
    /// The job to enqueue: its name and JSON payload.
    public var job: String
    public var payload: String = "{}"
    public var queue: String = "default"
    public var priority: Int = 0
    public var maxAttempts: Int = 5
    public var timeoutMs: Int64?
    public var trigger: Trigger
    /// No tick before this time (ms since the Unix epoch).
    public var startMs: Int64?
    /// No tick after this time.
    public var endMs: Int64?
    /// A random delay up to this many ms, fixed per tick (every node computes the same one).
    public var jitterMs: Int64 = 0
    public var misfire: Misfire = .skip
    public var overlap: Overlap = .allow
    /// Cron only: a local time skipped by a spring-forward is skipped (instead of firing once right after
    /// the gap).
    public var skipDSTGap: Bool = false
    public var enabled: Bool = true

    public init(name: String, job: String, payload: String = "{}", queue: String = "default", trigger: Trigger) {
        self.name = name
        self.job = job
        self.payload = payload
        self.queue = queue
        self.trigger = trigger
    }

    /// A cron schedule.
    public static func cron(_ name: String, _ expression: String, timeZone: String = "UTC", job: String, payload: String = "{}", queue: String = "default") -> Schedule {
        Schedule(name: name, job: job, payload: payload, queue: queue, trigger: .cron(expression: expression, timeZone: timeZone))
    }

    /// An interval schedule anchored at `anchorMs` (default: the Unix epoch, so whole intervals).
    public static func every(_ name: String, _ interval: Duration, anchorMs: Int64 = 0, job: String, payload: String = "{}", queue: String = "default") -> Schedule {
        Schedule(name: name, job: job, payload: payload, queue: queue, trigger: .every(milliseconds: interval.milliseconds, anchorMs: anchorMs))
    }

    /// Checks the trigger and options; throws `ScheduleError` naming what is wrong.
    public func validate() throws {
        guard !name.isEmpty, !name.contains(" ") else { throw ScheduleError("schedule name '\(name)' must be non-empty, without spaces") }
        guard QueueName.isValid(queue) else { throw ScheduleError("invalid queue name '\(queue)'") }
        guard !job.isEmpty else { throw ScheduleError("schedule '\(name)' has no job name") }
        guard (-999...999).contains(priority), maxAttempts >= 1 else { throw ScheduleError("priority or max attempts out of range") }
        guard (try? JSONSerialization.jsonObject(with: Data(payload.utf8), options: [.fragmentsAllowed])) != nil else {
            throw ScheduleError("payload of schedule '\(name)' is not valid JSON")
        }
        switch trigger {
        case .cron(let expression, let zone):
            _ = try CronExpression(expression)
            guard TimeZone(identifier: zone) != nil else { throw ScheduleError("unknown time zone '\(zone)'") }
        case .every(let ms, let anchorMs):
            _ = try IntervalTrigger(every: .milliseconds(ms), anchor: Date(milliseconds: anchorMs))
        }
        if case .all(let cap) = misfire, cap < 1 { throw ScheduleError("misfire cap must be at least 1") }
    }

    /// The first tick strictly after `ms` (ms since the Unix epoch), within start/end; nil when none.
    public func nextTick(after ms: Int64) -> Int64? {
        var from = ms
        if let startMs, from < startMs - 1 { from = startMs - 1 }
        let next: Int64?
        switch trigger {
        case .cron(let expression, let zone):
            guard let cron = try? CronExpression(expression), let tz = TimeZone(identifier: zone) else { return nil }
            let after = Date(milliseconds: from)
            next = cron.nextFireTime(after: after, in: tz, skippedTimes: skipDSTGap ? .skip : .fireAfterGap)?.milliseconds
        case .every(let interval, let anchor):
            if from < anchor {
                next = anchor  // the first tick is the anchor itself
            } else {
                next = (try? IntervalTrigger(every: .milliseconds(interval), anchor: Date(milliseconds: anchor)))
                    .map { $0.nextFireTime(after: Date(milliseconds: from)).milliseconds }
            }
        }
        guard let next else { return nil }
        if let endMs, next > endMs { return nil }
        return next
    }

    /// The jitter of `tick`: the same on every node (a hash of name and tick).
    func jitter(for tick: Int64) -> Int64 {
        guard jitterMs > 0 else { return 0 }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "\(name)@\(tick)".utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return Int64(hash % UInt64(jitterMs + 1))
    }

    /// A fingerprint of what decides the ticks: when it changes, the next tick is recomputed.
    var triggerFingerprint: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let parts = TriggerParts(trigger: trigger, startMs: startMs, endMs: endMs, skipDSTGap: skipDSTGap)
        return String(decoding: (try? encoder.encode(parts)) ?? Data(), as: UTF8.self)
    }

    private struct TriggerParts: Encodable {
        var trigger: Trigger
        var startMs: Int64?
        var endMs: Int64?
        var skipDSTGap: Bool
    }

    /// The definition as stored.
    var encoded: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    static func decode(_ text: String) -> Schedule? {
        try? JSONDecoder().decode(Schedule.self, from: Data(text.utf8))
    }
}

/// A schedule that cannot be stored or parsed.
public struct ScheduleError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension Schedule {
    /// The ticks to fire when the due tick `tick` is claimed at Redis time `now`, per the misfire policy,
    /// and the next tick after `now`.
    func plan(dueTick tick: Int64, now: Int64) -> (fire: [Int64], next: Int64?) {
        var missed: [Int64] = [tick]
        var cursor = tick
        while let n = nextTick(after: cursor), n <= now, missed.count < 10_000 {
            missed.append(n)
            cursor = n
        }
        let next = nextTick(after: max(now, cursor))
        let latest = missed.last!
        let onTime = now - latest <= 60_000
        switch misfire {
        case .skip:
            return (onTime ? [latest] : [], next)
        case .once:
            return ([latest], next)
        case .all(let cap):
            return (Array(missed.suffix(cap)), next)
        }
    }
}

extension Date {
    /// The date `ms` milliseconds after the Unix epoch.
    init(milliseconds ms: Int64) { self.init(timeIntervalSince1970: Double(ms) / 1000) }
    /// Whole milliseconds since the Unix epoch (rounded).
    var milliseconds: Int64 { Int64((timeIntervalSince1970 * 1000).rounded()) }
}

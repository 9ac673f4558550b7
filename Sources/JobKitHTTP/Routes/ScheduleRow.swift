import Foundation
import JobKit

/// One schedule as `jobnode schedules list --json` prints it and `GET /v1/schedules` answers: times as RFC 3339
/// in the schedule's zone (UTC for intervals) and as ms since the Unix epoch, every key present (`null` when
/// absent).
public struct ScheduleRow: Encodable, Sendable {
    public var name: String
    public var trigger: String
    public var tz: String?
    public var nextRun: String?
    public var nextRunMs: Int64?
    public var lastRun: String?
    public var lastRunMs: Int64?
    public var lastJobId: String?
    public var enabled: Bool
    public var job: String
    public var queue: String
    public var misfire: String
    public var overlap: String

    /// The row of one schedule.
    public init(_ info: ScheduleInfo) {
        let s = info.schedule
        name = info.name
        switch s.trigger {
        case .cron(let expression, let zone):
            trigger = "cron \(expression)"
            tz = zone
        case .every(let ms, _):
            trigger = "every \(Self.duration(ms))"
            tz = nil
        }
        let zone = tz.flatMap(TimeZone.init(identifier:)) ?? TimeZone(identifier: "UTC")!
        nextRunMs = info.nextRunMs
        nextRun = info.nextRunMs.map { Self.iso($0, zone) }
        lastRunMs = info.lastRunMs
        lastRun = info.lastRunMs.map { Self.iso($0, zone) }
        lastJobId = info.lastJobId
        enabled = s.enabled
        job = s.job
        queue = s.queue
        switch s.misfire {
        case .skip: misfire = "skip"
        case .once: misfire = "once"
        case .all(let cap): misfire = "all:\(cap)"
        }
        overlap = s.overlap.rawValue
    }

    /// `1d`, `2h`, `5m`, `30s` or `250ms`: the largest whole unit.
    public static func duration(_ ms: Int64) -> String {
        if ms % 86_400_000 == 0 { return "\(ms / 86_400_000)d" }
        if ms % 3_600_000 == 0 { return "\(ms / 3_600_000)h" }
        if ms % 60_000 == 0 { return "\(ms / 60_000)m" }
        if ms % 1000 == 0 { return "\(ms / 1000)s" }
        return "\(ms)ms"
    }

    public func encode(to encoder: any Encoder) throws {
        enum K: String, CodingKey {
            case name, trigger, tz, nextRun, nextRunMs, lastRun, lastRunMs, lastJobId, enabled, job, queue, misfire, overlap
        }
        var c = encoder.container(keyedBy: K.self)
        try c.encode(name, forKey: .name)
        try c.encode(trigger, forKey: .trigger)
        try c.encode(tz, forKey: .tz)
        try c.encode(nextRun, forKey: .nextRun)
        try c.encode(nextRunMs, forKey: .nextRunMs)
        try c.encode(lastRun, forKey: .lastRun)
        try c.encode(lastRunMs, forKey: .lastRunMs)
        try c.encode(lastJobId, forKey: .lastJobId)
        try c.encode(enabled, forKey: .enabled)
        try c.encode(job, forKey: .job)
        try c.encode(queue, forKey: .queue)
        try c.encode(misfire, forKey: .misfire)
        try c.encode(overlap, forKey: .overlap)
    }

    static func iso(_ ms: Int64, _ zone: TimeZone) -> String {
        let f = ISO8601DateFormatter()
        f.timeZone = zone
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }
}

import Foundation

/// When a tenant's monthly report is due: at 06:00 on the 1st of the month in the tenant's own time zone
/// (`tenants.time_zone`, default UTC), for the month that just ended there.
///
/// The `reports.monthly` schedule runs the fan-out daily at 15:00 UTC, earlier than any zone's 06:00 on the 1st
/// (UTC+14 reaches it at 16:00 UTC the day before), and each run enqueues the reports due within ``window`` of
/// it, to run at their instant, so every tenant's report starts at its own 06:00 whatever the zone, and a run
/// that a node outage delayed still enqueues a report whose instant passed less than ``window`` ago.
public enum ReportTiming {
    /// How far ahead (and back) of a fan-out run a tenant's instant may be: 36 h, so that consecutive daily runs
    /// overlap and none is missed; the idempotency key per tenant and month keeps the overlap from doubling a job.
    public static let window: Int64 = 36 * 3_600_000

    /// The local hour the report is made at.
    public static let hour = 6

    /// The report due for a tenant in `zone` near `nowMs` (ms since the Unix epoch): the month it covers and the
    /// instant it runs at, or nil when neither this month's nor next month's 1st 06:00 is within ``window``.
    /// An unknown zone counts as UTC.
    public static func due(nowMs: Int64, zone: String) -> (month: ReportMonth, runAtMs: Int64)? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: zone) ?? TimeZone(identifier: "UTC")!
        let now = Date(timeIntervalSince1970: Double(nowMs) / 1000)
        let local = calendar.dateComponents([.year, .month], from: now)
        let thisMonth = ReportMonth(year: local.year!, month: local.month!)
        for first in [thisMonth, thisMonth.adding(1)] {
            guard let instant = calendar.date(from: DateComponents(year: first.year, month: first.month, day: 1, hour: hour)) else {
                continue
            }
            let at = Int64((instant.timeIntervalSince1970 * 1000).rounded())
            if at > nowMs - window && at <= nowMs + window { return (first.adding(-1), at) }
        }
        return nil
    }
}

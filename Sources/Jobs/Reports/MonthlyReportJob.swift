import Foundation
import JobKit

/// `reports.monthly` `{"tenant", "month": "YYYY-MM"}`: one tenant's report of one month (``MonthlyReportBuilder``;
/// without a month, the previous UTC month). Without a tenant it fans out, in bulk on `reports`, with the idempotency
/// key `reports.monthly:<tenant>:<month>` (so one tenant's failure is one job and a rerun enqueues nothing new):
/// with a month, one job per tenant for that month, now; without one (the daily `reports.monthly` schedule), one
/// job per tenant whose 06:00 on the 1st in its own time zone is near, delayed to that instant (``ReportTiming``).
public struct MonthlyReportJob: JobPayload {
    public static let jobName = "reports.monthly"
    public static let queue = "reports"
    public var tenant: String?
    public var month: String?
    public init(tenant: String? = nil, month: String? = nil) {
        self.tenant = tenant
        self.month = month
    }
}

/// A calendar month, `YYYY-MM`.
public struct ReportMonth: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var year: Int
    public var month: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 4, parts[1].count == 2, let y = Int(parts[0]), let m = Int(parts[1]), (1...12).contains(m),
            y >= 1970
        else { return nil }
        year = y
        month = m
    }

    init(year: Int, month: Int) {
        self.year = year
        self.month = month
    }

    /// The month before the one `date` falls in (UTC).
    public static func previous(to date: Date = Date()) -> ReportMonth {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month], from: date)
        return ReportMonth(year: c.year!, month: c.month!).adding(-1)
    }

    public func adding(_ months: Int) -> ReportMonth {
        let index = year * 12 + (month - 1) + months
        return ReportMonth(year: index / 12, month: index % 12 + 1)
    }

    /// `YYYY-MM`.
    public var description: String { String(format: "%04d-%02d", year, month) }
    /// The first day, `YYYY-MM-01` (a PostgreSQL `date`).
    var firstDay: String { "\(description)-01" }

    public static func < (a: ReportMonth, b: ReportMonth) -> Bool { (a.year, a.month) < (b.year, b.month) }
}

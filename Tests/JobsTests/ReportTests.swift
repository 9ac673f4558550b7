import Foundation
import FoundationXML
import JobKit
import JobKitTestSupport
import Testing
@testable import Jobs

@Suite("Monthly reports", .serialized)
struct ReportTests {
    /// October 2026 of tenant t1, with September before it and November after; amounts hand-summed below.
    static let fixture = """
        INSERT INTO tenants (id) VALUES ('t1'), ('t2') ON CONFLICT DO NOTHING;
        INSERT INTO plaid_items (item_id, tenant_id) VALUES ('i1', 't1'), ('i2', 't2');
        INSERT INTO accounts (tenant_id, account_id, item_id, name, type, currency) VALUES
          ('t1', 'chk', 'i1', 'Checking', 'depository', 'USD'), ('t1', 'sav', 'i1', 'Savings', 'depository', 'USD'),
          ('t2', 'other', 'i2', 'Other tenant', 'depository', 'USD');
        INSERT INTO transactions (tenant_id, transaction_id, account_id, item_id, amount, date, name, merchant, pending, category, category_source, removed) VALUES
          ('t1', 'o1', 'chk', 'i1', 45.10, '2026-10-03', 'WHOLEFDS 123', 'Whole Foods', false, 'groceries', 'plaid', false),
          ('t1', 'o2', 'chk', 'i1', 54.90, '2026-10-17', 'TJ 55', 'Trader Joe''s', false, 'groceries', 'plaid', false),
          ('t1', 'o3', 'chk', 'i1', 23.45, '2026-10-09', 'CAFE, "LA RUE"', NULL, false, 'dining', 'plaid', false),
          ('t1', 'o4', 'chk', 'i1', 1500.00, '2026-10-01', 'RENT', 'Landlord', false, 'rent', 'plaid', false),
          ('t1', 'o5', 'chk', 'i1', 99.99, '2026-10-30', 'PENDING GROCER', 'Pending Grocer', true, 'groceries', 'plaid', false),
          ('t1', 'o6', 'chk', 'i1', 50.00, '2026-10-12', 'REFUNDED', 'Removed Diner', false, 'dining', 'plaid', true),
          ('t1', 'o7', 'chk', 'i1', -3000.00, '2026-10-15', 'PAYROLL', 'Employer', false, 'income', 'plaid', false),
          ('t1', 'o8', 'chk', 'i1', 0.01, '2026-10-31', '=HYPERLINK("x")', NULL, false, 'groceries', 'plaid', false),
          ('t1', 'o9', 'chk', 'i1', 0.005, '2026-10-31', 'TENANT RULE', NULL, false, '-1+cmd', 'rule', false),
          ('t1', 's1', 'chk', 'i1', 80.00, '2026-09-20', 'GROCER', 'Whole Foods', false, 'groceries', 'plaid', false),
          ('t1', 's2', 'chk', 'i1', 40.00, '2026-09-21', 'DINER', 'Diner', false, 'dining', 'plaid', false),
          ('t1', 'n1', 'chk', 'i1', 10.00, '2026-11-01', 'GROCER', 'Whole Foods', false, 'groceries', 'plaid', false),
          ('t2', 'x1', 'other', 'i2', 777.00, '2026-10-05', 'OTHER', 'Other', false, 'rent', 'plaid', false);
        INSERT INTO account_balances (tenant_id, account_id, current, currency, observed_at) VALUES
          ('t1', 'chk', 1000.00, 'USD', '2026-09-30T23:00:00Z'), ('t1', 'chk', 2376.55, 'USD', '2026-10-31T12:00:00Z'),
          ('t1', 'chk', 9999.00, 'USD', '2026-11-02T00:00:00Z'), ('t1', 'sav', 500.00, 'USD', '2026-10-15T00:00:00Z');
        """

    @Test("a fixture month gives the hand-computed totals; pending and removed excluded; JSON, CSV and SVG agree; the SVG is XML; report_ready; the fan-out is one job per tenant, once")
    func monthly() async throws {
        try await PlaidWorld.with { w in
            for statement in Self.fixture.split(separator: ";\n").map(String.init) where !statement.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                try await PlaidWorld.admin(w.databaseURL, statement)
            }
            try w.startNode("reports", queues: MonthlyReportJob.queue)
            let handle = try await w.queue.enqueue(
                MonthlyReportJob(tenant: "t1", month: "2026-10"), options: EnqueueOptions(queue: MonthlyReportJob.queue))
            _ = try await handle.result(timeout: .seconds(60))

            let store = ReportStore(database: w.database, logger: PlaidWorld.logger)
            let json = try #require(try await store.report(tenant: "t1", month: "2026-10", format: "json"))
            let report = try JSONDecoder().decode(MonthlyReport.self, from: Data(json.utf8))
            // 45.10 + 54.90 + 0.01 groceries, 23.45 dining, 1500.00 rent, 0.005 under a rule's category; 99.99 pending and
            // 50.00 removed left out.
            #expect(report.spending == "1623.465" && report.income == "3000.00" && report.net == "1376.535")
            #expect(report.byCategory.map(\.category) == ["rent", "groceries", "dining", "-1+cmd"])
            let byName = Dictionary(uniqueKeysWithValues: report.byCategory.map { ($0.category, $0) })
            #expect(byName["groceries"] == .init(category: "groceries", amount: "100.01", count: 3, previous: "80.00", change: "20.01", changePercent: "25.0"))
            #expect(byName["dining"] == .init(category: "dining", amount: "23.45", count: 1, previous: "40.00", change: "-16.55", changePercent: "-41.4"))
            #expect(byName["rent"] == .init(category: "rent", amount: "1500.00", count: 1, previous: "0.00", change: "1500.00", changePercent: nil))
            #expect(report.topMerchants.map(\.merchant) == ["Landlord", "Trader Joe's", "Whole Foods", "CAFE, \"LA RUE\"", "=HYPERLINK(\"x\")"])
            #expect(report.balances.map { "\($0.account)=\($0.endOfMonth ?? "-")" } == ["chk=2376.55", "sav=500.00"])
            #expect(report.balanceTrend.map(\.total) == ["0.00", "0.00", "0.00", "0.00", "1000.00", "2876.55"])
            #expect(report.balanceTrend.last?.month == "2026-10" && report.balanceTrend.first?.month == "2026-05")

            // The CSV has every figure of the JSON, quoted where needed and safe in a spreadsheet.
            let csv = try #require(try await store.report(tenant: "t1", month: "2026-10", format: "csv"))
            let lines = csv.components(separatedBy: "\r\n")
            #expect(lines.contains("summary,spending,1623.465,,,,"))
            #expect(lines.contains("category,'-1+cmd,0.005,1,0.00,0.005,"), "a formula-like category that starts like a number is still guarded")
            #expect(lines.contains("category,groceries,100.01,3,80.00,20.01,25.0"))
            #expect(lines.contains("merchant,\"CAFE, \"\"LA RUE\"\"\",23.45,1,,,"))
            #expect(lines.contains("merchant,\"'=HYPERLINK(\"\"x\"\")\",0.01,1,,,"))
            #expect(lines.contains("trend,2026-10,2876.55,,,,"))

            // The SVG parses as XML and names what it draws.
            let svg = try #require(try await store.report(tenant: "t1", month: "2026-10", format: "svg"))
            let parser = XMLParser(data: Data(svg.utf8))
            #expect(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
            #expect(svg.contains("Spending by category, 2026-10") && svg.contains(">rent<"))
            // For looking at it (docs/screenshots/monthly-report.png was rendered from this file with rsvg-convert).
            if let path = ProcessInfo.processInfo.environment["JOBKIT_REPORT_SVG_OUT"] { try svg.write(toFile: path, atomically: true, encoding: .utf8) }

            // report_ready for the tenant; the other tenant's data is in none of it.
            try await w.eventually("report_ready enqueued") {
                try await w.jobs(.ready, queue: NotificationSendJob.queue).contains { $0.payload.contains("report_ready") }
            }
            #expect(!json.contains("777") && !csv.contains("Other"))

            // The CLI prints it.
            let cli = try JobNodeProcess(
                ["reports", "show", "--tenant", "t1", "--month", "2026-10", "--format", "csv", "--database", w.databaseURL],
                logPath: "\(w.directory)/report-show.log")
            #expect(await cli.process.wait() == 0)
            #expect(cli.log.contains("summary,net,1376.535"))

            // The schedule's job fans out: one job per tenant, keyed, so a second fan-out adds none.
            for _ in 0..<2 {
                let fan = try await w.queue.enqueue(MonthlyReportJob(month: "2026-10"), options: EnqueueOptions(queue: MonthlyReportJob.queue))
                _ = try await fan.result(timeout: .seconds(60))
            }
            try await w.eventually("both tenants' reports") { try await store.report(tenant: "t2", month: "2026-10", format: "json") != nil }
            let reportJobs = try await w.jobs(.completed, queue: MonthlyReportJob.queue).filter { $0.payload.contains("\"tenant\"") }
            #expect(reportJobs.count == 3, "t1 by hand, then t1 and t2 once from the fan-out: \(reportJobs.map(\.payload))")
        }
    }

    static func ms(_ iso: String) -> Int64 {
        Int64(ISO8601DateFormatter().date(from: iso)!.timeIntervalSince1970 * 1000)
    }

    @Test("each tenant's report is due at 06:00 on the 1st in its own zone, for the month that ended there; the daily fan-out sees it within 36 h, never twice as another month")
    func timing() {
        let run = Self.ms("2026-11-30T15:00:00Z")  // the daily fan-out before December 1st
        // UTC: December 1st 06:00Z, for November.
        #expect(ReportTiming.due(nowMs: run, zone: "UTC").map { "\($0.month)" } == "2026-11")
        #expect(ReportTiming.due(nowMs: run, zone: "UTC")?.runAtMs == Self.ms("2026-12-01T06:00:00Z"))
        // UTC+14 is already on December 1st at 05:00: its 06:00 is 16:00Z the day before.
        #expect(ReportTiming.due(nowMs: run, zone: "Pacific/Kiritimati")?.runAtMs == Self.ms("2026-11-30T16:00:00Z"))
        #expect(ReportTiming.due(nowMs: run, zone: "Pacific/Kiritimati").map { "\($0.month)" } == "2026-11")
        // UTC-12 reaches December 1st 06:00 at 18:00Z on the 1st: 27 h ahead, still this run's.
        #expect(ReportTiming.due(nowMs: run, zone: "Etc/GMT+12")?.runAtMs == Self.ms("2026-12-01T18:00:00Z"))
        // New York in winter (UTC-5): 11:00Z.
        #expect(ReportTiming.due(nowMs: run, zone: "America/New_York")?.runAtMs == Self.ms("2026-12-01T11:00:00Z"))
        // Paris in summer (UTC+2): July 1st 06:00 is 04:00Z, for June.
        let summer = ReportTiming.due(nowMs: Self.ms("2026-06-30T15:00:00Z"), zone: "Europe/Paris")
        #expect(summer?.runAtMs == Self.ms("2026-07-01T04:00:00Z") && summer.map { "\($0.month)" } == "2026-06")
        // Mid-month: nothing due anywhere.
        for zone in ["UTC", "Pacific/Kiritimati", "Etc/GMT+12", "Asia/Kolkata"] {
            #expect(ReportTiming.due(nowMs: Self.ms("2026-12-07T15:00:00Z"), zone: zone) == nil, "\(zone)")
        }
        // The next day's run sees the same report (the idempotency key makes it one job); a run delayed by an outage
        // still enqueues one whose instant passed less than 36 h ago.
        let next = ReportTiming.due(nowMs: Self.ms("2026-12-01T15:00:00Z"), zone: "UTC")
        #expect(next?.runAtMs == Self.ms("2026-12-01T06:00:00Z") && next.map { "\($0.month)" } == "2026-11")
        #expect(ReportTiming.due(nowMs: Self.ms("2026-12-02T19:00:00Z"), zone: "UTC") == nil)
        // January's report covers December of the year before.
        #expect(ReportTiming.due(nowMs: Self.ms("2026-12-31T15:00:00Z"), zone: "UTC").map { "\($0.month)" } == "2026-12")
        // An unknown zone counts as UTC.
        #expect(ReportTiming.due(nowMs: run, zone: "Mars/Olympus")?.runAtMs == Self.ms("2026-12-01T06:00:00Z"))
    }

    @Test("jobnode reports time-zone sets and shows a tenant's zone and refuses an unknown one; the schedule's fan-out (no month) enqueues a tenant only when its 1st 06:00 is near")
    func timeZones() async throws {
        try await PlaidWorld.with { w in
            try w.startNode("reports", queues: MonthlyReportJob.queue)
            let set = try JobNodeProcess(
                ["reports", "time-zone", "--tenant", "t9", "--tz", "Pacific/Kiritimati", "--database", w.databaseURL],
                logPath: "\(w.directory)/tz-set.log")
            #expect(await set.process.wait() == 0)
            #expect(set.log.trimmingCharacters(in: .whitespacesAndNewlines) == "Pacific/Kiritimati")
            let bad = try JobNodeProcess(
                ["reports", "time-zone", "--tenant", "t9", "--tz", "Mars/Olympus", "--database", w.databaseURL], logPath: "\(w.directory)/tz-bad.log")
            #expect(await bad.process.wait() != 0)
            #expect(bad.log.contains("not an IANA time zone"))
            let store = ReportStore(database: w.database, logger: PlaidWorld.logger)
            #expect(try await store.timeZone(tenant: "t9") == "Pacific/Kiritimati")
            #expect(try await store.timeZone(tenant: "nobody") == nil)

            // The fan-out without a month decides with Redis's time: each tenant is enqueued iff ReportTiming says so.
            let now = try await w.redis.timeMilliseconds()
            let zones = try await store.tenantTimeZones()
            let expected = zones.filter { ReportTiming.due(nowMs: now, zone: $0.1) != nil }.count
            let fan = try await w.queue.enqueue(MonthlyReportJob(), options: EnqueueOptions(queue: MonthlyReportJob.queue))
            _ = try await fan.result(timeout: .seconds(60))
            let waiting = try await w.jobs(.scheduled, queue: MonthlyReportJob.queue) + (try await w.jobs(.ready, queue: MonthlyReportJob.queue))
                + (try await w.jobs(.completed, queue: MonthlyReportJob.queue)).filter { $0.payload.contains("\"tenant\"") }
            #expect(waiting.filter { $0.payload.contains("\"tenant\"") }.count == expected)
        }
    }
}

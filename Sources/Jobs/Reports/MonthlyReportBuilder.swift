import Foundation
import JobKit
import Logging

/// Builds, stores and announces monthly reports (`reports.monthly`).
public struct MonthlyReportBuilder: Sendable {
    public let store: ReportStore
    public let queue: JobQueue

    public init(store: ReportStore, queue: JobQueue) {
        self.store = store
        self.queue = queue
    }

    public func register(in registry: JobRegistry) {
        registry.register(MonthlyReportJob.self, timeout: .seconds(600)) { job, context in
            try await run(job, context)
        }
    }

    func run(_ job: MonthlyReportJob, _ context: JobContext) async throws {
        var given: ReportMonth?
        if let text = job.month {
            guard let parsed = ReportMonth(text) else { throw JobFatalError("month '\(text)' is not YYYY-MM") }
            given = parsed
        }
        guard let tenant = job.tenant, !tenant.isEmpty else {
            // The schedule's fan-out (no month): each tenant's report at 06:00 on the 1st in its own zone.
            guard let given else { return try await fanOutByZone(context) }
            return try await fanOut(given, context)
        }
        let month = given ?? ReportMonth.previous()
        let report = try await build(tenant: tenant, month: month)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try await store.save(report, json: String(decoding: try encoder.encode(report), as: UTF8.self))
        try await NotificationSendJob.enqueue(
            on: queue, tenant: tenant, kind: "report_ready", id: "report:\(tenant):monthly:\(month)",
            data: ["month": "\(month)", "report": "monthly:\(month)"], correlation: context.correlationID)
        context.logger.info("monthly report stored", metadata: ["tenant": "\(tenant)", "month": "\(month)", "spending": "\(report.spending)"])
    }

    /// One `reports.monthly` per tenant for `month`, now, in bulk, keyed per tenant and month.
    func fanOut(_ month: ReportMonth, _ context: JobContext) async throws {
        let tenants = try await store.tenantTimeZones().map(\.0)
        try await enqueue(tenants.map { ($0, month, nil) }, context)
        context.logger.info("monthly reports enqueued", metadata: ["month": "\(month)", "tenants": "\(tenants.count)"])
    }

    /// The schedule's daily run: one `reports.monthly` per tenant whose 06:00 on the 1st (its own zone) is near
    /// (``ReportTiming``), delayed to that instant; the time is Redis's.
    func fanOutByZone(_ context: JobContext) async throws {
        let now = try await context.redis.timeMilliseconds()
        let due = try await store.tenantTimeZones().compactMap { tenant, zone in
            ReportTiming.due(nowMs: now, zone: zone).map { (tenant, $0.month, $0.runAtMs) }
        }
        try await enqueue(due, context)
        context.logger.info("monthly reports enqueued", metadata: ["tenants": "\(due.count)", "by": "time zone"])
    }

    private func enqueue(_ reports: [(String, ReportMonth, Int64?)], _ context: JobContext) async throws {
        var jobs: [JobQueue.Job] = []
        for (tenant, month, runAt) in reports {
            var options = EnqueueOptions(queue: MonthlyReportJob.queue)
            options.tenantID = tenant
            options.idempotencyKey = "reports.monthly:\(tenant):\(month)"
            options.idempotencyTTL = .seconds(40 * 86_400)
            options.correlationID = context.correlationID
            options.runAtMilliseconds = runAt
            jobs.append(try JobQueue.Job(MonthlyReportJob(tenant: tenant, month: "\(month)"), options: options))
        }
        for chunk in stride(from: 0, to: jobs.count, by: 1_000) {
            _ = try await queue.enqueueBulk(Array(jobs[chunk..<min(chunk + 1_000, jobs.count)]))
        }
    }

    /// The report of one tenant's month (read-only).
    public func build(tenant: String, month: ReportMonth) async throws -> MonthlyReport {
        let current = try await store.spendingByCategory(tenant: tenant, month: month)
        let previous = Dictionary(
            try await store.spendingByCategory(tenant: tenant, month: month.adding(-1)).map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
        let spending = current.reduce(Decimal(0)) { $0 + $1.1 }
        let income = try await store.income(tenant: tenant, month: month)
        let categories = current.map { name, amount, count -> MonthlyReport.Category in
            let before = previous[name] ?? 0
            let change = amount - before
            var percent: String?
            if before != 0 {
                var ratio = change / before * 100
                var rounded = Decimal()
                NSDecimalRound(&rounded, &ratio, 1, .plain)
                percent = String(format: "%.1f", NSDecimalNumber(decimal: rounded).doubleValue)
            }
            return MonthlyReport.Category(
                category: name, amount: Self.text(amount), count: count, previous: Self.text(before), change: Self.text(change), changePercent: percent)
        }
        var trend: [MonthlyReport.TrendPoint] = []
        for back in (0..<6).reversed() {
            let m = month.adding(-back)
            let total = try await store.endOfMonthBalances(tenant: tenant, month: m).filter { $0.type == "depository" }.reduce(Decimal(0)) {
                $0 + ($1.endOfMonth.flatMap { Decimal(string: $0) } ?? 0)
            }
            trend.append(MonthlyReport.TrendPoint(month: "\(m)", total: Self.text(total)))
        }
        return MonthlyReport(
            tenant: tenant, month: "\(month)", spending: Self.text(spending), income: Self.text(income), net: Self.text(income - spending),
            byCategory: categories, topMerchants: try await store.topMerchants(tenant: tenant, month: month),
            balances: try await store.endOfMonthBalances(tenant: tenant, month: month), balanceTrend: trend)
    }

    /// A decimal as plain money text: never in exponent form, at least two decimals (`1234.50`, `-3.00`), more when
    /// the exact value has them (nothing is rounded).
    static func text(_ value: Decimal) -> String {
        var v = value
        var out = NSDecimalString(&v, Locale(identifier: "en_US_POSIX"))
        if let dot = out.firstIndex(of: ".") {
            let decimals = out.distance(from: dot, to: out.endIndex) - 1
            if decimals < 2 { out += String(repeating: "0", count: 2 - decimals) }
        } else {
            out += ".00"
        }
        return out
    }
}

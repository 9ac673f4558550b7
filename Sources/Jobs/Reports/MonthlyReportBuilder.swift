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
        let month: ReportMonth
        if let text = job.month {
            guard let parsed = ReportMonth(text) else { throw JobFatalError("month '\(text)' is not YYYY-MM") }
            month = parsed
        } else {
            month = ReportMonth.previous()
        }
        guard let tenant = job.tenant, !tenant.isEmpty else { return try await fanOut(month, context) }
        let report = try await build(tenant: tenant, month: month)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try await store.save(report, json: String(decoding: try encoder.encode(report), as: UTF8.self))
        try await NotificationSendJob.enqueue(
            on: queue, tenant: tenant, kind: "report_ready", id: "report:\(tenant):monthly:\(month)",
            data: ["month": "\(month)", "report": "monthly:\(month)"], correlation: context.correlationID)
        context.logger.info("monthly report stored", metadata: ["tenant": "\(tenant)", "month": "\(month)", "spending": "\(report.spending)"])
    }

    /// One `reports.monthly` per tenant, in bulk, keyed per tenant and month.
    func fanOut(_ month: ReportMonth, _ context: JobContext) async throws {
        let tenants = try await store.tenants()
        var jobs: [JobQueue.Job] = []
        for tenant in tenants {
            var options = EnqueueOptions(queue: MonthlyReportJob.queue)
            options.tenantID = tenant
            options.idempotencyKey = "reports.monthly:\(tenant):\(month)"
            options.idempotencyTTL = .seconds(40 * 86_400)
            options.correlationID = context.correlationID
            jobs.append(try JobQueue.Job(MonthlyReportJob(tenant: tenant, month: "\(month)"), options: options))
        }
        for chunk in stride(from: 0, to: jobs.count, by: 1_000) {
            _ = try await queue.enqueueBulk(Array(jobs[chunk..<min(chunk + 1_000, jobs.count)]))
        }
        context.logger.info("monthly reports enqueued", metadata: ["month": "\(month)", "tenants": "\(tenants.count)"])
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

import Foundation
import JobKit
import Testing

/// Compares fire times with Python's croniter, from vectors that `scripts/check-cron.py` generates.
///
/// `JOBKIT_CRON_VECTORS` names a JSON file of `[{"expr", "tz", "from", "expected": [iso…], "croniterError"?}]`.
/// `scripts/test` writes one (croniter in a venv, `scripts/check-cron.py --no-run`); without it the test
/// fails, never skips. A case agrees when the next fire
/// times are identical. Fire times within an hour of a daylight-saving transition may differ, because
/// croniter handles skipped and repeated local times its own way; those cases are counted apart, and must
/// agree once the transition hours are set aside. Cases the script found croniter wrong on
/// (`croniterError`) aren't compared; JobKit's times for them go in the report for the script to check.
/// When `JOBKIT_CRON_REPORT` is set, a JSON summary with every disagreement is written there.
@Suite("Cron differential against croniter")
struct CronDifferentialTests {
    static let vectorsPath = ProcessInfo.processInfo.environment["JOBKIT_CRON_VECTORS"]

    struct Vector: Codable, Sendable {
        var expr: String
        var tz: String
        var from: String
        var expected: [String]
        var croniterError: String?
    }

    struct Disagreement: Codable, Sendable {
        var expr: String
        var tz: String
        var from: String
        var expected: [String]
        var ours: [String]
        var error: String?
    }

    struct Report: Codable, Sendable {
        var cases = 0
        var agreed = 0
        var dstEdge: [Disagreement] = []
        var disagreed: [Disagreement] = []
        var croniterWrong: [Disagreement] = []
    }

    @Test("fire times agree with croniter away from daylight-saving transitions")
    func vectors() throws {
        let path = try #require(
            Self.vectorsPath,
            "JOBKIT_CRON_VECTORS is not set: run the tests with scripts/test, which generates the croniter vectors")
        guard FileManager.default.fileExists(atPath: path) else {
            let why = ProcessInfo.processInfo.environment["JOBKIT_CRON_VECTORS_ERROR"] ?? "no file at \(path)"
            Issue.record("no croniter vectors: \(why)")
            return
        }
        let vectors = try JSONDecoder().decode([Vector].self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(!vectors.isEmpty)
        var report = Report()
        var zones: [String: TimeZone] = [:]
        for vector in vectors {
            report.cases += 1
            guard let zone = zones[vector.tz] ?? TimeZone(identifier: vector.tz) else {
                Issue.record("unknown time zone \(vector.tz)")
                continue
            }
            zones[vector.tz] = zone
            let from = CronTestTime.date(vector.from)
            let expected = vector.expected.map(CronTestTime.date)
            let cron: CronExpression
            do {
                cron = try CronExpression(vector.expr)
            } catch {
                report.disagreed.append(
                    Disagreement(
                        expr: vector.expr, tz: vector.tz, from: vector.from, expected: vector.expected, ours: [],
                        error: "\(error)"))
                continue
            }
            let ours = cron.nextFireTimes(after: from, in: zone, count: expected.count)
            if let croniterError = vector.croniterError {
                report.croniterWrong.append(
                    Disagreement(
                        expr: vector.expr, tz: vector.tz, from: vector.from, expected: vector.expected,
                        ours: ours.map { CronTestTime.string($0, in: zone) }, error: croniterError))
                continue
            }
            if ours == expected {
                report.agreed += 1
                continue
            }
            let disagreement = Disagreement(
                expr: vector.expr, tz: vector.tz, from: vector.from, expected: vector.expected,
                ours: ours.map { CronTestTime.string($0, in: zone) }, error: nil)
            if Self.agreeAwayFromTransitions(ours, expected, from: from, in: zone) {
                report.dstEdge.append(disagreement)
            } else {
                report.disagreed.append(disagreement)
            }
        }
        if let reportPath = ProcessInfo.processInfo.environment["JOBKIT_CRON_REPORT"] {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(report).write(to: URL(fileURLWithPath: reportPath))
        }
        for d in report.disagreed.prefix(20) {
            Issue.record(
                "'\(d.expr)' in \(d.tz) after \(d.from): croniter \(d.expected), ours \(d.ours)\(d.error.map { " (\($0))" } ?? "")"
            )
        }
        #expect(
            report.disagreed.isEmpty,
            "\(report.disagreed.count) of \(report.cases) cases disagree away from DST transitions")
        // Set-aside cases (DST edges, croniter's own errors) are about 1 %: most must agree outright.
        #expect(report.agreed >= report.cases * 9 / 10, "only \(report.agreed) of \(report.cases) cases agree outright")
    }

    /// Whether two runs of fire times agree once every time within an hour of a transition is set aside,
    /// comparing only up to the earlier of the two runs' last times.
    static func agreeAwayFromTransitions(_ ours: [Date], _ theirs: [Date], from: Date, in zone: TimeZone) -> Bool {
        guard let oursLast = ours.last, let theirsLast = theirs.last else { return false }
        let end = min(oursLast, theirsLast)
        var transitions: [Date] = []
        var cursor = from.addingTimeInterval(-86_400)
        while let next = zone.nextDaylightSavingTimeTransition(after: cursor), next <= end.addingTimeInterval(86_400) {
            transitions.append(next)
            cursor = next
        }
        guard !transitions.isEmpty else { return false }
        func keep(_ date: Date) -> Bool {
            date <= end && !transitions.contains { abs(date.timeIntervalSince($0)) <= 3600 }
        }
        return ours.filter(keep) == theirs.filter(keep)
    }
}

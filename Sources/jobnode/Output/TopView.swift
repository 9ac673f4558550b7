import Foundation
import JobKit

/// One look at a namespace for `jobnode top`, taken with Redis's time.
struct TopSnapshot: Sendable {
    var nowMs: Int64
    var queues: [QueueCounts]
    /// Queue → how long its oldest ready job has waited (ms, Redis time), for queues with ready jobs.
    var oldestReadyAgeMs: [String: Int64]
    var nodes: [NodeRecord]
    var active: [ActiveJob]

    /// Reads every queue's counts and oldest ready age (one pipeline), the live nodes and the running jobs.
    static func take(queue: JobQueue, registry: NodeRegistry) async throws -> TopSnapshot {
        let now = try await queue.redis.timeMilliseconds()
        let snapshots = try await queue.snapshots()
        var ages: [String: Int64] = [:]
        for s in snapshots { if let age = s.oldestReadyAgeMs { ages[s.counts.name] = age } }
        return TopSnapshot(
            nowMs: now, queues: snapshots.map(\.counts), oldestReadyAgeMs: ages, nodes: try await registry.nodes(),
            active: try await queue.activeJobs())
    }
}

/// Renders `jobnode top`'s screen from a snapshot and the one before it (for rates): plain lines, no escape codes
/// (the terminal loop adds those), so the same text serves a TTY and a pipe.
struct TopView {
    /// The highlighted queue and node rows (TTY only), by index.
    var selectedQueue: Int?
    var selectedNode: Int?
    /// A line under the header: the last action's outcome, or a question.
    var status: String?
    /// At most this many running jobs are listed. (FAIL/S is the growth of the dead set per second: retention
    /// trimming it, or a requeue, shows as 0.)
    var maxActive = 15

    func render(_ s: TopSnapshot, previous: TopSnapshot?) -> [String] {
        var lines: [String] = []
        let busy = s.nodes.reduce(0) { $0 + $1.busy }
        let slots = s.nodes.reduce(0) { $0 + $1.concurrency }
        lines.append("jobnode top — \(Self.clock(s.nowMs))   \(s.nodes.count) node(s), \(busy)/\(slots) slots busy, \(s.active.count) running")
        if let status { lines.append(status) }
        lines.append("")
        lines.append(
            Self.row(["  QUEUE", "READY", "ACTIVE", "SCHED", "RETRY", "DEAD", "DONE/S", "FAIL/S", "OLDEST", "PAUSED"],
                [20, 8, 8, 8, 8, 8, 9, 9, 10, 7]))
        let before = Dictionary(previous?.queues.map { ($0.name, $0) } ?? [], uniquingKeysWith: { a, _ in a })
        let seconds = previous.map { Double(s.nowMs - $0.nowMs) / 1000 } ?? 0
        for (i, q) in s.queues.enumerated() {
            func rate(_ now: Int, _ then: Int?) -> String {
                guard let then, seconds > 0 else { return "-" }
                return String(format: "%.1f", Double(max(0, now - then)) / seconds)
            }
            let age = s.oldestReadyAgeMs[q.name].map { Self.age($0) } ?? "-"
            let mark = i == selectedQueue ? "> " : "  "
            lines.append(
                Self.row(
                    [
                        mark + q.name, "\(q.ready)", "\(q.active)", "\(q.scheduled)", "\(q.retrying)", "\(q.dead)",
                        rate(q.completed, before[q.name]?.completed), rate(q.dead, before[q.name]?.dead), age, q.paused ? "yes" : "",
                    ], [20, 8, 8, 8, 8, 8, 9, 9, 10, 7]))
        }
        lines.append("")
        lines.append(Self.row(["  NODE", "ID", "BUSY", "PROCESSED", "FAILED", "BEAT", "QUEUES"], [22, 12, 8, 11, 8, 7, 40]))
        for (i, n) in s.nodes.enumerated() {
            let mark = i == selectedNode ? "> " : "  "
            lines.append(
                Self.row(
                    [
                        mark + n.name, n.id, "\(n.busy)/\(n.concurrency)", "\(n.processed)", "\(n.failed)",
                        Self.age(s.nowMs - n.lastHeartbeatMs), n.queues,
                    ], [22, 12, 8, 11, 8, 7, 40]))
        }
        lines.append("")
        lines.append(Self.row(["  RUNNING", "ID", "QUEUE", "NODE", "FOR", "TENANT"], [30, 22, 18, 12, 8, 16]))
        let names = Dictionary(s.nodes.map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
        for job in s.active.sorted(by: { $0.startedAtMs < $1.startedAtMs }).prefix(maxActive) {
            lines.append(
                Self.row(
                    ["  " + job.name, job.id, job.queue, names[job.node] ?? job.node, Self.age(s.nowMs - job.startedAtMs), job.tenant ?? ""],
                    [30, 22, 18, 12, 8, 16]))
        }
        if s.active.count > maxActive { lines.append("  … and \(s.active.count - maxActive) more") }
        return lines
    }

    /// Columns padded to their widths (a value longer than its column is cut, so rows stay aligned).
    static func row(_ values: [String], _ widths: [Int]) -> String {
        zip(values, widths).map { value, width in
            let cut = value.count >= width ? String(value.prefix(width - 1)) : value
            return cut.padding(toLength: width, withPad: " ", startingAt: 0)
        }.joined().replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
    }

    /// `850ms`, `12s`, `4m05s`, `3h12m`.
    static func age(_ ms: Int64) -> String {
        let ms = max(0, ms)
        if ms < 1_000 { return "\(ms)ms" }
        let s = ms / 1_000
        if s < 60 { return "\(s)s" }
        if s < 3_600 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return String(format: "%dh%02dm", s / 3_600, (s % 3_600) / 60)
    }

    static func clock(_ ms: Int64) -> String {
        let f = ISO8601DateFormatter()
        return f.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }
}

import Foundation
import JobKit

/// Text output for people; `--json` output is the contract for scripts (docs/cli.md).
enum Printer {
    static func time(_ ms: Int64?) -> String {
        guard let ms else { return "-" }
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }

    static func printRecord(_ r: JobRecord) {
        let rows: [(String, String)] = [
            ("id", r.id), ("name", r.name), ("queue", r.queue), ("state", r.state.rawValue),
            ("priority", "\(r.priority)"), ("attempts", "\(r.attempts)/\(r.maxAttempts)"),
            ("enqueued", time(r.enqueuedAtMs)), ("started", time(r.startedAtMs)), ("finished", time(r.finishedAtMs)),
            ("run at", time(r.runAtMs)), ("node", r.node ?? "-"), ("tenant", r.tenant ?? "-"),
            ("last error", r.lastError ?? "-"), ("payload", r.payload), ("result", r.result ?? "-"),
        ]
        for (k, v) in rows { print(k.padding(toLength: 11, withPad: " ", startingAt: 0) + v) }
        for a in r.history { print("  attempt \(a.attempt) at \(time(a.at)) on \(a.node): \(a.error)") }
    }

    static func printTable(_ records: [JobRecord]) {
        print("ID                    NAME                      STATE      PRI  ATTEMPTS  LAST ERROR")
        for r in records {
            print(
                r.id.padding(toLength: 22, withPad: " ", startingAt: 0)
                    + r.name.padding(toLength: 26, withPad: " ", startingAt: 0)
                    + r.state.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0)
                    + String(r.priority).padding(toLength: 5, withPad: " ", startingAt: 0)
                    + "\(r.attempts)/\(r.maxAttempts)".padding(toLength: 10, withPad: " ", startingAt: 0)
                    + (r.lastError ?? ""))
        }
    }

    static func printCounts(_ all: [QueueCounts]) {
        print("QUEUE                 SCHEDULED  READY  ACTIVE  RETRYING  DEAD  CANCELED  COMPLETED  PAUSED")
        for c in all {
            func col(_ v: Int, _ w: Int) -> String { String(v).padding(toLength: w, withPad: " ", startingAt: 0) }
            print(
                c.name.padding(toLength: 22, withPad: " ", startingAt: 0) + col(c.scheduled, 11) + col(c.ready, 7)
                    + col(c.active, 8) + col(c.retrying, 10) + col(c.dead, 6) + col(c.canceled, 10)
                    + col(c.completed, 11) + (c.paused ? "yes" : "no"))
        }
    }
}

extension Printer {
    static func printNodes(_ nodes: [NodeRecord]) {
        print("ID          NAME                        QUEUES                 BUSY      PROCESSED  FAILED  LAST BEAT")
        for n in nodes {
            print(
                n.id.padding(toLength: 12, withPad: " ", startingAt: 0) + n.name.padding(toLength: 28, withPad: " ", startingAt: 0)
                    + n.queues.padding(toLength: 23, withPad: " ", startingAt: 0)
                    + "\(n.busy)/\(n.concurrency)".padding(toLength: 10, withPad: " ", startingAt: 0)
                    + String(n.processed).padding(toLength: 11, withPad: " ", startingAt: 0)
                    + String(n.failed).padding(toLength: 8, withPad: " ", startingAt: 0) + time(n.lastHeartbeatMs))
        }
    }

    static func printActive(_ jobs: [ActiveJob]) {
        print("ID                    NAME                      QUEUE         NODE        STARTED")
        for j in jobs {
            print(
                j.id.padding(toLength: 22, withPad: " ", startingAt: 0) + j.name.padding(toLength: 26, withPad: " ", startingAt: 0)
                    + j.queue.padding(toLength: 14, withPad: " ", startingAt: 0)
                    + j.node.padding(toLength: 12, withPad: " ", startingAt: 0) + time(j.startedAtMs))
        }
    }
}

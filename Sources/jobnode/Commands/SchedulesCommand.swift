import ArgumentParser
import Foundation
import JobKit
import JobKitHTTP

struct SchedulesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedules", abstract: "Cron and interval schedules.",
        subcommands: [List.self, Add.self, Remove.self, Enable.self, Disable.self, Trigger.self, Next.self],
        defaultSubcommand: List.self)

    /// One schedule in `schedules list --json` (the shape `GET /v1/schedules` answers with too).
    typealias Row = ScheduleRow

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List schedules.")
        @OptionGroup var connection: ConnectionOptions
        @Flag(name: .long, help: "Print JSON.") var json = false

        func run() async throws {
            await CLI.guarded {
                let rows = try await ScheduleStore(redis: try await connection.makeCheckedPool(), namespace: connection.namespace).list()
                    .map(Row.init)
                if json {
                    try CLI.printJSON(rows)
                    return
                }
                print("NAME                      TRIGGER               TZ                NEXT RUN                   LAST RUN                   LAST JOB              ENABLED")
                for r in rows {
                    print(
                        r.name.padding(toLength: 26, withPad: " ", startingAt: 0) + r.trigger.padding(toLength: 22, withPad: " ", startingAt: 0)
                            + (r.tz ?? "-").padding(toLength: 18, withPad: " ", startingAt: 0)
                            + (r.nextRun ?? "-").padding(toLength: 27, withPad: " ", startingAt: 0)
                            + (r.lastRun ?? "-").padding(toLength: 27, withPad: " ", startingAt: 0)
                            + (r.lastJobId ?? "-").padding(toLength: 22, withPad: " ", startingAt: 0) + (r.enabled ? "yes" : "no"))
                }
            }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add (or replace) a schedule.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Schedule name.") var name: String
        @Option(name: .long, help: "Cron expression (5 fields, or 6 with seconds first, or @daily ...).") var cron: String?
        @Option(name: .long, help: "Interval, e.g. 30s, 5m, 1h.") var every: String?
        @Option(name: .long, help: "Job name to enqueue.") var job: String
        @Option(name: .long, help: "JSON payload.") var json: String = "{}"
        @Option(name: .long, help: "Queue.") var queue: String = "default"
        @Option(name: .long, help: "IANA time zone for --cron.") var tz: String = "UTC"
        @Option(name: .long, help: "Missed ticks: skip, once or all.") var misfire: String = "skip"
        @Option(name: .customLong("misfire-cap"), help: "With --misfire all: at most this many catch-up jobs.") var misfireCap: Int = 100
        @Option(name: .long, help: "Previous run still going: allow, skip or replace.") var overlap: String = "allow"
        @Option(name: .long, help: "Random delay up to this, fixed per tick.") var jitter: String?
        @Option(name: .long, help: "Priority of the jobs.") var priority: Int = 0
        @Option(name: .customLong("max-attempts"), help: "Attempts of each job.") var maxAttempts: Int = 5
        @Option(name: .long, help: "No tick before this time (ISO 8601).") var start: String?
        @Option(name: .long, help: "No tick after this time (ISO 8601).") var end: String?
        @Flag(name: .customLong("skip-dst-gap"), help: "Cron: skip local times that a spring-forward skips (default: fire once right after the gap).")
        var skipDSTGap = false

        func validate() throws {
            guard (cron == nil) != (every == nil) else { throw ValidationError("give exactly one of --cron or --every") }
            guard ["skip", "once", "all"].contains(misfire) else { throw ValidationError("--misfire is skip, once or all") }
            guard Schedule.Overlap(rawValue: overlap) != nil else { throw ValidationError("--overlap is allow, skip or replace") }
        }

        func run() async throws {
            await CLI.guarded {
                var schedule: Schedule
                if let cron {
                    schedule = .cron(name, cron, timeZone: tz, job: job, payload: json, queue: queue)
                } else {
                    let interval = try CLI.duration(every!)
                    schedule = .every(name, interval, job: job, payload: json, queue: queue)
                }
                schedule.priority = priority
                schedule.maxAttempts = maxAttempts
                schedule.misfire = misfire == "skip" ? .skip : misfire == "once" ? .once : .all(cap: misfireCap)
                schedule.overlap = Schedule.Overlap(rawValue: overlap)!
                schedule.skipDSTGap = skipDSTGap
                if let jitter { schedule.jitterMs = try CLI.duration(jitter).milliseconds }
                if let start { schedule.startMs = try CLI.isoMilliseconds(start) }
                if let end { schedule.endMs = try CLI.isoMilliseconds(end) }
                do {
                    try schedule.validate()
                } catch {
                    throw ValidationError("\(error)")
                }
                let store = ScheduleStore(redis: try await connection.makeCheckedPool(), namespace: connection.namespace)
                let outcome = try await store.save(schedule)
                let info = try await store.get(name)
                print("\(outcome) \(name); next run \(info.flatMap { $0.nextRunMs }.map { iso($0, TimeZone(identifier: tz) ?? .gmt) } ?? "-")")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a schedule.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Schedule name.") var name: String
        func run() async throws {
            await CLI.guarded {
                let store = ScheduleStore(redis: try await connection.makeCheckedPool(), namespace: connection.namespace)
                guard try await store.remove(name) else { throw ScheduleError("no schedule '\(name)'") }
                print("removed \(name)")
            }
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a schedule (its next tick counts from now).")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Schedule name.") var name: String
        func run() async throws {
            await CLI.guarded {
                try await ScheduleStore(redis: try await connection.makeCheckedPool(), namespace: connection.namespace).setEnabled(name, true)
                print("enabled \(name)")
            }
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable a schedule.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Schedule name.") var name: String
        func run() async throws {
            await CLI.guarded {
                try await ScheduleStore(redis: try await connection.makeCheckedPool(), namespace: connection.namespace).setEnabled(name, false)
                print("disabled \(name)")
            }
        }
    }

    struct Trigger: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enqueue a schedule's job now; prints the job id.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Schedule name.") var name: String
        func run() async throws {
            await CLI.guarded {
                let pool = try await connection.makeCheckedPool()
                let store = ScheduleStore(redis: pool, namespace: connection.namespace)
                print(try await store.trigger(name, using: JobQueue(redis: pool, namespace: connection.namespace, logger: CLI.quietLogger)))
            }
        }
    }

    struct Next: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the next fire times of a cron expression (ISO 8601 with offset), to check it before deploying.")
        /// Accepted like every command's (scripts pass them to every call); `next` does not connect.
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Cron expression.") var expression: String
        @Option(name: .long, help: "IANA time zone.") var tz: String = "UTC"
        @Option(name: .long, help: "Start after this time (ISO 8601; default now).") var from: String?
        @Option(name: .long, help: "How many.") var count: Int = 5
        @Flag(name: .customLong("skip-dst-gap"), help: "Skip local times that a spring-forward skips.") var skipDSTGap = false
        @Flag(name: .long, help: "Print JSON.") var json = false

        func run() async throws {
            await CLI.guarded {
                guard let zone = TimeZone(identifier: tz) else { throw ValidationError("unknown time zone '\(tz)'") }
                let cron: CronExpression
                do {
                    cron = try CronExpression(expression)
                } catch {
                    throw ValidationError("\(error)")
                }
                let start = try from.map { Date(timeIntervalSince1970: Double(try CLI.isoMilliseconds($0)) / 1000) } ?? Date()
                let times = cron.nextFireTimes(after: start, in: zone, count: count, skippedTimes: skipDSTGap ? .skip : .fireAfterGap)
                let texts = times.map { iso(Int64(($0.timeIntervalSince1970 * 1000).rounded()), zone) }
                if json { try CLI.printJSON(texts) } else { texts.forEach { print($0) } }
            }
        }
    }
}

/// ISO 8601 with the zone's offset, e.g. `2026-03-08T03:00:00-04:00`.
func iso(_ ms: Int64, _ zone: TimeZone) -> String {
    let f = ISO8601DateFormatter()
    f.timeZone = zone
    f.formatOptions = [.withInternetDateTime]
    return f.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
}

extension CLI {
    static func isoMilliseconds(_ text: String) throws -> Int64 {
        let f = ISO8601DateFormatter()
        if let d = f.date(from: text) { return Int64(d.timeIntervalSince1970 * 1000) }
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: text) { return Int64(d.timeIntervalSince1970 * 1000) }
        throw ValidationError("not an ISO 8601 time: \(text)")
    }
}

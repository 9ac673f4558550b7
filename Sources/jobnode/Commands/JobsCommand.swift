import ArgumentParser
import Foundation
import JobKit

struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs", abstract: "Inspect and change jobs.",
        subcommands: [Show.self, List.self, Retry.self, Delete.self, Cancel.self])

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel jobs: by id, every waiting job of a queue, or every job of a tenant.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Job ids.") var ids: [String] = []
        @Option(name: .long, help: "Cancel every waiting job of this queue.") var queue: String?
        @Option(name: .long, help: "Cancel every job (waiting and running) of this tenant.") var tenant: String?
        @Flag(name: .long, help: "Print JSON.") var json = false

        func validate() throws {
            let modes = (ids.isEmpty ? 0 : 1) + (queue == nil ? 0 : 1) + (tenant == nil ? 0 : 1)
            guard modes == 1 else { throw ValidationError("give job ids, or --queue Q, or --tenant T") }
        }

        func run() async throws {
            await CLI.guarded {
                let q = try await connection.makeCheckedQueue()
                if let queue {
                    try await q.requireQueue(queue)
                    let n = try await q.cancelWaiting(queue: queue)
                    if json { try CLI.printJSON(["canceled": n]) } else { print("canceled \(n)") }
                    return
                }
                if let tenant {
                    let (canceled, requested) = try await q.cancelTenant(tenant)
                    if json {
                        try CLI.printJSON(["canceled": canceled, "requested": requested])
                    } else {
                        print("canceled \(canceled), cancel requested for \(requested) running")
                    }
                    return
                }
                var results: [[String: String]] = []
                var missing = false
                for id in ids {
                    let outcome = try await q.cancel(id)
                    results.append(["id": id, "outcome": outcome.rawValue])
                    if !json {
                        switch outcome {
                        case .canceled: print("\(id): canceled")
                        case .requested: print("\(id): running; cancel requested from its node")
                        case .alreadyFinished: print("\(id): already finished; nothing to cancel")
                        case .notFound: print("\(id): not found")
                        }
                    }
                    if outcome == .notFound { missing = true }
                }
                if json { try CLI.printJSON(results) }
                if missing { throw ExitCode(1) }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one job's record.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Job id.") var id: String
        @Option(name: .long, help: "The job's queue (searched when omitted).") var queue: String?
        @Flag(name: .long, help: "Print JSON.") var json = false

        func run() async throws {
            await CLI.guarded {
                let q = try await connection.makeCheckedQueue()
                guard let record = try await q.job(id, queue: queue) else { throw QueueError(.jobNotFound, "job \(id) not found") }
                if json { try CLI.printJSON(record) } else { Printer.printRecord(record) }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List jobs of a queue in one state.")
        @OptionGroup var connection: ConnectionOptions
        @Option(name: .long, help: "Queue.") var queue: String
        @Option(name: .long, help: "State: scheduled, ready, active, retrying, completed, dead, canceled.") var state: String
        @Option(name: .long, help: "At most this many.") var limit: Int = 50
        @Option(name: .long, help: "Skip this many.") var offset: Int = 0
        @Flag(name: .long, help: "Print JSON.") var json = false

        func run() async throws {
            await CLI.guarded {
                guard let s = JobState(rawValue: state) else {
                    throw ValidationError("unknown state '\(state)' (scheduled, ready, active, retrying, completed, dead, canceled)")
                }
                let q = try await connection.makeCheckedQueue()
                try await q.requireQueue(queue)
                let records = try await q.list(queue, state: s, offset: offset, limit: limit)
                if json { try CLI.printJSON(records) } else { Printer.printTable(records) }
            }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Move dead jobs back to ready.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Job ids.") var ids: [String] = []
        @Flag(name: .long, help: "Every dead job of --queue.") var dead = false
        @Option(name: .long, help: "Queue.") var queue: String?

        func validate() throws {
            if dead && queue == nil { throw ValidationError("--dead needs --queue") }
            if !dead && ids.isEmpty { throw ValidationError("give job ids, or --dead --queue Q") }
        }

        func run() async throws {
            await CLI.guarded {
                let q = try await connection.makeCheckedQueue()
                if dead, let queue {
                    try await q.requireQueue(queue)
                    print("requeued \(try await q.requeueAllDead(queue: queue))")
                    return
                }
                var moved = 0
                for id in ids {
                    guard let record = try await q.job(id, queue: queue) else {
                        throw QueueError(.jobNotFound, "job \(id) not found")
                    }
                    moved += try await q.requeue([id], queue: record.queue)
                }
                print("requeued \(moved)")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete jobs wherever they are.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Job ids.") var ids: [String]
        @Option(name: .long, help: "Queue (searched when omitted).") var queue: String?

        func run() async throws {
            await CLI.guarded {
                let q = try await connection.makeCheckedQueue()
                var deleted = 0
                for id in ids {
                    guard let record = try await q.job(id, queue: queue) else {
                        throw QueueError(.jobNotFound, "job \(id) not found")
                    }
                    deleted += try await q.delete([id], queue: record.queue)
                }
                print("deleted \(deleted)")
            }
        }
    }
}

import ArgumentParser
import JobKit

struct QueuesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queues", abstract: "Show, pause, resume and purge queues.",
        subcommands: [List.self, Pause.self, Resume.self, Purge.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Show every queue's counts.")
        @OptionGroup var connection: ConnectionOptions
        @Flag(name: .long, help: "Print JSON.") var json = false

        func run() async throws {
            await CLI.guarded {
                let q = try await connection.makeCheckedQueue()
                var all: [QueueCounts] = []
                for name in try await q.queueNames() { all.append(try await q.counts(name)) }
                if json { try CLI.printJSON(all) } else { Printer.printCounts(all) }
            }
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop every node claiming from a queue (running jobs finish).")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Queue.") var queue: String

        func run() async throws {
            await CLI.guarded {
                let q = try await connection.makeCheckedQueue()
                try await q.requireQueue(queue)
                try await q.pause(queue: queue)
                print("paused \(queue)")
            }
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Let nodes claim from a paused queue again.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Queue.") var queue: String

        func run() async throws {
            await CLI.guarded {
                let q = try await connection.makeCheckedQueue()
                try await q.requireQueue(queue)
                try await q.resume(queue: queue)
                print("resumed \(queue)")
            }
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete every waiting job (ready, scheduled, retrying) of a queue.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Queue.") var queue: String
        @Flag(name: .long, help: "Confirm: this deletes jobs.") var yes = false

        func validate() throws {
            guard yes else { throw ValidationError("purge deletes jobs; add --yes to confirm") }
        }

        func run() async throws {
            await CLI.guarded {
                let q = try await connection.makeCheckedQueue()
                try await q.requireQueue(queue)
                print("purged \(try await q.purge(queue: queue))")
            }
        }
    }
}

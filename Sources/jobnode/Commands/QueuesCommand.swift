import ArgumentParser
import JobKit

struct QueuesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queues", abstract: "Show every queue's counts.")

    @OptionGroup var connection: ConnectionOptions
    @Flag(name: .long, help: "Print JSON.") var json = false

    func run() async throws {
        await CLI.guarded {
            let q = try connection.makeQueue()
            var all: [QueueCounts] = []
            for name in try await q.queueNames() { all.append(try await q.counts(name)) }
            if json { try CLI.printJSON(all) } else { Printer.printCounts(all) }
        }
    }
}

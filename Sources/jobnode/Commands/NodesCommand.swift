import ArgumentParser
import Foundation
import JobKit

struct NodesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nodes", abstract: "List live nodes; shut down or drain them.",
        subcommands: [List.self, Shutdown.self, Drain.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List live nodes.")
        @OptionGroup var connection: ConnectionOptions
        @Flag(name: .long, help: "Print JSON.") var json = false

        func run() async throws {
            await CLI.guarded {
                let registry = NodeRegistry(redis: try connection.makePool(), namespace: connection.namespace)
                let nodes = try await registry.nodes()
                if json { try CLI.printJSON(nodes) } else { Printer.printNodes(nodes) }
            }
        }
    }

    struct Shutdown: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Shut a node (or every node) down gracefully.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Node id or name.") var node: String?
        @Flag(name: .long, help: "Every node.") var all = false
        @Option(name: .long, help: "Grace period for running jobs (default: each node's --grace).") var grace: String?

        func validate() throws {
            guard (node != nil) != all else { throw ValidationError("give a node id or name, or --all") }
        }

        func run() async throws {
            await CLI.guarded {
                let registry = NodeRegistry(redis: try connection.makePool(), namespace: connection.namespace)
                let targets = try await registry.requestShutdown(node: all ? nil : node, grace: try grace.map(CLI.duration))
                if targets.isEmpty, !all { throw ValidationError("no live node '\(node ?? "")'") }
                for t in targets { print("shutdown requested: \(t.id) \(t.name)") }
            }
        }
    }

    struct Drain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop a node claiming; it finishes its jobs and exits.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Node id or name.") var node: String

        func run() async throws {
            await CLI.guarded {
                let registry = NodeRegistry(redis: try connection.makePool(), namespace: connection.namespace)
                let targets = try await registry.requestDrain(node: node)
                if targets.isEmpty { throw ValidationError("no live node '\(node)'") }
                for t in targets { print("drain requested: \(t.id) \(t.name)") }
            }
        }
    }
}

struct InspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect", abstract: "Look inside running nodes.", subcommands: [Active.self])

    struct Active: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Which job runs where, since when.")
        @OptionGroup var connection: ConnectionOptions
        @Flag(name: .long, help: "Print JSON.") var json = false

        func run() async throws {
            await CLI.guarded {
                let jobs = try await connection.makeQueue().activeJobs()
                if json { try CLI.printJSON(jobs) } else { Printer.printActive(jobs) }
            }
        }
    }
}

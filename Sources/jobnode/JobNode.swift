import ArgumentParser

/// `jobnode`: JobKit's worker process and operators' CLI.
@main
struct JobNode: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobnode",
        abstract: "Run JobKit workers and operate their queues.",
        subcommands: [RunCommand.self, EnqueueCommand.self, JobsCommand.self, QueuesCommand.self])
}

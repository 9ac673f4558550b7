import ArgumentParser
import NIOCore
import NIOPosix

/// `jobnode`: JobKit's worker process and operators' CLI.
@main
struct JobNode: AsyncParsableCommand {
    static func main() async {
        // Swift concurrency runs on NIO's event-loop threads: no thread hop between a task and its connection.
        // Not with OTLP export: swift-otel 1.6's exporters shut their HTTP client down synchronously when they are
        // released at the end of the run, which AsyncHTTPClient forbids (a trap) on an event-loop thread, and
        // with NIO as the executor every task runs on one.
        if !CommandLine.arguments.contains(where: { $0 == "--otlp-endpoint" || $0.hasPrefix("--otlp-endpoint=") }) {
            _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        }
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }

    static let configuration = CommandConfiguration(
        commandName: "jobnode",
        abstract: "Run JobKit workers and operate their queues.",
        subcommands: [
            RunCommand.self, EnqueueCommand.self, JobsCommand.self, QueuesCommand.self, NodesCommand.self,
            InspectCommand.self, SchedulesCommand.self, ServeCommand.self, LimitsCommand.self, BreakersCommand.self, MigrateCommand.self,
            PlaidCommand.self, BillingCommand.self, NotificationsCommand.self, ReportsCommand.self, TopCommand.self, UIUserCommand.self,
        ])
}

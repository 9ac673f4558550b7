import ArgumentParser
import Foundation
import Jobs
import Logging

/// `jobnode reports show --tenant T --month YYYY-MM [--format json|csv|svg]`: a stored monthly report.
struct ReportsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reports", abstract: "Print stored reports.", subcommands: [Show.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a tenant's monthly report in one format.")
        @OptionGroup var store: DatabaseOptions
        @Option(name: .long, help: "The tenant.") var tenant: String
        @Option(name: .long, help: "The month, YYYY-MM.") var month: String
        @Option(name: .long, help: "json, csv or svg.") var format: String = "json"

        func validate() throws {
            guard ReportMonth(month) != nil else { throw ValidationError("--month must be YYYY-MM") }
            guard ["json", "csv", "svg"].contains(format) else { throw ValidationError("--format is json, csv or svg") }
        }

        func run() async throws {
            try await store.withStore { database in
                guard let text = try await ReportStore(database: database, logger: CLI.quietLogger).report(tenant: tenant, month: month, format: format)
                else { throw StoreCommandFailure(description: "no monthly report of \(tenant) for \(month)") }
                print(text, terminator: text.hasSuffix("\n") ? "" : "\n")
            }
        }
    }
}

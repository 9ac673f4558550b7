import ArgumentParser
import Foundation
import Jobs
import Logging

/// `jobnode reports show --tenant T --month YYYY-MM [--format json|csv|svg]`: a stored monthly report;
/// `jobnode reports time-zone --tenant T [--tz ZONE]`: the zone the tenant's reports are made in (06:00 on the 1st).
struct ReportsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reports", abstract: "Print stored reports.", subcommands: [Show.self, Zone.self])

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

    struct Zone: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "time-zone", abstract: "Show or set the time zone a tenant's monthly reports are made in (06:00 on the 1st).")
        @OptionGroup var store: DatabaseOptions
        @Option(name: .long, help: "The tenant.") var tenant: String
        @Option(name: .long, help: "An IANA time zone (Europe/Paris); without it, print the current one.") var tz: String?

        func validate() throws {
            if let tz, TimeZone(identifier: tz) == nil { throw ValidationError("--tz '\(tz)' is not an IANA time zone (e.g. Europe/Paris)") }
        }

        func run() async throws {
            try await store.withStore { database in
                let reports = ReportStore(database: database, logger: CLI.quietLogger)
                if let tz { try await reports.setTimeZone(tenant: tenant, zone: tz) }
                guard let zone = try await reports.timeZone(tenant: tenant) else { throw StoreCommandFailure(description: "no tenant \(tenant)") }
                print(zone)
            }
        }
    }
}

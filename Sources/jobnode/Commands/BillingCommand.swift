import ArgumentParser
import Foundation
import Jobs
import Logging

/// `jobnode billing subscriptions|events`: what the store holds of Stripe, for operators (`--json` fields are a
/// contract).
struct BillingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "billing", abstract: "Show Stripe subscriptions and the Stripe event ledger from the PostgreSQL store.",
        subcommands: [Subscriptions.self, Events.self])

    struct Subscriptions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List subscriptions (all tenants, or one).")
        @OptionGroup var store: DatabaseOptions
        @Option(name: .long, help: "Only this tenant's subscriptions.") var tenant: String?
        @Flag(name: .long, help: "Print JSON.") var json = false

        func run() async throws {
            try await store.withStore { database in
                let rows = try await StripeStore(database: database, logger: CLI.quietLogger).subscriptions(tenant: tenant)
                if json { return try CLI.printJSON(rows) }
                if rows.isEmpty { print("no subscriptions") }
                for r in rows {
                    print(
                        "\(r.subscription)  tenant=\(r.tenant)  \(r.plan ?? "-")  \(r.status)  period-end=\(Printer.time(r.currentPeriodEndMs))"
                            + (r.cancelAtPeriodEnd ? "  cancels at period end" : ""))
                }
            }
        }
    }

    struct Events: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the latest Stripe events received, newest first.")
        @OptionGroup var store: DatabaseOptions
        @Option(name: .long, help: "At most this many.") var limit: Int = 50
        @Flag(name: .long, help: "Print JSON.") var json = false

        func validate() throws { guard limit >= 1 else { throw ValidationError("--limit must be at least 1") } }

        func run() async throws {
            try await store.withStore { database in
                let rows = try await StripeStore(database: database, logger: CLI.quietLogger).events(limit: limit)
                if json { return try CLI.printJSON(rows) }
                if rows.isEmpty { print("no events") }
                for r in rows {
                    print("\(r.event)  \(r.type)  received=\(Printer.time(r.receivedAtMs))  \(r.outcome ?? "pending")")
                }
            }
        }
    }
}

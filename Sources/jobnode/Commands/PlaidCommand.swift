import ArgumentParser
import Foundation
import Jobs
import Logging

/// `jobnode plaid items|accounts|transactions`: what the store holds of Plaid, for operators (`--json` fields are a
/// contract; money as exact decimal strings).
struct PlaidCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plaid", abstract: "Show Plaid items, accounts and transactions from the PostgreSQL store.",
        subcommands: [Items.self, Accounts.self, Transactions.self])

    struct Items: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List linked Plaid items (all tenants, or one).")
        @OptionGroup var store: DatabaseOptions
        @Option(name: .long, help: "Only this tenant's items.") var tenant: String?
        @Flag(name: .long, help: "Print JSON.") var json = false

        func run() async throws {
            try await store.withPlaidStore { plaid in
                let rows: [PlaidItemRow]
                if let tenant { rows = try await plaid.items(tenant: tenant) } else { rows = try await plaid.allItems() }
                if json { return try CLI.printJSON(rows) }
                if rows.isEmpty { print("no items") }
                for r in rows {
                    print(
                        "\(r.item)  tenant=\(r.tenant)  \(r.institutionName ?? r.institutionId ?? "-")  \(r.status)"
                            + (r.errorCode.map { "  error=\($0)" } ?? "") + "  synced=\(Printer.time(r.lastSyncedAtMs))")
                }
            }
        }
    }

    struct Accounts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a tenant's accounts with their balances.")
        @OptionGroup var store: DatabaseOptions
        @Option(name: .long, help: "The tenant.") var tenant: String
        @Flag(name: .long, help: "Print JSON.") var json = false

        func run() async throws {
            try await store.withPlaidStore { plaid in
                let rows = try await plaid.accounts(tenant: tenant)
                if json { return try CLI.printJSON(rows) }
                if rows.isEmpty { print("no accounts") }
                for r in rows {
                    print(
                        "\(r.account)  \(r.name) \(r.mask.map { "••\($0)" } ?? "")  \(r.type)/\(r.subtype ?? "-")  current=\(r.current ?? "-")"
                            + "  available=\(r.available ?? "-")  limit=\(r.limit ?? "-")  \(r.currency ?? "")")
                }
            }
        }
    }

    struct Transactions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a tenant's transactions, newest first.")
        @OptionGroup var store: DatabaseOptions
        @Option(name: .long, help: "The tenant.") var tenant: String
        @Option(name: .long, help: "Only this account.") var account: String?
        @Option(name: .long, help: "Only on or after this date (YYYY-MM-DD).") var since: String?
        @Option(name: .long, help: "At most this many.") var limit: Int = 100
        @Flag(name: .long, help: "Print JSON.") var json = false

        func validate() throws {
            guard limit >= 1 else { throw ValidationError("--limit must be at least 1") }
            if let since, (try? PlaidDate(since)) == nil { throw ValidationError("--since must be a date YYYY-MM-DD") }
        }

        func run() async throws {
            try await store.withPlaidStore { plaid in
                let rows = try await plaid.transactions(tenant: tenant, account: account, since: since, limit: limit)
                if json { return try CLI.printJSON(rows) }
                if rows.isEmpty { print("no transactions") }
                for r in rows {
                    print(
                        "\(r.date)  \(r.amount) \(r.currency ?? "")  \(r.name)\(r.merchant.map { " (\($0))" } ?? "")"
                            + "\(r.pending ? "  pending" : "")  \(r.category) [\(r.categorySource)]  \(r.transaction)")
                }
            }
        }
    }
}

extension DatabaseOptions {
    /// Runs `body` with a ``PlaidStore`` on this database (no token key: the commands show no tokens).
    func withPlaidStore(_ body: @escaping @Sendable (PlaidStore) async throws -> Void) async throws {
        try await withStore { database in try await body(PlaidStore(database: database, cipher: nil, logger: CLI.quietLogger)) }
    }
}

import ArgumentParser
import Foundation
import Jobs
import Logging

/// `jobnode notifications list|channels|opt-out|secret`: the notifications store, for operators (`--json` fields
/// are a contract).
struct NotificationsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notifications", abstract: "Show a tenant's notifications and set where they go.",
        subcommands: [List.self, Channels.self, OptOut.self, LowBalance.self, Secret.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A tenant's inbox (or, with --all, every notification), newest first.")
        @OptionGroup var store: DatabaseOptions
        @Option(name: .long, help: "The tenant.") var tenant: String
        @Option(name: .long, help: "Only this user's.") var user: String?
        @Option(name: .long, help: "At most this many.") var limit: Int = 50
        @Flag(name: .long, help: "Every notification (also collapsed, opted out, failed, or sent on other channels only), not only the inbox.")
        var all = false
        @Flag(name: .long, help: "Print JSON.") var json = false

        func validate() throws { guard limit >= 1 else { throw ValidationError("--limit must be at least 1") } }

        func run() async throws {
            try await store.withStore { database in
                let rows = try await NotificationStore(database: database, logger: CLI.quietLogger).inbox(
                    tenant: tenant, user: user, limit: limit, all: all)
                if json { return try CLI.printJSON(rows) }
                if rows.isEmpty { print("no notifications") }
                for r in rows {
                    print("\(r.notification)  \(r.kind)  \(r.outcome)  \(Printer.time(r.createdAtMs))  \(r.readAtMs == nil ? "unread" : "read")  \(r.title)")
                }
            }
        }
    }

    struct Channels: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set where a tenant's (or one user's) notifications go: the inbox always unless --no-inbox, email and webhook when given.")
        @OptionGroup var store: DatabaseOptions
        @Option(name: .long, help: "The tenant.") var tenant: String
        @Option(name: .long, help: "One user of the tenant (else the tenant's default).") var user: String?
        @Option(name: .long, help: "Email address.") var email: String?
        @Option(name: .long, help: "Webhook URL (http or https).") var webhook: String?
        @Flag(name: .customLong("no-inbox"), help: "No inbox entries.") var noInbox = false

        func validate() throws {
            if let webhook {
                guard let url = URL(string: webhook), ["http", "https"].contains(url.scheme?.lowercased() ?? ""), url.host != nil else {
                    throw ValidationError("--webhook must be an absolute http(s) URL")
                }
            }
            if let email, !email.contains("@") { throw ValidationError("--email must be an address") }
        }

        func run() async throws {
            try await store.withStore { database in
                try await NotificationStore(database: database, logger: CLI.quietLogger).setChannels(
                    tenant: tenant, user: user, .init(inbox: !noInbox, email: email, webhookURL: webhook))
                print("channels of \(tenant)\(user.map { "/\($0)" } ?? ""): inbox=\(!noInbox) email=\(email ?? "-") webhook=\(webhook ?? "-")")
            }
        }
    }

    struct OptOut: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "opt-out", abstract: "Stop (or with --undo, restart) one kind for one user.")
        @OptionGroup var store: DatabaseOptions
        @Option(name: .long, help: "The tenant.") var tenant: String
        @Option(name: .long, help: "The user (omit: every user of the tenant).") var user: String?
        @Option(name: .long, help: "The notification kind (payment_failed, low_balance, …).") var kind: String
        @Flag(name: .long, help: "Opt back in.") var undo = false

        func run() async throws {
            try await store.withStore { database in
                try await NotificationStore(database: database, logger: CLI.quietLogger).setOptOut(
                    tenant: tenant, user: user ?? "", kind: kind, optedOut: !undo)
                print("\(tenant)/\(user ?? "*") \(undo ? "receives" : "no longer receives") \(kind)")
            }
        }
    }

    struct LowBalance: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "low-balance", abstract: "Set (or with --off, remove) the tenant's low-balance threshold: a balance refresh that takes a depository account under it notifies low_balance.")
        @OptionGroup var store: DatabaseOptions
        @Option(name: .long, help: "The tenant.") var tenant: String
        @Option(name: .long, help: "The threshold, in the accounts' currency (e.g. 100 or 99.50).") var below: String?
        @Flag(name: .long, help: "No threshold.") var off = false

        func validate() throws {
            guard (below != nil) != off else { throw ValidationError("give --below AMOUNT or --off") }
            if let below, below.wholeMatch(of: /[0-9]+(\.[0-9]+)?/) == nil {
                throw ValidationError("--below must be a non-negative decimal amount, not '\(below)'")
            }
        }

        func run() async throws {
            try await store.withStore { database in
                let store = PlaidStore(database: database, cipher: nil, logger: CLI.quietLogger)
                try await store.setLowBalanceThreshold(tenant: tenant, amount: below.flatMap { Decimal(string: $0) })
                print(below.map { "\(tenant): low balance under \($0)" } ?? "\(tenant): no low-balance threshold")
            }
        }
    }

    struct Secret: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the tenant's webhook signing secret (derived from JOBKIT_NOTIFY_SIGNING_KEY), for its receiver.")
        @Option(name: .long, help: "The tenant.") var tenant: String

        func run() async throws {
            guard let signer = NotificationWebhookSigner.fromEnvironment() else {
                throw ValidationError("JOBKIT_NOTIFY_SIGNING_KEY is not set")
            }
            print(signer.secret(tenant: tenant))
        }
    }
}

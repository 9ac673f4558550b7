import ArgumentParser
import Foundation
import Jobs
import Logging
import ServiceLifecycle

/// `jobnode migrate [--database URL]`: applies the store's pending migrations; safe with several at once.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply the PostgreSQL store's pending migrations (idempotent; safe when several nodes run it at once).")
    @OptionGroup var store: DatabaseOptions

    func validate() throws {
        guard store.databaseURL != nil else { throw ValidationError("give --database URL or set DATABASE_URL") }
    }

    func run() async throws {
        try await store.withStore { database in
            let applied = try await Migrator(database: database, logger: CLI.quietLogger).apply()
            if applied.isEmpty {
                print("up to date (\(StoreMigrations.all.last.map { "version \($0.version)" } ?? "no migrations"))")
            }
            for m in applied { print("applied \(m.version) \(m.name)") }
        }
    }
}

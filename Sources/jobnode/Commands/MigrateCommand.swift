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
        await CLI.guarded {
            guard let database = try store.makeDatabase(logger: CLI.quietLogger) else { return }
            let migrator = Migrator(database: database, logger: CLI.quietLogger)
            let outcome: Result<[Migration], any Error> = await withTaskGroup(of: Result<[Migration], any Error>?.self) { group in
                group.addTask {
                    try? await database.run()
                    return nil
                }
                group.addTask {
                    do { return .success(try await migrator.apply()) } catch { return .failure(error) }
                }
                var result: Result<[Migration], any Error> = .success([])
                for await r in group {
                    if let r {
                        result = r
                        group.cancelAll()
                    }
                }
                return result
            }
            let applied: [Migration]
            switch outcome {
            case .success(let list): applied = list
            case .failure(let error as MigrationError): throw error
            // PostgresNIO's errors describe themselves generically (to keep data out of logs); the reflection
            // names the server's message, which is what an operator needs here.
            case .failure(let error): throw MigrateFailure(description: "migration failed: \(String(reflecting: error))")
            }
            if applied.isEmpty {
                print("up to date (\(StoreMigrations.all.last.map { "version \($0.version)" } ?? "no migrations"))")
            }
            for m in applied { print("applied \(m.version) \(m.name)") }
        }
    }
}

struct MigrateFailure: Error, CustomStringConvertible {
    var description: String
}

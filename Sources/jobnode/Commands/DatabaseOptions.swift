import ArgumentParser
import Foundation
import Jobs
import Logging

/// `--database`, taken by `run` and `serve`: the node's PostgreSQL.
struct DatabaseOptions: ParsableArguments {
    @Option(
        name: .long,
        help: "PostgreSQL URL (default: $DATABASE_URL; none: the node runs without a database and health says 'not configured').")
    var database: String?

    @Option(name: .customLong("database-pool-size"), help: "PostgreSQL connections of the node's pool.")
    var databasePoolSize: Int = 10

    var databaseURL: String? {
        database ?? ProcessInfo.processInfo.environment["DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    func validate() throws {
        guard databasePoolSize >= 1 else { throw ValidationError("--database-pool-size must be at least 1") }
        if let databaseURL { try StoreDatabase.validate(url: databaseURL) }
    }

    /// The node's database, or `nil` without a URL.
    func makeDatabase(logger: Logger) throws -> StoreDatabase? {
        guard let databaseURL else { return nil }
        return try StoreDatabase(url: databaseURL, maxConnections: databasePoolSize, logger: logger)
    }
}

extension DatabaseOptions {
    /// Runs `body` with this database, its client running beside it; exits 1 with the error when anything fails.
    func withStore(_ body: @escaping @Sendable (StoreDatabase) async throws -> Void) async throws {
        await CLI.guarded {
            guard databaseURL != nil else { throw ValidationError("give --database URL or set DATABASE_URL") }
            guard let database = try makeDatabase(logger: CLI.quietLogger) else { return }
            let outcome: Result<Void, any Error> = await withTaskGroup(of: Result<Void, any Error>?.self) { group in
                group.addTask {
                    try? await database.run()
                    return nil
                }
                group.addTask {
                    do { return .success(try await body(database)) } catch { return .failure(error) }
                }
                var result: Result<Void, any Error> = .success(())
                for await r in group {
                    if let r {
                        result = r
                        group.cancelAll()
                    }
                }
                return result
            }
            if case .failure(let error) = outcome {
                // The store's own errors say what happened; PostgresNIO's describe themselves generically (to keep
                // data out of logs), and the reflection names the server's message, which an operator needs here.
                if error is PlaidStoreError || error is MigrationError { throw error }
                throw StoreCommandFailure(description: String(reflecting: error))
            }
        }
    }
}

/// A store command's failure that is not the store's own error.
struct StoreCommandFailure: Error, CustomStringConvertible {
    var description: String
}

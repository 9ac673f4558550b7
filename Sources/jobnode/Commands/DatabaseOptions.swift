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

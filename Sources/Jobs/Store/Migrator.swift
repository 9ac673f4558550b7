import Logging
import PostgresNIO

/// One versioned change of the PostgreSQL schema. Versions only grow; a released migration is never edited
/// (a later one changes what it made).
public struct Migration: Sendable {
    public var version: Int
    public var name: String
    /// The statements, run in order in one transaction (one statement each: PostgreSQL's extended protocol
    /// takes no more).
    public var statements: [String]

    public init(version: Int, name: String, statements: [String]) {
        self.version = version
        self.name = name
        self.statements = statements
    }
}

/// Applies the store's migrations (`jobnode migrate`): the pending ones in one transaction, after taking a
/// transaction-scoped advisory lock, so that several nodes running it at once apply each version exactly once
/// (the others wait, then find them applied). Applied versions are recorded in `schema_migrations`.
public struct Migrator: Sendable {
    public let database: StoreDatabase
    public let migrations: [Migration]
    let logger: Logger

    /// The advisory lock's key (any constant shared by every migrator of this schema).
    static let lockKey: Int64 = 0x4A6F_624B_6974  // "JobKit"

    public init(database: StoreDatabase, migrations: [Migration] = StoreMigrations.all, logger: Logger) {
        self.database = database
        self.migrations = migrations.sorted { $0.version < $1.version }
        self.logger = logger
    }

    /// Applies every pending migration; returns the ones this call applied, in order.
    ///
    /// All pending migrations go in one transaction, after taking a transaction-scoped advisory lock: a
    /// concurrent `migrate` waits for the lock, then finds everything applied (so two nodes never split the
    /// versions between them, and a failure leaves the schema as it was).
    ///
    /// - Throws: the database's error; the transaction is rolled back and the error names the failing migration.
    public func apply() async throws -> [Migration] {
        let applied = try await database.transaction(logger: logger) { connection -> [Migration] in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.lockKey))", logger: logger)
            // Under the lock: two `CREATE TABLE IF NOT EXISTS` at once can still collide in PostgreSQL.
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                  version integer PRIMARY KEY,
                  name text NOT NULL,
                  applied_at timestamptz NOT NULL DEFAULT now()
                )
                """, logger: logger)
            var done: Set<Int> = []
            for try await (version,) in try await connection.query("SELECT version FROM schema_migrations", logger: logger)
                .decode((Int,).self)
            {
                done.insert(version)
            }
            var applied: [Migration] = []
            for migration in migrations where !done.contains(migration.version) {
                do {
                    for statement in migration.statements {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                } catch {
                    throw MigrationError(version: migration.version, name: migration.name, underlying: String(reflecting: error))
                }
                try await connection.query(
                    "INSERT INTO schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))", logger: logger)
                applied.append(migration)
            }
            return applied
        }
        for migration in applied {
            logger.notice("Migration applied", metadata: ["migration.version": "\(migration.version)", "migration.name": "\(migration.name)"])
        }
        return applied
    }

    /// The versions recorded as applied.
    public func appliedVersions() async throws -> [Int] {
        var out: [Int] = []
        for try await (version,) in try await database.client.query(
            "SELECT version FROM schema_migrations ORDER BY version", logger: logger
        ).decode((Int,).self) {
            out.append(version)
        }
        return out
    }
}

/// A migration that failed: its version, name and the database's error.
public struct MigrationError: Error, CustomStringConvertible {
    public var version: Int
    public var name: String
    public var underlying: String
    public var description: String { "migration \(version) (\(name)) failed; nothing of this run was applied: \(underlying)" }
}

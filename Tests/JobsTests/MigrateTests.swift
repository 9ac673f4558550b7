import Foundation
import JobKitTestSupport
import Jobs
import PostgresNIO
import Testing

/// `jobnode migrate` against the test PostgreSQL, in a database of its own.
@Suite("PostgreSQL migrations", .serialized)
struct MigrateTests {
    /// Runs `body` with a running client on `url`.
    static func withDatabase<T: Sendable>(_ url: String, _ body: @Sendable (StoreDatabase) async throws -> T) async throws -> T {
        let database = try StoreDatabase(url: url, maxConnections: 2, logger: TestEnvironment.logger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await database.run()
                return nil
            }
            let result = try await body(database)
            group.cancelAll()
            return result
        }
    }

    @Test("two jobnode migrate at once apply each version exactly once; a third finds the schema up to date")
    func concurrentMigrate() async throws {
        let base = try TestEnvironment.required("DATABASE_URL", "the test PostgreSQL (scripts/test exports it)")
        let name = "jobkit_migrate_\(UUID().uuidString.prefix(8).lowercased())"
        _ = try await Self.withDatabase(base) { db in
            try await db.client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: TestEnvironment.logger)
        }
        let url = base.replacingOccurrences(of: #"/[^/]*$"#, with: "/\(name)", options: .regularExpression)
        do {
            let dir = try TestEnvironment.makeTemporaryDirectory("migrate")
            let first = try JobNodeProcess(["migrate", "--database", url], logPath: "\(dir)/1.log")
            let second = try JobNodeProcess(["migrate", "--database", url], logPath: "\(dir)/2.log")
            #expect(await first.process.wait() == 0, "\(first.log)")
            #expect(await second.process.wait() == 0, "\(second.log)")
            let logs = [first.log, second.log]
            #expect(logs.filter { $0.contains("applied 1 tenants") }.count == 1, "\(logs)")
            #expect(logs.filter { $0.contains("up to date") }.count == 1, "\(logs)")
            let third = try JobNodeProcess(["migrate", "--database", url], logPath: "\(dir)/3.log")
            #expect(await third.process.wait() == 0)
            #expect(third.log.contains("up to date"))
            let versions = try await Self.withDatabase(url) { db in
                try await Migrator(database: db, logger: TestEnvironment.logger).appliedVersions()
            }
            #expect(versions == StoreMigrations.all.map(\.version))
            let bad = try JobNodeProcess(["migrate", "--database", "mysql://x"], logPath: "\(dir)/bad.log")
            #expect(await bad.process.wait() != 0)
            #expect(bad.log.contains("postgres://"))
        } catch {
            _ = try? await Self.withDatabase(base) { db in
                try await db.client.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name)"), logger: TestEnvironment.logger)
            }
            throw error
        }
        _ = try await Self.withDatabase(base) { db in
            try await db.client.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name)"), logger: TestEnvironment.logger)
        }
    }
}

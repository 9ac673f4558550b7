import Foundation
import JobKit
import Logging
import NIOSSL
import PostgresNIO
import ServiceLifecycle

/// The node's PostgreSQL: one `PostgresClient` (a pool) configured from a `postgres://` URL, run as a
/// dependency service of the node (it starts first and stops last).
public final class StoreDatabase: Service, Sendable {
    /// The pool. Queries go through it once ``run()`` is running.
    public let client: PostgresClient
    /// The URL without its password, for logs and errors.
    public let redactedURL: String
    /// The pool's connection limit.
    public let maxConnections: Int

    /// - Parameters:
    ///   - url: `postgres://user[:password]@host[:port]/database[?sslmode=disable|prefer|require]`
    ///     (`postgresql://` too); `sslmode` defaults to `disable` on loopback hosts and `require` elsewhere.
    ///   - maxConnections: the pool's size.
    /// - Throws: ``Invalid`` naming what is wrong with the URL.
    public init(url: String, maxConnections: Int = 10, logger: Logger) throws {
        let parsed = try Self.parse(url)
        var configuration = parsed.configuration
        configuration.options.maximumConnections = maxConnections
        configuration.options.connectTimeout = .seconds(5)
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.redactedURL = parsed.redacted
        self.maxConnections = maxConnections
    }

    public func run() async throws {
        await client.run()
    }

    /// One `SELECT 1` round trip; its duration.
    ///
    /// - Throws: the client's error (connection refused, authentication, …).
    public func ping() async throws -> Duration {
        let start = ContinuousClock.now
        let rows = try await client.query("SELECT 1")
        for try await _ in rows {}
        return ContinuousClock.now - start
    }

    /// A URL that can't be used.
    /// Runs `body` in a transaction (committed when it returns, rolled back when it throws) and rethrows the
    /// body's own error as it was thrown: PostgresNIO wraps it in `PostgresTransactionError`, which would hide
    /// the store's typed errors (a moved cursor, a failed migration, a job's fatal error) from their callers.
    public func transaction<T: Sendable>(
        logger: Logger, _ body: (PostgresConnection) async throws -> sending T
    ) async throws -> sending T {
        do {
            return try await client.withTransaction(logger: logger, body)
        } catch let error as PostgresTransactionError {
            if let inner = error.closureError { throw inner }
            throw error
        }
    }

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    /// Checks a database URL without connecting.
    ///
    /// - Throws: ``Invalid`` naming what is wrong.
    public static func validate(url: String) throws { _ = try parse(url) }

    static func parse(_ text: String) throws -> (configuration: PostgresClient.Configuration, redacted: String) {
        guard let url = URLComponents(string: text), let scheme = url.scheme, ["postgres", "postgresql"].contains(scheme) else {
            throw Invalid(description: "database URL must look like postgres://user:password@host:5432/database")
        }
        guard let host = url.host, !host.isEmpty else { throw Invalid(description: "database URL has no host") }
        let port = url.port ?? 5432
        let user = url.user.flatMap { $0.removingPercentEncoding } ?? "postgres"
        let password = url.password.flatMap { $0.removingPercentEncoding }
        let path = url.path.hasPrefix("/") ? String(url.path.dropFirst()) : url.path
        let database = path.isEmpty ? nil : path.removingPercentEncoding
        let loopback = host == "localhost" || host == "::1" || host.hasPrefix("127.")
        let mode = url.queryItems?.first { $0.name == "sslmode" }?.value ?? (loopback ? "disable" : "require")
        let tls: PostgresClient.Configuration.TLS
        switch mode {
        case "disable": tls = .disable
        case "prefer", "allow": tls = .prefer(.makeClientConfiguration())
        case "require", "verify-ca", "verify-full": tls = .require(.makeClientConfiguration())
        default: throw Invalid(description: "database URL: unknown sslmode '\(mode)' (disable, prefer, require)")
        }
        let configuration = PostgresClient.Configuration(
            host: host, port: port, username: user, password: password, database: database, tls: tls)
        let redacted = "\(scheme)://\(user)\(password == nil ? "" : ":***")@\(host):\(port)/\(database ?? "")"
        return (configuration, redacted)
    }
}

extension StoreDatabase: HealthDependency {
    public var name: String { "postgres" }

    /// A `SELECT 1` round trip (the caller bounds the wait).
    public func check(timeout: Duration) async -> DependencyHealth {
        let pool = ["maxConnections": maxConnections]
        do {
            let (s, a) = try await ping().components
            let ms = ((Double(s) * 1000 + Double(a) / 1e15) * 1000).rounded() / 1000
            return DependencyHealth(status: "ok", latencyMs: ms, pool: pool)
        } catch {
            return DependencyHealth(status: "down", pool: pool, error: String(reflecting: error))
        }
    }
}

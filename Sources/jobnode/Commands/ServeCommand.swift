import ArgumentParser
import Foundation
import JobKit
import JobKitHTTP
import Jobs
import Logging
import ServiceLifecycle

/// `jobnode serve --http ADDR`: the HTTP surface alone (job API, health, webhook intake), without claiming jobs,
/// so that web and worker processes scale apart.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Serve the HTTP API and health endpoints without claiming jobs, until SIGTERM/SIGINT.")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var http: HTTPOptions
    @OptionGroup var telemetry: ObservabilityOptions
    @OptionGroup var store: DatabaseOptions
    @Option(name: .customLong("pool-size"), help: "Redis connections of the server's pool.") var poolSize: Int = 4
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical.") var logLevel: String = "info"
    @Option(name: .customLong("log-format"), help: "text or json.") var logFormat: String = "text"

    func validate() throws {
        guard http.http != nil else { throw ValidationError("serve needs --http HOST:PORT") }
        guard poolSize >= 1 else { throw ValidationError("--pool-size must be at least 1") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level '\(logLevel)'") }
        guard ["text", "json"].contains(logFormat) else { throw ValidationError("--log-format is text or json") }
    }

    func run() async throws {
        guard var httpConfiguration = try http.configuration() else { return }
        CLI.bootstrapLogging(level: logLevel, format: logFormat)
        let logger = Logger(label: "jobnode")
        await CLI.guarded {
            let observability = try telemetry.bootstrap(http: true, logger: logger)
            httpConfiguration.metrics = observability.registry
            let database = try store.makeDatabase(logger: logger)
            if let database {
                httpConfiguration.dependencies.append(database)
                httpConfiguration.dashboard?.tenants = DashboardTenants(database: database, logger: logger)
            }
            let redis = RedisPool(configuration: try RedisConfiguration(url: connection.redisURL, clientName: "jobnode-serve", logger: logger), size: poolSize)
            do {
                try await RedisRequirements.check(redis)
                let queue = JobQueue(
                    redis: redis, namespace: connection.namespace, routes: try ConnectionOptions.routes(),
                    replicaAcknowledgement: connection.replicaAcknowledgement, logger: logger)
                httpConfiguration.extraRoutes +=
                    try PlaidSetup.routes(queue: queue)
                    + StripeRoutes.registrations(
                        queue: queue, database: database, breaker: try CircuitBreaker(service: "stripe", policy: .stripe, logger: logger),
                        logger: logger)
                    + NotificationRoutes(store: database.map { NotificationStore(database: $0, logger: logger) }).registrations
                let server = try JobKitHTTPServer(configuration: httpConfiguration, queue: queue, logger: logger)
                // The exporters start first and stop last, after the server's last request.
                let group = ServiceGroup(
                    configuration: .init(
                        services: observability.services + (database.map { [$0] } ?? []) + [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
                try await group.run()
                await redis.close()
            } catch let error as RedisError {
                await redis.close()
                logger.error("Redis unreachable", metadata: ["redis": "\(redis.configuration.url)", "error": "\(error)"])
                throw error
            } catch {
                await redis.close()
                throw error
            }
        }
    }
}

import AsyncHTTPClient
import JobKit
import JobKitHTTP
import Jobs
import Logging

/// How a jobnode takes part in the Plaid work, from its environment (`PLAID_*`, `JOBKIT_TOKEN_KEY`) and
/// `--database`.
enum PlaidSetup {
    /// The Plaid runtime for `jobnode run`: nil configuration → the jobs are registered as unavailable; Plaid
    /// credentials without `JOBKIT_TOKEN_KEY` or without a database → the node refuses to start.
    static func runner(
        database: StoreDatabase?, breakers: BreakerBoard, queue: JobQueue, http: PlaidHTTPClient, logger: Logger
    ) async throws -> Result<PlaidJobRunner, ProviderUnavailable> {
        guard let configuration = try PlaidConfiguration.fromEnvironment() else {
            return .failure(ProviderUnavailable("this node has no Plaid configuration (PLAID_CLIENT_ID, PLAID_SECRET)"))
        }
        guard let cipher = try TokenCipher.fromEnvironment() else {
            throw PlaidConfigurationError(
                "PLAID_CLIENT_ID is set but JOBKIT_TOKEN_KEY is not: Plaid access tokens are encrypted at rest, so Plaid work needs the key (base64 of 32 bytes)")
        }
        guard let database else {
            throw PlaidConfigurationError("PLAID_CLIENT_ID is set but no database is: give --database or DATABASE_URL")
        }
        let breaker = await breakers.breaker("plaid", policy: .plaid)
        let client = PlaidClient(configuration: configuration, http: http, breaker: breaker)
        let store = PlaidStore(database: database, cipher: cipher, logger: logger)
        logger.info("Plaid jobs enabled", metadata: ["plaid": "\(configuration)", "token.key": "\(cipher.keyID)"])
        return .success(PlaidJobRunner(client: client, store: store, jobs: PlaidJobs(queue: queue)))
    }

    /// Installs Plaid's default limits that are not set yet (operators' changes stay).
    static func installLimits(redis: RedisPool, namespace: String) async throws {
        let store = LimitStore(redis: redis, namespace: namespace)
        let existing = Set(try await store.list().map(\.limit.name))
        for limit in PlaidJobs.defaultLimits where !existing.contains(limit.name) {
            try await store.set(limit)
        }
    }

    /// The Plaid routes of the HTTP surface (webhooks need Plaid credentials to fetch verification keys).
    static func routes(queue: JobQueue) throws -> [HTTPRouteRegistration] {
        let intake = try PlaidConfiguration.fromEnvironment().map {
            PlaidWebhookIntake(verifier: PlaidWebhookVerifier(client: PlaidClient(configuration: $0)), queue: queue)
        }
        return PlaidRoutes(
            intake: intake, service: PlaidService(queue: queue), tally: WebhookTally(ledger: WebhookLedger(redis: queue.redis, namespace: queue.namespace))
        ).registrations
    }
}

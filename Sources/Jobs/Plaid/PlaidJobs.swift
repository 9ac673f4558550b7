import JobKit

/// Enqueues the Plaid jobs, for services that link JobKit (no Plaid credentials needed: a jobnode runs them).
///
/// `PlaidJobs(queue:).scheduleAccountSync(tenant:item:delay:)` is the seed's `schedule_account_sync`.
public struct PlaidJobs: Sendable {
    /// The queue the Plaid jobs use (the seed's layout: syncs are medium priority).
    public static let queue = "medium_priority"
    /// The queue notifications go to.
    public static var notificationsQueue: String { NotificationSendJob.queue }

    public let jobs: JobQueue

    public init(queue: JobQueue) { self.jobs = queue }

    /// The idempotency key that keeps one pending sync of a kind per item.
    static func pendingKey(_ name: String, item: String) -> String { "\(name):\(item)" }

    static func options(tenant: String, correlation: String? = nil) -> EnqueueOptions {
        var options = EnqueueOptions(queue: queue)
        options.tenantID = tenant
        options.correlationID = correlation
        options.maxAttempts = 8
        return options
    }

    /// Enqueues an accounts sync and a transactions sync of the item, after `delay`, unless one of each is already
    /// pending: each kind keeps one pending job per item (a running one does not count, so changes that arrive
    /// during a sync get a sync of their own). Returns the two handles (existing ones when deduplicated).
    @discardableResult
    public func scheduleAccountSync(tenant: String, item: String, delay: Duration? = nil, correlation: String? = nil) async throws
        -> [JobHandle]
    {
        var accounts = Self.options(tenant: tenant, correlation: correlation)
        accounts.delay = delay
        accounts.idempotencyKey = Self.pendingKey(PlaidAccountsSyncJob.jobName, item: item)
        var transactions = accounts
        transactions.idempotencyKey = Self.pendingKey(PlaidTransactionsSyncJob.jobName, item: item)
        let a = try await jobs.enqueue(PlaidAccountsSyncJob(tenant: tenant, item: item), options: accounts)
        let t = try await jobs.enqueue(PlaidTransactionsSyncJob(tenant: tenant, item: item), options: transactions)
        return [a, t]
    }

    /// Enqueues a transactions sync of the item unless one is pending (see ``scheduleAccountSync(tenant:item:delay:correlation:)``).
    @discardableResult
    public func scheduleTransactionsSync(tenant: String, item: String, correlation: String? = nil) async throws -> JobHandle {
        var options = Self.options(tenant: tenant, correlation: correlation)
        options.idempotencyKey = Self.pendingKey(PlaidTransactionsSyncJob.jobName, item: item)
        return try await jobs.enqueue(PlaidTransactionsSyncJob(tenant: tenant, item: item), options: options)
    }

    /// Enqueues a real-time balance refresh of the item (the per-item limit spaces them; see ``defaultLimits``).
    @discardableResult
    public func refreshBalances(tenant: String, item: String) async throws -> JobHandle {
        var options = Self.options(tenant: tenant)
        options.idempotencyKey = Self.pendingKey(PlaidBalancesRefreshJob.jobName, item: item)
        return try await jobs.enqueue(PlaidBalancesRefreshJob(tenant: tenant, item: item), options: options)
    }

    /// Enqueues `plaid.item.link`; its result is `{"item": "<item_id>"}` (`handle.result(timeout:)`).
    public func link(tenant: String, publicToken: String, correlation: String? = nil) async throws -> JobHandle {
        var options = Self.options(tenant: tenant, correlation: correlation)
        options.maxAttempts = 5
        // The same public token twice (a client's retry) is one link job.
        options.idempotencyKey = "plaid.item.link:\(tenant):\(Digest.sha256Hex(publicToken))"
        return try await jobs.enqueue(PlaidItemLinkJob(tenant: tenant, publicToken: publicToken), options: options)
    }

    /// Adds (or changes) a tenant's categorization rule and enqueues the re-categorization of the tenant's
    /// transactions, which applies it to what is already stored (new transactions get it as they sync).
    @discardableResult
    public func addCategoryRule(_ rule: CategoryRule, tenant: String, store: PlaidStore) async throws -> JobHandle {
        try await store.addRule(tenant: tenant, rule)
        return try await recategorize(tenant: tenant)
    }

    /// Enqueues a re-categorization of the tenant's transactions (after its rules changed).
    @discardableResult
    public func recategorize(tenant: String) async throws -> JobHandle {
        var options = Self.options(tenant: tenant)
        options.idempotencyKey = Self.pendingKey(PlaidRecategorizeJob.jobName, item: tenant)
        return try await jobs.enqueue(PlaidRecategorizeJob(tenant: tenant), options: options)
    }

    /// The per-item and per-client limits Plaid sets (production figures), checked inside the claim: a job over a
    /// limit waits in `scheduled` without using an attempt. A node installs the missing ones at start; operators
    /// tune them with `jobnode limits`.
    ///
    /// The claim is timed by Redis and the call arrives at Plaid a little later, by an amount that varies from job
    /// to job; so the per-item windows are 62 s rather than 60 (the benchmark saw 51 calls of one item in 60 s at
    /// Plaid with exact 60 s windows at the claim).
    public static var defaultLimits: [QueueLimit] {
        [
            QueueLimit(
                name: "plaid-sync-item", queue: queue, job: PlaidTransactionsSyncJob.jobName, key: "{item}",
                rate: .slidingWindow(50, per: .seconds(62)), concurrency: 1),
            // Per client a token bucket of 2,400/min with a burst of 100: at most 2,500 in any 60 s (Plaid's
            // limit), exactly; a sliding window of more than 1,000 is the approximate counter, which lets bunched
            // calls past the limit (the benchmark saw Plaid's 429s with it).
            QueueLimit(
                name: "plaid-sync-client", queue: queue, job: PlaidTransactionsSyncJob.jobName,
                rate: .tokenBucket(2_400, per: .seconds(60), burst: 100)),
            QueueLimit(
                name: "plaid-balance-item", queue: queue, job: PlaidBalancesRefreshJob.jobName, key: "{item}",
                rate: .slidingWindow(5, per: .seconds(62))),
            QueueLimit(
                name: "plaid-accounts-item", queue: queue, job: PlaidAccountsSyncJob.jobName, key: "{item}",
                rate: .slidingWindow(15, per: .seconds(62)), concurrency: 1),
        ]
    }

    /// The Plaid schedules: every item's health every 6 hours.
    public static var defaultSchedules: [Schedule] {
        var health = Schedule.every("plaid.item.health", .seconds(6 * 3600), job: PlaidItemHealthJob.jobName, queue: queue)
        health.overlap = .skip
        return [health]
    }
}

/// `PlaidService.link(tenant:publicToken:)`: what a service calls when Link hands it a public token.
public struct PlaidService: Sendable {
    public let jobs: PlaidJobs
    public init(queue: JobQueue) { self.jobs = PlaidJobs(queue: queue) }

    /// Enqueues `plaid.item.link` for the tenant; await `result(timeout:)` on the handle for `{"item": …}`.
    public func link(tenant: String, publicToken: String) async throws -> JobHandle {
        try await jobs.link(tenant: tenant, publicToken: publicToken)
    }
}

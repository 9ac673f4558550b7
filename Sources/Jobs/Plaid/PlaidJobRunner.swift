import Foundation
import JobKit
import Logging

/// Runs the Plaid jobs on a node: Plaid calls through ``PlaidClient`` (behind the node's Plaid breaker), data into
/// ``PlaidStore``, follow-up jobs through ``PlaidJobs``.
///
/// How Plaid's errors end a job (``PlaidAPIError/Disposition``): rate limits, an institution down and Plaid's own
/// 5xx → `JobRetryLater` (no attempt used); network failures → the job's backoff; an item that needs its user
/// (`ITEM_LOGIN_REQUIRED`, `PENDING_EXPIRATION`, …) → the item is marked, a notification job is enqueued, the job
/// completes (no retry storm); bad credentials or a revoked token → `dead` with Plaid's reason.
public struct PlaidJobRunner: Sendable {
    public let client: PlaidClient
    public let store: PlaidStore
    public let jobs: PlaidJobs
    /// Transactions per `/transactions/sync` page (Plaid's maximum).
    public var pageSize = 500
    /// Restarts of one sync after `TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION` before it is retried later.
    public var maxRestarts = 5

    public init(client: PlaidClient, store: PlaidStore, jobs: PlaidJobs) {
        self.client = client
        self.store = store
        self.jobs = jobs
    }

    /// Registers every Plaid job.
    public func register(in registry: JobRegistry) {
        registry.register(PlaidItemLinkJob.self, timeout: .seconds(120), returning: PlaidLinkResult.self) { job, context in
            try await link(job, context)
        }
        registry.register(PlaidAccountsSyncJob.self, timeout: .seconds(120), returning: PlaidSyncResult.self) { job, context in
            try await syncAccounts(job, context)
        }
        registry.register(PlaidBalancesRefreshJob.self, timeout: .seconds(120), returning: PlaidSyncResult.self) { job, context in
            try await refreshBalances(job, context)
        }
        registry.register(PlaidTransactionsSyncJob.self, timeout: .seconds(900), returning: PlaidSyncResult.self) { job, context in
            try await syncTransactions(job, context)
        }
        registry.register(PlaidItemHealthJob.self, timeout: .seconds(300)) { job, context in
            try await health(job, context)
        }
        registry.register(PlaidWebhookJob.self, timeout: .seconds(60), returning: String.self) { job, context in
            try await handleWebhook(job, context)
        }
        registry.register(PlaidRecategorizeJob.self, timeout: .seconds(900)) { job, context in
            try await recategorize(job, context)
        }
    }

    /// The Plaid job names.
    public static let jobNames = [
        PlaidItemLinkJob.jobName, PlaidAccountsSyncJob.jobName, PlaidBalancesRefreshJob.jobName, PlaidTransactionsSyncJob.jobName,
        PlaidItemHealthJob.jobName, PlaidWebhookJob.jobName, PlaidRecategorizeJob.jobName,
    ]

    /// Registers the Plaid jobs on a node that cannot run them: each goes back to `scheduled` for a minute, with the
    /// reason, without using an attempt, so a configured node takes it (and a fleet with none shows why its Plaid
    /// jobs wait).
    public static func registerUnavailable(in registry: JobRegistry, reason: ProviderUnavailable) {
        for name in jobNames {
            registry.registerRaw(name) { _, _ in throw JobRetryLater(after: .seconds(60), reason: reason.description) }
        }
    }

    static func logger(_ context: JobContext, tenant: String?, item: String?) -> Logger {
        var logger = context.logger
        if let tenant { logger[metadataKey: "tenant"] = "\(tenant)" }
        if let item { logger[metadataKey: "plaid.item"] = "\(item)" }
        return logger
    }

    // MARK: Link

    func link(_ job: PlaidItemLinkJob, _ context: JobContext) async throws -> PlaidLinkResult {
        let logger = Self.logger(context, tenant: job.tenant, item: nil)
        guard !job.tenant.isEmpty, !job.publicToken.isEmpty else { throw JobFatalError("tenant and publicToken must not be empty") }
        let tokenHash = Digest.sha256Hex(job.publicToken)
        // A retried link finds the item its first attempt stored (Plaid refuses a public token exchanged before).
        if let item = try await store.item(tenant: job.tenant, linkTokenSHA256: tokenHash) {
            logger.info("Plaid item already linked by an earlier attempt", metadata: ["plaid.item": "\(item)"])
            try await jobs.scheduleAccountSync(tenant: job.tenant, item: item, correlation: context.correlationID)
            return PlaidLinkResult(item: item)
        }
        // Everything that can fail before the exchange is done before it: a public token is spent once exchanged.
        try await store.ensureTenant(job.tenant)
        guard store.cipher != nil else { throw JobFatalError("JOBKIT_TOKEN_KEY is not set") }
        let exchange = try await plaid(context, item: nil, tenant: job.tenant) { try await client.exchangePublicToken(job.publicToken) }
        let token = PlaidAccessToken(exchange.accessToken)
        // The access token exists only in memory until saved: a failed save is tried again here, not by a retry of
        // the job (which could not exchange the spent public token again).
        var saveFailures = 0
        while true {
            do {
                try await store.saveItem(
                    tenant: job.tenant, item: exchange.itemID, accessToken: token, institutionID: nil, institutionName: nil,
                    webhook: client.configuration.webhookURL, linkTokenSHA256: tokenHash)
                break
            } catch let error as PlaidStoreError {
                throw JobFatalError(error.description)
            } catch {
                saveFailures += 1
                logger.error("Plaid item could not be saved after the exchange; trying again", metadata: ["attempt": "\(saveFailures)"])
                guard saveFailures < 10 else { throw error }
                try await Task.sleep(for: .milliseconds(200 * saveFailures))
            }
        }
        let logger2 = Self.logger(context, tenant: job.tenant, item: exchange.itemID)
        logger2.info("Plaid item linked")
        // The institution, best effort: the link stands without it (the health job fills it in later).
        do {
            let item = try await client.item(token).item
            if let institutionID = item.institutionID {
                try await store.setInstitution(tenant: job.tenant, item: exchange.itemID, id: institutionID, name: item.institutionName)
                let institution = try await client.institution(institutionID).institution
                try await store.upsertInstitution(institution)
                try await store.setInstitution(tenant: job.tenant, item: exchange.itemID, id: institutionID, name: institution.name)
            }
            if let webhook = client.configuration.webhookURL, item.webhook != webhook {
                _ = try await client.updateWebhook(token, webhook: webhook)
            }
        } catch let error as PlaidAPIError {
            logger2.warning("Plaid item details failed; the item is linked, its syncs are enqueued", metadata: ["error": "\(error)"])
        }
        try await jobs.scheduleAccountSync(tenant: job.tenant, item: exchange.itemID, correlation: context.correlationID)
        return PlaidLinkResult(item: exchange.itemID)
    }

    // MARK: Accounts and balances

    func syncAccounts(_ job: PlaidAccountsSyncJob, _ context: JobContext) async throws -> PlaidSyncResult {
        try await jobs.jobs.releaseIdempotencyKey(
            PlaidJobs.pendingKey(PlaidAccountsSyncJob.jobName, item: job.item), queue: context.queue, heldBy: context.id)
        return try await withItem(job.tenant, job.item, context) { token in
            let response = try await client.accounts(token)
            let changed = try await store.upsertAccounts(tenant: job.tenant, item: job.item, accounts: response.accounts)
            Self.logger(context, tenant: job.tenant, item: job.item).info(
                "Plaid accounts synced", metadata: ["accounts": "\(response.accounts.count)", "balances.changed": "\(changed)"])
            return PlaidSyncResult(item: job.item, status: "synced", modified: changed)
        }
    }

    func refreshBalances(_ job: PlaidBalancesRefreshJob, _ context: JobContext) async throws -> PlaidSyncResult {
        try await jobs.jobs.releaseIdempotencyKey(
            PlaidJobs.pendingKey(PlaidBalancesRefreshJob.jobName, item: job.item), queue: context.queue, heldBy: context.id)
        return try await withItem(job.tenant, job.item, context) { token in
            let response = try await client.balances(token)
            let changed = try await store.upsertAccounts(tenant: job.tenant, item: job.item, accounts: response.accounts)
            // A balance that went under the tenant's threshold: one notification per crossing (its history row), checked
            // on every refresh, so a run whose enqueue failed after the balances committed still tells it on its retry.
            for low in try await store.lowBalanceCrossings(tenant: job.tenant, accounts: response.accounts.map(\.accountID)) {
                try await NotificationSendJob.enqueue(
                    on: jobs.jobs, tenant: job.tenant, kind: "low_balance", id: "plaid:\(low.account):low_balance:\(low.observation)",
                    data: [
                        "account": low.name, "accountID": low.account, "balance": low.balance, "threshold": low.threshold,
                        "currency": low.currency ?? "",
                    ], correlation: context.correlationID)
            }
            return PlaidSyncResult(item: job.item, status: "synced", modified: changed)
        }
    }

    // MARK: Transactions

    func syncTransactions(_ job: PlaidTransactionsSyncJob, _ context: JobContext) async throws -> PlaidSyncResult {
        try await jobs.jobs.releaseIdempotencyKey(
            PlaidJobs.pendingKey(PlaidTransactionsSyncJob.jobName, item: job.item), queue: context.queue, heldBy: context.id)
        let logger = Self.logger(context, tenant: job.tenant, item: job.item)
        return try await withItem(job.tenant, job.item, context) { token in
            let start = try await store.cursor(tenant: job.tenant, item: job.item)
            var restarts = 0
            var pages = 0
            var pagesCommitted = 0  // pages fetched before the current pass (for the log)
            restart: while true {
                var cursor = start
                var upserts: [String: PlaidTransaction] = [:]
                var removed: Set<String> = []
                var added = 0, modified = 0
                while true {
                    try Task.checkCancellation()
                    let page: PlaidTransactionsSyncResponse
                    do {
                        page = try await client.transactionsSync(token, cursor: cursor, count: pageSize)
                    } catch let error as PlaidAPIError where error.disposition == .restartSync {
                        restarts += 1
                        logger.notice(
                            "Plaid data changed during pagination; restarting from the saved cursor",
                            metadata: ["restarts": "\(restarts)", "pages.discarded": "\(pages - pagesCommitted)"])
                        pagesCommitted = pages
                        guard restarts <= maxRestarts else {
                            throw JobRetryLater(after: .seconds(30), reason: "\(error) (\(restarts) restarts)")
                        }
                        continue restart
                    }
                    pages += 1
                    if page.nextCursor.isEmpty {
                        // NOT_READY: no data yet; the saved cursor stays.
                        logger.info("Plaid transactions not ready yet")
                        return PlaidSyncResult(item: job.item, status: "not_ready", pages: pages, restarts: restarts)
                    }
                    for t in page.added {
                        upserts[t.transactionID] = t
                        removed.remove(t.transactionID)
                    }
                    for t in page.modified {
                        upserts[t.transactionID] = t
                        removed.remove(t.transactionID)
                    }
                    for r in page.removed {
                        upserts[r.transactionID] = nil
                        removed.insert(r.transactionID)
                    }
                    added += page.added.count
                    modified += page.modified.count
                    cursor = page.nextCursor
                    if !page.hasMore { break }
                }
                guard let cursor else { throw JobRetryLater(after: .seconds(30), reason: "Plaid returned no cursor") }
                try await store.applySync(
                    tenant: job.tenant, item: job.item, expectedCursor: start,
                    batch: .init(
                        upserts: upserts.values.sorted { $0.transactionID < $1.transactionID }, removed: removed.sorted(),
                        cursor: cursor))
                logger.info(
                    "Plaid transactions synced",
                    metadata: [
                        "added": "\(added)", "modified": "\(modified)", "removed": "\(removed.count)", "pages": "\(pages)",
                        "restarts": "\(restarts)",
                    ])
                return PlaidSyncResult(
                    item: job.item, status: "synced", added: added, modified: modified, removed: removed.count, pages: pages,
                    restarts: restarts)
            }
        }
    }

    func recategorize(_ job: PlaidRecategorizeJob, _ context: JobContext) async throws {
        try await jobs.jobs.releaseIdempotencyKey(
            PlaidJobs.pendingKey(PlaidRecategorizeJob.jobName, item: job.tenant), queue: context.queue, heldBy: context.id)
        var after: String?
        var changed = 0
        repeat {
            try Task.checkCancellation()
            let step = try await store.recategorize(tenant: job.tenant, after: after, batch: 2_000)
            changed += step.changed
            after = step.next
        } while after != nil
        Self.logger(context, tenant: job.tenant, item: nil).info("Transactions re-categorized", metadata: ["changed": "\(changed)"])
    }

    // MARK: Item health

    func health(_ job: PlaidItemHealthJob, _ context: JobContext) async throws {
        if let item = job.item {
            var tenant = job.tenant
            if tenant == nil { tenant = try await store.tenant(ofItem: item) }
            guard let tenant else {
                throw JobFatalError("Plaid item \(item) is not linked")
            }
            _ = try await withItem(tenant, item, context) { token in try await checkHealth(tenant: tenant, item: item, token: token, context) }
            return
        }
        // Fan out: one job per item, so limits and retries apply per item.
        let all: [PlaidItemRow]
        if let tenant = job.tenant { all = try await store.items(tenant: tenant) } else { all = try await store.allItems() }
        let items = all.filter { $0.status != "revoked" }
        for row in items {
            var options = PlaidJobs.options(tenant: row.tenant, correlation: context.correlationID)
            options.idempotencyKey = "plaid.item.health:\(row.item):\(context.id)"
            _ = try await jobs.jobs.enqueue(PlaidItemHealthJob(tenant: row.tenant, item: row.item), options: options)
        }
        Self.logger(context, tenant: job.tenant, item: nil).info("Plaid item health fanned out", metadata: ["items": "\(items.count)"])
    }

    /// `/item/get` for one item: its error (an item that needs its user is marked and notified), its consent
    /// expiry and institution. A healthy answer clears `login_required`/`error`; a `pending_*` status set by a
    /// webhook stays until the user acts.
    func checkHealth(tenant: String, item: String, token: PlaidAccessToken, _ context: JobContext) async throws -> PlaidSyncResult {
        let response = try await client.item(token)
        let consent = response.item.consentExpirationTime.flatMap(Self.milliseconds)
        if let institutionID = response.item.institutionID {
            try await store.setInstitution(tenant: tenant, item: item, id: institutionID, name: response.item.institutionName)
            // The institution's own health, best effort: it explains a stale item without changing its status.
            do {
                let institution = try await client.institution(institutionID, includeStatus: true).institution
                try await store.upsertInstitution(institution)
                let logins = institution.status?.itemLogins?.status
                let updates = institution.status?.transactionsUpdates?.status
                try await store.setInstitutionStatus(institutionID, itemLogins: logins, transactionsUpdates: updates)
                if [logins, updates].contains(where: { $0 != nil && $0 != "HEALTHY" }) {
                    Self.logger(context, tenant: tenant, item: item).notice(
                        "Plaid institution is not healthy",
                        metadata: ["plaid.institution": "\(institutionID)", "item_logins": "\(logins ?? "-")", "transactions_updates": "\(updates ?? "-")"])
                }
            } catch let error as PlaidAPIError {
                Self.logger(context, tenant: tenant, item: item).warning("Plaid institution status unavailable", metadata: ["error": "\(error)"])
            }
        }
        if let error = response.item.error {
            let failure = PlaidAPIError(endpoint: "/item/get", status: 200, body: error)
            if failure.disposition == .needsUser {
                return try await needsUser(tenant: tenant, item: item, code: error.errorCode, context: context)
            }
            try await store.setItemStatus(tenant: tenant, item: item, status: "error", errorCode: error.errorCode, consentExpiresAtMs: consent)
            return PlaidSyncResult(item: item, status: "error")
        }
        let current = try await store.item(tenant: tenant, item: item)?.status ?? "active"
        let status = ["login_required", "error"].contains(current) ? "active" : current
        try await store.setItemStatus(
            tenant: tenant, item: item, status: status, errorCode: nil,
            consentExpiresAtMs: consent)
        return PlaidSyncResult(item: item, status: status)
    }

    static func milliseconds(_ iso: String) -> Int64? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: iso) { return Int64(date.timeIntervalSince1970 * 1000) }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: iso).map { Int64($0.timeIntervalSince1970 * 1000) }
    }

    // MARK: Errors

    /// Runs `body` with the item's access token, turning Plaid's errors into the job's outcome.
    func withItem(
        _ tenant: String, _ item: String, _ context: JobContext, _ body: (PlaidAccessToken) async throws -> PlaidSyncResult
    ) async throws -> PlaidSyncResult {
        let token: PlaidAccessToken
        do {
            token = try await store.accessToken(tenant: tenant, item: item)
        } catch PlaidStoreError.itemRevoked(_) {
            return PlaidSyncResult(item: item, status: "revoked")
        } catch let error as PlaidStoreError {
            throw JobFatalError(error.description)
        } catch let error as TokenCipherError {
            throw JobFatalError(error.description)
        }
        do {
            return try await body(token)
        } catch let error as PlaidAPIError {
            switch error.disposition {
            case .needsUser:
                return try await needsUser(tenant: tenant, item: item, code: error.code ?? "ITEM_ERROR", context: context)
            case .fatal:
                if error.code == "INVALID_ACCESS_TOKEN" || error.code == "ITEM_NOT_FOUND" {
                    try await store.setItemStatus(tenant: tenant, item: item, status: "error", errorCode: error.code)
                }
                throw JobFatalError(error.description)
            case .retryLater(let delay):
                throw JobRetryLater(after: delay, reason: error.description)
            case .retry, .restartSync:
                throw error
            }
        } catch PlaidStoreError.cursorMoved(let item) {
            // Another sync of the item committed first (an operator lifted the concurrency cap): run again.
            throw JobRetryLater(after: .seconds(1), reason: PlaidStoreError.cursorMoved(item).description)
        }
    }

    /// Calls Plaid outside an item's context (link), mapping errors the same way.
    func plaid<T: Sendable>(_ context: JobContext, item: String?, tenant: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as PlaidAPIError {
            switch error.disposition {
            case .retryLater(let delay): throw JobRetryLater(after: delay, reason: error.description)
            case .fatal, .needsUser: throw JobFatalError(error.description)
            case .retry, .restartSync: throw error
            }
        }
    }

    /// Marks the item as needing its user and enqueues one notification for it (per item, kind and day).
    func needsUser(tenant: String, item: String, code: String, context: JobContext) async throws -> PlaidSyncResult {
        let status: String
        let kind: String
        switch code {
        case "PENDING_EXPIRATION": (status, kind) = ("pending_expiration", "item_pending_expiration")
        case "PENDING_DISCONNECT": (status, kind) = ("pending_disconnect", "item_pending_expiration")
        case "USER_PERMISSION_REVOKED":
            try await store.revokeItem(tenant: tenant, item: item)
            (status, kind) = ("revoked", "item_login_required")
        default: (status, kind) = ("login_required", "item_login_required")
        }
        if status != "revoked" {
            try await store.setItemStatus(tenant: tenant, item: item, status: status, errorCode: code)
        }
        try await notify(tenant: tenant, item: item, kind: kind, code: code, correlation: context.correlationID)
        Self.logger(context, tenant: tenant, item: item).notice(
            "Plaid item needs its user; marked, notification enqueued, not retried", metadata: ["plaid.error_code": "\(code)"])
        return PlaidSyncResult(item: item, status: status)
    }

    /// Enqueues `notifications.send` for an item event, collapsed per item, kind and UTC day.
    public func notify(tenant: String, item: String, kind: String, code: String?, correlation: String?) async throws {
        let day = Int(Date().timeIntervalSince1970 / 86_400)
        var data = ["item": item]
        if let code { data["errorCode"] = code }
        try await NotificationSendJob.enqueue(
            on: jobs.jobs, tenant: tenant, kind: kind, id: "plaid:\(item):\(kind):\(day)", data: data, correlation: correlation)
    }
}

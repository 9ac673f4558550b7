import JobKit

extension PlaidJobRunner {
    /// Handles one verified Plaid webhook (`plaid.webhook`), then records it in `plaid_webhooks` with what it did:
    ///
    /// - `TRANSACTIONS` `SYNC_UPDATES_AVAILABLE`, `DEFAULT_UPDATE` → a transactions sync of the item (one pending
    ///   per item); `INITIAL_UPDATE`, `HISTORICAL_UPDATE`, `TRANSACTIONS_REMOVED` → acknowledged (the sync API
    ///   brings those changes);
    /// - `ITEM` `ERROR` (`ITEM_LOGIN_REQUIRED` and the other codes that need the user), `PENDING_EXPIRATION`,
    ///   `PENDING_DISCONNECT`, `USER_PERMISSION_REVOKED` (token deleted, item revoked) → the item updated and a
    ///   notification enqueued; `WEBHOOK_UPDATE_ACKNOWLEDGED` → the item's webhook updated and a notification;
    /// - anything else, or an item no tenant has → recorded as `ignored`.
    func handleWebhook(_ job: PlaidWebhookJob, _ context: JobContext) async throws -> String {
        var outcome = "ignored"
        if let item = job.item, let tenant = try await store.tenant(ofItem: item) {
            var logger = Self.logger(context, tenant: tenant, item: item)
            logger[metadataKey: "plaid.webhook"] = "\(job.type)/\(job.code)"
            switch (job.type, job.code) {
            case ("TRANSACTIONS", "SYNC_UPDATES_AVAILABLE"), ("TRANSACTIONS", "DEFAULT_UPDATE"):
                let handle = try await jobs.scheduleTransactionsSync(tenant: tenant, item: item, correlation: context.correlationID)
                outcome = handle.created ? "sync_enqueued" : "sync_pending"
            case ("TRANSACTIONS", "INITIAL_UPDATE"), ("TRANSACTIONS", "HISTORICAL_UPDATE"), ("TRANSACTIONS", "TRANSACTIONS_REMOVED"):
                outcome = "acknowledged"
            case ("ITEM", "ERROR"):
                let code = job.errorCode ?? "ITEM_ERROR"
                let error = PlaidAPIError(
                    endpoint: "webhook", status: nil,
                    body: PlaidErrorBody(errorType: "ITEM_ERROR", errorCode: code, errorMessage: "", displayMessage: nil, requestID: nil))
                if error.disposition == .needsUser {
                    outcome = try await needsUser(tenant: tenant, item: item, code: code, context: context).status
                } else {
                    try await store.setItemStatus(tenant: tenant, item: item, status: "error", errorCode: code, webhookAt: true)
                    outcome = "error"
                }
            case ("ITEM", "PENDING_EXPIRATION"):
                let consent = job.consentExpirationTime.flatMap(Self.milliseconds)
                try await store.setItemStatus(
                    tenant: tenant, item: item, status: "pending_expiration", errorCode: nil, consentExpiresAtMs: consent, webhookAt: true)
                try await notify(tenant: tenant, item: item, kind: "item_pending_expiration", code: nil, correlation: context.correlationID)
                outcome = "pending_expiration"
            case ("ITEM", "PENDING_DISCONNECT"):
                try await store.setItemStatus(tenant: tenant, item: item, status: "pending_disconnect", errorCode: nil, webhookAt: true)
                try await notify(tenant: tenant, item: item, kind: "item_pending_expiration", code: nil, correlation: context.correlationID)
                outcome = "pending_disconnect"
            case ("ITEM", "USER_PERMISSION_REVOKED"):
                try await store.revokeItem(tenant: tenant, item: item)
                try await notify(tenant: tenant, item: item, kind: "item_login_required", code: "USER_PERMISSION_REVOKED", correlation: context.correlationID)
                outcome = "revoked"
            case ("ITEM", "WEBHOOK_UPDATE_ACKNOWLEDGED"):
                try await store.setWebhook(tenant: tenant, item: item, url: job.newWebhookURL)
                try await notify(tenant: tenant, item: item, kind: "item_webhook_updated", code: nil, correlation: context.correlationID)
                outcome = "webhook_updated"
            default:
                outcome = "unhandled"
            }
            logger.info("Plaid webhook handled", metadata: ["outcome": "\(outcome)"])
        }
        _ = try await store.recordWebhook(
            bodySHA256: job.bodySHA256, issuedAt: job.issuedAt, type: job.type, code: job.code, item: job.item, outcome: outcome, jobID: context.id)
        return outcome
    }
}

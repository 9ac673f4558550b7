import Foundation
import Logging
import NIOCore
import PostgresNIO

/// The Plaid half of the PostgreSQL store: items (tokens sealed by ``TokenCipher``), institutions, accounts and
/// their balance history, transactions, tenants' category rules and the Plaid webhook ledger.
///
/// Every function that reads or writes tenant data takes the tenant and scopes its SQL by it, so one tenant never
/// reads another's rows through this type. The operator-wide reads (``allItems()``, ``tenant(ofItem:)``) serve
/// `jobnode plaid items` without `--tenant`, the health job and webhook routing, and return no account or
/// transaction data.
public struct PlaidStore: Sendable {
    public let database: StoreDatabase
    public let cipher: TokenCipher?
    let logger: Logger
    /// Rows per statement of a batched upsert.
    static let batchRows = 5_000

    public init(database: StoreDatabase, cipher: TokenCipher?, logger: Logger) {
        self.database = database
        self.cipher = cipher
        self.logger = logger
    }

    var client: PostgresClient { database.client }

    func requireCipher() throws -> TokenCipher {
        guard let cipher else {
            throw TokenCipherError("JOBKIT_TOKEN_KEY is not set: Plaid access tokens cannot be sealed or opened without it")
        }
        return cipher
    }

    static func context(item: String) -> String { "plaid_items:\(item)" }

    // MARK: Tenants and items

    /// Creates the tenant row if it is missing.
    public func ensureTenant(_ tenant: String) async throws {
        try await client.query("INSERT INTO tenants (id) VALUES (\(tenant)) ON CONFLICT (id) DO NOTHING", logger: logger)
    }

    /// Stores (or re-links) an item with its access token sealed at rest. An item id already linked to another
    /// tenant is refused.
    public func saveItem(
        tenant: String, item: String, accessToken: PlaidAccessToken, institutionID: String?, institutionName: String?,
        webhook: String?, linkTokenSHA256: String? = nil
    ) async throws {
        let sealed = try requireCipher().seal(accessToken.value, context: Self.context(item: item))
        try await ensureTenant(tenant)
        let rows = try await client.query(
            """
            INSERT INTO plaid_items (item_id, tenant_id, institution_id, institution_name, status, access_token_ciphertext,
                                     access_token_key_id, webhook, link_token_sha256)
            VALUES (\(item), \(tenant), \(institutionID), \(institutionName), 'active', \(ByteBuffer(bytes: sealed.ciphertext)),
                    \(sealed.keyID), \(webhook), \(linkTokenSHA256))
            ON CONFLICT (item_id) DO UPDATE SET
              institution_id = COALESCE(EXCLUDED.institution_id, plaid_items.institution_id),
              institution_name = COALESCE(EXCLUDED.institution_name, plaid_items.institution_name),
              status = 'active', error_code = NULL,
              access_token_ciphertext = EXCLUDED.access_token_ciphertext,
              access_token_key_id = EXCLUDED.access_token_key_id,
              webhook = COALESCE(EXCLUDED.webhook, plaid_items.webhook),
              link_token_sha256 = COALESCE(EXCLUDED.link_token_sha256, plaid_items.link_token_sha256), updated_at = now()
            WHERE plaid_items.tenant_id = EXCLUDED.tenant_id
            RETURNING item_id
            """, logger: logger)
        for try await _ in rows { return }
        throw PlaidStoreError.itemOfAnotherTenant(item)
    }

    /// The item a public token was already exchanged for, by the token's SHA-256 (a retried link job finds its
    /// item instead of exchanging a spent token again).
    public func item(tenant: String, linkTokenSHA256: String) async throws -> String? {
        for try await (item,) in try await client.query(
            "SELECT item_id FROM plaid_items WHERE tenant_id = \(tenant) AND link_token_sha256 = \(linkTokenSHA256)", logger: logger
        ).decode((String,).self) {
            return item
        }
        return nil
    }

    /// Sets the item's institution.
    public func setInstitution(tenant: String, item: String, id: String, name: String?) async throws {
        try await client.query(
            """
            UPDATE plaid_items SET institution_id = \(id), institution_name = COALESCE(\(name), institution_name), updated_at = now()
            WHERE tenant_id = \(tenant) AND item_id = \(item)
            """, logger: logger)
    }

    /// The item's access token, opened (and sealed again under the current key when it was sealed under an older one).
    ///
    /// - Throws: ``PlaidStoreError/itemNotFound(_:)``, ``PlaidStoreError/itemRevoked(_:)``, ``TokenCipherError``.
    public func accessToken(tenant: String, item: String) async throws -> PlaidAccessToken {
        let cipher = try requireCipher()
        let rows = try await client.query(
            """
            SELECT access_token_ciphertext, access_token_key_id, status FROM plaid_items
            WHERE tenant_id = \(tenant) AND item_id = \(item)
            """, logger: logger)
        for try await (ciphertext, keyID, status) in rows.decode((ByteBuffer?, String?, String).self) {
            guard let ciphertext, let keyID else { throw PlaidStoreError.itemRevoked(item) }
            let token = try cipher.open(Array(buffer: ciphertext), keyID: keyID, context: Self.context(item: item))
            if keyID != cipher.keyID {
                let sealed = try cipher.seal(token, context: Self.context(item: item))
                try await client.query(
                    """
                    UPDATE plaid_items SET access_token_ciphertext = \(ByteBuffer(bytes: sealed.ciphertext)),
                      access_token_key_id = \(sealed.keyID)
                    WHERE tenant_id = \(tenant) AND item_id = \(item) AND access_token_key_id = \(keyID)
                    """, logger: logger)
            }
            _ = status
            return PlaidAccessToken(token)
        }
        throw PlaidStoreError.itemNotFound(item)
    }

    static let itemColumns = """
        item_id, tenant_id, institution_id, institution_name, status, error_code,
        (extract(epoch FROM last_synced_at) * 1000)::bigint, (extract(epoch FROM consent_expires_at) * 1000)::bigint
        """

    func items(_ rows: PostgresRowSequence) async throws -> [PlaidItemRow] {
        var out: [PlaidItemRow] = []
        for try await (item, tenant, institutionID, institutionName, status, errorCode, synced, consent) in rows.decode(
            (String, String, String?, String?, String, String?, Int64?, Int64?).self)
        {
            out.append(
                PlaidItemRow(
                    item: item, tenant: tenant, institutionId: institutionID, institutionName: institutionName, status: status,
                    errorCode: errorCode, lastSyncedAtMs: synced, consentExpiresAtMs: consent))
        }
        return out
    }

    /// One item of the tenant.
    public func item(tenant: String, item: String) async throws -> PlaidItemRow? {
        try await items(
            client.query(
                "SELECT \(unescaped: Self.itemColumns) FROM plaid_items WHERE tenant_id = \(tenant) AND item_id = \(item)",
                logger: logger)
        ).first
    }

    /// The tenant's items.
    public func items(tenant: String) async throws -> [PlaidItemRow] {
        try await items(
            client.query(
                "SELECT \(unescaped: Self.itemColumns) FROM plaid_items WHERE tenant_id = \(tenant) ORDER BY created_at, item_id",
                logger: logger))
    }

    /// Every tenant's items (operators; the health job).
    public func allItems() async throws -> [PlaidItemRow] {
        try await items(
            client.query("SELECT \(unescaped: Self.itemColumns) FROM plaid_items ORDER BY tenant_id, created_at, item_id", logger: logger))
    }

    /// The tenant an item belongs to (webhooks name the item only).
    public func tenant(ofItem item: String) async throws -> String? {
        for try await (tenant,) in try await client.query(
            "SELECT tenant_id FROM plaid_items WHERE item_id = \(item)", logger: logger
        ).decode((String,).self) {
            return tenant
        }
        return nil
    }

    /// Sets an item's status (and error code, consent expiry when given). Returns whether the item exists.
    @discardableResult
    public func setItemStatus(
        tenant: String, item: String, status: String, errorCode: String?, consentExpiresAtMs: Int64? = nil,
        webhookAt: Bool = false
    ) async throws -> Bool {
        let rows = try await client.query(
            """
            UPDATE plaid_items SET status = \(status), error_code = \(errorCode),
              consent_expires_at = COALESCE(to_timestamp(\(consentExpiresAtMs.map { Double($0) / 1000 })), consent_expires_at),
              last_webhook_at = CASE WHEN \(webhookAt) THEN now() ELSE last_webhook_at END,
              updated_at = now()
            WHERE tenant_id = \(tenant) AND item_id = \(item) AND status <> 'revoked'
            RETURNING item_id
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }

    /// Sets the item's webhook URL (after Plaid acknowledged a change) and when it last heard from Plaid.
    public func setWebhook(tenant: String, item: String, url: String?) async throws {
        try await client.query(
            """
            UPDATE plaid_items SET webhook = COALESCE(\(url), webhook), last_webhook_at = now(), updated_at = now()
            WHERE tenant_id = \(tenant) AND item_id = \(item)
            """, logger: logger)
    }

    /// Forgets an item's access token and marks it `revoked` (`USER_PERMISSION_REVOKED`, or the user unlinking).
    public func revokeItem(tenant: String, item: String) async throws {
        try await client.query(
            """
            UPDATE plaid_items SET status = 'revoked', access_token_ciphertext = NULL, access_token_key_id = NULL,
              cursor = NULL, updated_at = now()
            WHERE tenant_id = \(tenant) AND item_id = \(item)
            """, logger: logger)
    }

    /// The item's saved sync cursor (nil before the first sync).
    public func cursor(tenant: String, item: String) async throws -> String? {
        for try await (cursor,) in try await client.query(
            "SELECT cursor FROM plaid_items WHERE tenant_id = \(tenant) AND item_id = \(item)", logger: logger
        ).decode((String?,).self) {
            return cursor
        }
        throw PlaidStoreError.itemNotFound(item)
    }

    /// Records an institution's health (`HEALTHY`, `DEGRADED`, `DOWN`, or nil when Plaid gave none).
    public func setInstitutionStatus(_ id: String, itemLogins: String?, transactionsUpdates: String?) async throws {
        try await client.query(
            """
            UPDATE institutions SET status_item_logins = \(itemLogins), status_transactions_updates = \(transactionsUpdates),
              status_checked_at = now()
            WHERE id = \(id)
            """, logger: logger)
    }

    /// An institution's recorded health: logins and transactions updates.
    public func institutionStatus(_ id: String) async throws -> (itemLogins: String?, transactionsUpdates: String?, checked: Bool)? {
        for try await (logins, updates, checked) in try await client.query(
            "SELECT status_item_logins, status_transactions_updates, status_checked_at IS NOT NULL FROM institutions WHERE id = \(id)",
            logger: logger
        ).decode((String?, String?, Bool).self) {
            return (logins, updates, checked)
        }
        return nil
    }

    /// Stores an institution (global reference data, not tenant data).
    public func upsertInstitution(_ institution: PlaidInstitution) async throws {
        try await client.query(
            """
            INSERT INTO institutions (id, name, country_codes, products, url) VALUES
              (\(institution.institutionID), \(institution.name), \(institution.countryCodes), \(institution.products), \(institution.url))
            ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, country_codes = EXCLUDED.country_codes,
              products = EXCLUDED.products, url = EXCLUDED.url, updated_at = now()
            """, logger: logger)
    }

    // MARK: Accounts and balances

    /// Upserts the item's accounts with their balances, and adds a history row for each account whose balances
    /// changed (or are seen for the first time), in one transaction. Returns the number of history rows added.
    /// A depository account whose balance just went under the tenant's low-balance threshold.
    public struct LowBalance: Sendable, Equatable {
        /// The balance-history row that went under: the notification's identity (one per crossing).
        public var observation: Int64
        public var account: String
        public var name: String
        public var balance: String
        public var threshold: String
        public var currency: String?
    }

    /// Accounts among `accounts` whose latest balance (available, else current) is under the tenant's
    /// `low_balance_threshold` while the one before was not (or there was none): a crossing, not a state, so a
    /// balance that stays low is reported once. None when the tenant has no threshold.
    public func lowBalanceCrossings(tenant: String, accounts: [String]) async throws -> [LowBalance] {
        var out: [LowBalance] = []
        for try await (observation, account, name, balance, threshold, currency) in try await client.query(
            """
            WITH t AS (SELECT low_balance_threshold AS th FROM tenants WHERE id = \(tenant) AND low_balance_threshold IS NOT NULL),
                 h AS (SELECT id, account_id, COALESCE(available, current) AS bal,
                              row_number() OVER (PARTITION BY account_id ORDER BY observed_at DESC, id DESC) AS rn
                       FROM account_balances WHERE tenant_id = \(tenant) AND account_id = ANY(\(accounts)))
            SELECT n.id, a.account_id, a.name, n.bal::text, t.th::text, a.currency
            FROM t, accounts a JOIN h n ON n.account_id = a.account_id AND n.rn = 1
            LEFT JOIN h p ON p.account_id = a.account_id AND p.rn = 2
            WHERE a.tenant_id = \(tenant) AND a.type = 'depository' AND n.bal < t.th AND (p.bal IS NULL OR p.bal >= t.th)
            ORDER BY a.account_id
            """, logger: logger
        ).decode((Int64, String, String, String, String, String?).self) {
            out.append(LowBalance(observation: observation, account: account, name: name, balance: balance, threshold: threshold, currency: currency))
        }
        return out
    }

    /// Sets (or, with nil, removes) the tenant's low-balance threshold.
    public func setLowBalanceThreshold(tenant: String, amount: Decimal?) async throws {
        try await client.query("INSERT INTO tenants (id) VALUES (\(tenant)) ON CONFLICT (id) DO NOTHING", logger: logger)
        try await client.query(
            "UPDATE tenants SET low_balance_threshold = \(amount.map(Self.text))::numeric WHERE id = \(tenant)", logger: logger)
    }

    @discardableResult
    public func upsertAccounts(tenant: String, item: String, accounts: [PlaidAccount]) async throws -> Int {
        try await database.transaction(logger: logger) { connection in
            var previous: [String: (String?, String?, String?)] = [:]
            let ids = accounts.map(\.accountID)
            for try await (id, current, available, limit) in try await connection.query(
                """
                SELECT account_id, current::text, available::text, credit_limit::text FROM accounts
                WHERE tenant_id = \(tenant) AND account_id = ANY(\(ids)) FOR UPDATE
                """, logger: logger
            ).decode((String, String?, String?, String?).self) {
                previous[id] = (current, available, limit)
            }
            var changed = 0
            for account in accounts {
                let b = account.balances
                try await connection.query(
                    """
                    INSERT INTO accounts (tenant_id, account_id, item_id, name, official_name, mask, type, subtype,
                                          current, available, credit_limit, currency)
                    VALUES (\(tenant), \(account.accountID), \(item), \(account.name), \(account.officialName), \(account.mask),
                            \(account.type.rawValue), \(account.subtype), \(b.current.map(Self.text))::numeric,
                            \(b.available.map(Self.text))::numeric, \(b.limit.map(Self.text))::numeric, \(b.currency))
                    ON CONFLICT (tenant_id, account_id) DO UPDATE SET item_id = EXCLUDED.item_id, name = EXCLUDED.name,
                      official_name = EXCLUDED.official_name, mask = EXCLUDED.mask, type = EXCLUDED.type,
                      subtype = EXCLUDED.subtype, current = EXCLUDED.current, available = EXCLUDED.available,
                      credit_limit = EXCLUDED.credit_limit, currency = EXCLUDED.currency, updated_at = now()
                    WHERE accounts.item_id = EXCLUDED.item_id
                    """, logger: logger)
                let before = previous[account.accountID]
                let same =
                    before.map {
                        Self.equal($0.0, b.current) && Self.equal($0.1, b.available) && Self.equal($0.2, b.limit)
                    } ?? false
                if !same {
                    changed += 1
                    try await connection.query(
                        """
                        INSERT INTO account_balances (tenant_id, account_id, current, available, credit_limit, currency)
                        VALUES (\(tenant), \(account.accountID), \(b.current.map(Self.text))::numeric,
                                \(b.available.map(Self.text))::numeric, \(b.limit.map(Self.text))::numeric, \(b.currency))
                        """, logger: logger)
                }
            }
            return changed
        }
    }

    static func text(_ d: Decimal) -> String { "\(d)" }

    static func equal(_ stored: String?, _ new: Decimal?) -> Bool {
        switch (stored, new) {
        case (nil, nil): return true
        case (let s?, let n?): return Decimal(string: s, locale: Locale(identifier: "en_US_POSIX")) == n
        default: return false
        }
    }

    /// The tenant's accounts.
    public func accounts(tenant: String) async throws -> [AccountRow] {
        var out: [AccountRow] = []
        for try await (account, item, name, mask, type, subtype, current, available, limit, currency, updated) in try await client.query(
            """
            SELECT account_id, item_id, name, mask, type, subtype, current::text, available::text, credit_limit::text, currency,
                   (extract(epoch FROM updated_at) * 1000)::bigint
            FROM accounts WHERE tenant_id = \(tenant) ORDER BY item_id, name, account_id
            """, logger: logger
        ).decode((String, String, String, String?, String, String?, String?, String?, String?, String?, Int64).self) {
            out.append(
                AccountRow(
                    account: account, item: item, name: name, mask: mask, type: type, subtype: subtype, current: current,
                    available: available, limit: limit, currency: currency, updatedAtMs: updated))
        }
        return out
    }

    /// The tenant's balance history for one account, oldest first.
    public func balanceHistory(tenant: String, account: String) async throws -> [BalanceHistoryRow] {
        var out: [BalanceHistoryRow] = []
        for try await (current, available, limit, at) in try await client.query(
            """
            SELECT current::text, available::text, credit_limit::text, (extract(epoch FROM observed_at) * 1000)::bigint
            FROM account_balances WHERE tenant_id = \(tenant) AND account_id = \(account) ORDER BY id
            """, logger: logger
        ).decode((String?, String?, String?, Int64).self) {
            out.append(BalanceHistoryRow(account: account, current: current, available: available, limit: limit, observedAtMs: at))
        }
        return out
    }

    // MARK: Transactions

    /// What one sync applies.
    public struct SyncBatch: Sendable {
        /// Added and modified transactions, the last version of each id.
        public var upserts: [PlaidTransaction]
        public var removed: [String]
        public var cursor: String
        public init(upserts: [PlaidTransaction], removed: [String], cursor: String) {
            self.upserts = upserts
            self.removed = removed
            self.cursor = cursor
        }
    }

    /// Applies a whole sync in one transaction: upserts (batched, categorized with the tenant's rules), removals,
    /// the new cursor. The cursor is only saved if it is still the one the sync started from (`expectedCursor`):
    /// a concurrent sync of the same item that committed first makes this one roll back
    /// (``PlaidStoreError/cursorMoved(_:)``), so no page is applied twice over a newer state.
    public func applySync(tenant: String, item: String, expectedCursor: String?, batch: SyncBatch) async throws {
        try await database.transaction(logger: logger) { connection in
            // Shared with other syncs, exclusive against a re-categorization: the rules read here stay the tenant's
            // rules until this commits (see recategorize(tenant:after:batch:)).
            try await connection.query("SELECT pg_advisory_xact_lock_shared(\(Self.categorizeLock(tenant)))", logger: logger)
            let categorizer = Categorizer(tenantRules: try await rules(tenant: tenant, on: connection))
            let locked = try await connection.query(
                "SELECT cursor FROM plaid_items WHERE tenant_id = \(tenant) AND item_id = \(item) FOR UPDATE", logger: logger)
            var found = false
            for try await (cursor,) in locked.decode((String?,).self) {
                found = true
                guard cursor == expectedCursor else { throw PlaidStoreError.cursorMoved(item) }
            }
            guard found else { throw PlaidStoreError.itemNotFound(item) }
            var start = 0
            while start < batch.upserts.count {
                let end = min(start + Self.batchRows, batch.upserts.count)
                try await upsert(batch.upserts[start..<end], tenant: tenant, item: item, categorizer: categorizer, on: connection)
                start = end
            }
            if !batch.removed.isEmpty {
                try await connection.query(
                    """
                    UPDATE transactions SET removed = true, removed_at = now(), updated_at = now()
                    WHERE tenant_id = \(tenant) AND transaction_id = ANY(\(batch.removed)) AND NOT removed
                    """, logger: logger)
            }
            try await connection.query(
                """
                UPDATE plaid_items SET cursor = \(batch.cursor), last_synced_at = now(), updated_at = now(),
                  status = CASE WHEN status IN ('login_required', 'error') THEN 'active' ELSE status END,
                  error_code = CASE WHEN status IN ('login_required', 'error') THEN NULL ELSE error_code END
                WHERE tenant_id = \(tenant) AND item_id = \(item)
                """, logger: logger)
        }
    }

    /// One multi-row upsert: columns as arrays, expanded by `unnest` (one statement, one round trip).
    func upsert(
        _ rows: ArraySlice<PlaidTransaction>, tenant: String, item: String, categorizer: Categorizer, on connection: PostgresConnection
    ) async throws {
        let n = rows.count
        var ids = [String](), accounts = [String](), amounts = [String](), currencies = [String](), dates = [String]()
        var datetimes = [String](), authorized = [String](), names = [String](), merchants = [String](), pending = [Bool]()
        var pendingIDs = [String](), primaries = [String](), detaileds = [String](), confidences = [String]()
        var categories = [String](), sources = [String]()
        ids.reserveCapacity(n); accounts.reserveCapacity(n); amounts.reserveCapacity(n); names.reserveCapacity(n)
        for t in rows {
            let (category, source) = categorizer.categorize(t)
            ids.append(t.transactionID)
            accounts.append(t.accountID)
            amounts.append(Self.text(t.amount))
            currencies.append(t.currency ?? "")
            dates.append(t.date.text)
            datetimes.append(t.datetime ?? "")
            authorized.append(t.authorizedDate?.text ?? "")
            names.append(t.name)
            merchants.append(t.merchantName ?? "")
            pending.append(t.pending)
            pendingIDs.append(t.pendingTransactionID ?? "")
            primaries.append(t.personalFinanceCategory?.primary ?? "")
            detaileds.append(t.personalFinanceCategory?.detailed ?? "")
            confidences.append(t.personalFinanceCategory?.confidenceLevel ?? "")
            categories.append(category)
            sources.append(source.rawValue)
        }
        try await connection.query(
            """
            INSERT INTO transactions (tenant_id, transaction_id, account_id, item_id, amount, currency, date, datetime,
              authorized_date, name, merchant, pending, pending_transaction_id, plaid_category_primary,
              plaid_category_detailed, plaid_category_confidence, category, category_source)
            SELECT \(tenant), t.id, t.account, \(item), t.amount::numeric, NULLIF(t.currency, ''), t.date::date,
              NULLIF(t.datetime, '')::timestamptz, NULLIF(t.authorized, '')::date, t.name, NULLIF(t.merchant, ''), t.pending,
              NULLIF(t.pending_id, ''), NULLIF(t.pfc_primary, ''), NULLIF(t.pfc_detailed, ''), NULLIF(t.pfc_confidence, ''),
              t.category, t.source
            FROM unnest(\(ids)::text[], \(accounts)::text[], \(amounts)::text[], \(currencies)::text[], \(dates)::text[],
                        \(datetimes)::text[], \(authorized)::text[], \(names)::text[], \(merchants)::text[], \(pending)::bool[],
                        \(pendingIDs)::text[], \(primaries)::text[], \(detaileds)::text[], \(confidences)::text[],
                        \(categories)::text[], \(sources)::text[])
              AS t(id, account, amount, currency, date, datetime, authorized, name, merchant, pending, pending_id,
                   pfc_primary, pfc_detailed, pfc_confidence, category, source)
            ON CONFLICT (tenant_id, transaction_id) DO UPDATE SET
              account_id = EXCLUDED.account_id, item_id = EXCLUDED.item_id, amount = EXCLUDED.amount,
              currency = EXCLUDED.currency, date = EXCLUDED.date, datetime = EXCLUDED.datetime,
              authorized_date = EXCLUDED.authorized_date, name = EXCLUDED.name, merchant = EXCLUDED.merchant,
              pending = EXCLUDED.pending, pending_transaction_id = EXCLUDED.pending_transaction_id,
              plaid_category_primary = EXCLUDED.plaid_category_primary,
              plaid_category_detailed = EXCLUDED.plaid_category_detailed,
              plaid_category_confidence = EXCLUDED.plaid_category_confidence,
              category = EXCLUDED.category, category_source = EXCLUDED.category_source,
              removed = false, removed_at = NULL, updated_at = now()
            """, logger: logger)
    }

    /// The tenant's live (not removed) transactions, newest first.
    public func transactions(tenant: String, account: String? = nil, since: String? = nil, limit: Int = 100) async throws -> [TransactionRow] {
        var out: [TransactionRow] = []
        for try await (id, account, date, amount, currency, name, merchant, pending, category, source) in try await client.query(
            """
            SELECT transaction_id, account_id, date::text, amount::text, currency, name, merchant, pending, category, category_source
            FROM transactions
            WHERE tenant_id = \(tenant) AND NOT removed
              AND (\(account)::text IS NULL OR account_id = \(account))
              AND (\(since)::date IS NULL OR date >= \(since)::date)
            ORDER BY date DESC, transaction_id LIMIT \(limit)
            """, logger: logger
        ).decode((String, String, String, String, String?, String, String?, Bool, String, String).self) {
            out.append(
                TransactionRow(
                    transaction: id, account: account, date: date, amount: amount, currency: currency, name: name,
                    merchant: merchant, pending: pending, category: category, categorySource: source))
        }
        return out
    }

    /// Counts of the tenant's transactions: live and removed.
    public func transactionCounts(tenant: String, item: String? = nil) async throws -> (live: Int, removed: Int) {
        for try await (live, removed) in try await client.query(
            """
            SELECT count(*) FILTER (WHERE NOT removed), count(*) FILTER (WHERE removed) FROM transactions
            WHERE tenant_id = \(tenant) AND (\(item)::text IS NULL OR item_id = \(item))
            """, logger: logger
        ).decode((Int, Int).self) {
            return (live, removed)
        }
        return (0, 0)
    }

    // MARK: Category rules

    /// The advisory lock key of a tenant's categorization (syncs take it shared, a re-categorization exclusive).
    static func categorizeLock(_ tenant: String) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a, stable across processes (Swift's Hasher is seeded)
        for byte in "jobkit.categorize:\(tenant)".utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return Int64(bitPattern: hash)
    }

    /// The tenant's rules, oldest first (the order they apply).
    public func rules(tenant: String) async throws -> [CategoryRule] {
        try await client.withConnection { try await rules(tenant: tenant, on: $0) }
    }

    func rules(tenant: String, on connection: PostgresConnection) async throws -> [CategoryRule] {
        var out: [CategoryRule] = []
        for try await (field, pattern, category) in try await connection.query(
            "SELECT field, pattern, category FROM category_rules WHERE tenant_id = \(tenant) ORDER BY id", logger: logger
        ).decode((String, String, String).self) {
            guard let field = CategoryRule.Field(rawValue: field) else { continue }
            out.append(CategoryRule(field: field, pattern: pattern, category: category))
        }
        return out
    }

    /// Adds (or replaces the category of) a tenant rule.
    public func addRule(tenant: String, _ rule: CategoryRule) async throws {
        try await ensureTenant(tenant)
        try await client.query(
            """
            INSERT INTO category_rules (tenant_id, field, pattern, category)
            VALUES (\(tenant), \(rule.field.rawValue), \(rule.pattern), \(rule.category))
            ON CONFLICT (tenant_id, field, pattern) DO UPDATE SET category = EXCLUDED.category
            """, logger: logger)
    }

    /// Categorizes again up to `batch` of the tenant's transactions after `after` (transaction id order), in one
    /// transaction. Returns how many changed and the cursor for the next batch (nil when done).
    public func recategorize(tenant: String, after: String?, batch: Int) async throws -> (changed: Int, next: String?) {
        try await database.transaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.categorizeLock(tenant)))", logger: logger)
            let categorizer = Categorizer(tenantRules: try await rules(tenant: tenant, on: connection))
            var ids: [String] = [], categories: [String] = [], sources: [String] = []
            var last: String?
            var seen = 0
            for try await (id, name, merchant, primary, detailed, confidence, category, source) in try await connection.query(
                """
                SELECT transaction_id, name, merchant, plaid_category_primary, plaid_category_detailed,
                       plaid_category_confidence, category, category_source
                FROM transactions WHERE tenant_id = \(tenant) AND transaction_id > \(after ?? "")
                ORDER BY transaction_id LIMIT \(batch) FOR UPDATE
                """, logger: logger
            ).decode((String, String, String?, String?, String?, String?, String, String).self) {
                seen += 1
                last = id
                let (c, s) = categorizer.categorize(
                    name: name, merchant: merchant, plaidPrimary: primary, plaidDetailed: detailed, confidence: confidence)
                if c != category || s.rawValue != source {
                    ids.append(id)
                    categories.append(c)
                    sources.append(s.rawValue)
                }
            }
            if !ids.isEmpty {
                try await connection.query(
                    """
                    UPDATE transactions AS t SET category = u.category, category_source = u.source, updated_at = now()
                    FROM unnest(\(ids)::text[], \(categories)::text[], \(sources)::text[]) AS u(id, category, source)
                    WHERE t.tenant_id = \(tenant) AND t.transaction_id = u.id
                    """, logger: logger)
            }
            return (ids.count, seen < batch ? nil : last)
        }
    }

    // MARK: Webhooks

    /// Records a Plaid webhook delivery by the SHA-256 of its body and its signed `iat`; false when it was recorded
    /// before (a duplicate delivery).
    public func recordWebhook(
        bodySHA256: String, issuedAt: Int, type: String?, code: String?, item: String?, outcome: String, jobID: String?
    ) async throws -> Bool {
        let rows = try await client.query(
            """
            INSERT INTO plaid_webhooks (body_sha256, issued_at, webhook_type, webhook_code, item_id, outcome, job_id)
            VALUES (\(bodySHA256), \(issuedAt), \(type), \(code), \(item), \(outcome), \(jobID))
            ON CONFLICT (body_sha256, issued_at) DO NOTHING RETURNING body_sha256
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }
}

/// A store call that cannot be done as asked.
public enum PlaidStoreError: Error, CustomStringConvertible, Equatable {
    case itemNotFound(String)
    case itemRevoked(String)
    case itemOfAnotherTenant(String)
    case cursorMoved(String)

    public var description: String {
        switch self {
        case .itemNotFound(let item): "Plaid item \(item) is not linked for this tenant"
        case .itemRevoked(let item): "Plaid item \(item) is revoked: its access token was deleted"
        case .itemOfAnotherTenant(let item): "Plaid item \(item) is linked to another tenant"
        case .cursorMoved(let item): "Plaid item \(item): another sync saved a newer cursor first; this one rolled back"
        }
    }
}

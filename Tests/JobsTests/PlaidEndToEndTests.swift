import AsyncHTTPClient
import Foundation
import JobKit
import JobKitHTTP
import JobKitTestSupport
import NIOCore
import NIOFoundationCompat
import Testing
@testable import Jobs

/// Plaid end to end: real `jobnode` processes, a real PostgreSQL, the fake Plaid validating every request.
@Suite("Plaid end to end", .serialized)
struct PlaidEndToEndTests {
    static let fixtureItem = "eVBnVMp7zdTJLkRNr33Rs6zr7KNJqBFL9DrE6"

    /// POSTs a webhook body with a `Plaid-Verification` header to a node; status and JSON answer.
    static func deliver(_ body: [UInt8], header: String?, port: Int) async throws -> (Int, [String: Any]) {
        try await LoopbackFake.deliver("/webhooks/plaid", body, header: header.map { ("Plaid-Verification", $0) }, port: port)
    }

    static func signed(_ file: String) throws -> (body: [UInt8], header: String) {
        let body = Array(try PlaidFixtures.example(file))
        let key = try PlaidFixtures.signingKey()
        return (body, try PlaidFixtures.sign(body, key: key.key, kid: key.kid, iat: Int(Date().timeIntervalSince1970)))
    }

    @Test("link → accounts → transactions with the fixture's counts; a signed SYNC_UPDATES_AVAILABLE brings the changes; a replay enqueues nothing; bad signatures get 400")
    func linkSyncAndWebhook() async throws {
        try await PlaidWorld.with { w in
            let (_, port) = try w.startNode("a", http: true)
            let item = try await w.link(tenant: "t1")
            #expect(item == Self.fixtureItem)
            try await w.eventually("the first accounts and transactions sync") {
                let live = try await w.store.transactionCounts(tenant: "t1").live
                let accounts = try await w.store.accounts(tenant: "t1").count
                return live == 3 && accounts == 3
            }
            let items = try await w.store.items(tenant: "t1")
            #expect(items.count == 1)
            #expect(items.first?.institutionName == "First Platypus Bank" && items.first?.status == "active")
            #expect(items.first?.lastSyncedAtMs != nil)
            let accounts = try await w.store.accounts(tenant: "t1")
            #expect(Set(accounts.compactMap(\.current)) == ["110", "210", "410"])
            #expect(accounts.first { $0.type == "credit" }?.limit == "2000")
            let transactions = try await w.store.transactions(tenant: "t1")
            let walmart = try #require(transactions.first { $0.transaction == "lPNjeW1nR6CDn5okmGQ6hEpMo4lLNoSrzqDje" })
            #expect(walmart.amount == "72.1" && walmart.category == "shopping" && walmart.categorySource == "plaid")
            #expect(transactions.first { $0.name == "ACME CORP PAYROLL" }?.amount == "-1250")
            #expect(transactions.first { $0.name == "DD DOORDASH BURGERKIN" }?.pending == true)

            // Plaid has new data; it says so with a signed webhook.
            try await w.plaid.control(.POST, "/_fake/items/\(item)/advance", [:])
            let delivery = try Self.signed("webhook.transactions.sync_updates_available.json")
            let (status, answer) = try await Self.deliver(delivery.body, header: delivery.header, port: port!)
            #expect(status == 200, "\(answer)")
            #expect(answer["duplicate"] as? Bool == false)
            try await w.eventually("the incremental sync") {
                try await w.store.transactionCounts(tenant: "t1") == (3, 1)
            }
            let after = try await w.store.transactions(tenant: "t1")
            #expect(after.first { $0.name == "ACME CORP PAYROLL" }?.amount == "-1275")
            #expect(after.contains { $0.transaction == "kXn7Q9wZp2TgL5vM8rB4yHs1dJc6FaE3oNu0i" && !$0.pending })
            #expect(!after.contains { $0.transaction == "yhnUVvtcGGcCKU0bcz8PDQr5ZUxUXebUvbKC0" })

            // The same delivery again: 200, nothing enqueued twice.
            let (again, replay) = try await Self.deliver(delivery.body, header: delivery.header, port: port!)
            #expect(again == 200 && replay["duplicate"] as? Bool == true && replay["job"] as? String == answer["job"] as? String)
            // The same body signed a second later is Plaid's next SYNC_UPDATES_AVAILABLE for the item: a new webhook.
            let key0 = try PlaidFixtures.signingKey()
            let later = try PlaidFixtures.sign(delivery.body, key: key0.key, kid: key0.kid, iat: Int(Date().timeIntervalSince1970) + 1)
            let (next, nextAnswer) = try await Self.deliver(delivery.body, header: later, port: port!)
            #expect(next == 200 && nextAnswer["duplicate"] as? Bool == false && nextAnswer["job"] as? String != answer["job"] as? String)
            // Tampered, stale, unsigned, malformed: 400, nothing enqueued.
            var tampered = delivery.body
            tampered[tampered.count - 3] = UInt8(ascii: " ")
            let key = try PlaidFixtures.signingKey()
            let stale = try PlaidFixtures.sign(delivery.body, key: key.key, kid: key.kid, iat: Int(Date().timeIntervalSince1970) - 301)
            let notJSON = Array("not json".utf8)
            let rejected = [
                try await Self.deliver(tampered, header: delivery.header, port: port!),
                try await Self.deliver(delivery.body, header: stale, port: port!),
                try await Self.deliver(delivery.body, header: nil, port: port!),
                try await Self.deliver(notJSON, header: try PlaidFixtures.sign(notJSON, key: key.key, kid: key.kid, iat: Int(Date().timeIntervalSince1970)), port: port!),
            ]
            #expect(rejected.map(\.0) == [400, 400, 400, 400], "\(rejected.map(\.1))")
            #expect(rejected.map { $0.1["error"] as? [String: Any] }.map { $0?["code"] as? String }
                == ["invalid_signature", "stale_signature", "malformed_webhook", "malformed_webhook"])
            try await w.eventually("both webhook jobs") {
                try await w.jobs(.completed).filter { $0.name == PlaidWebhookJob.jobName }.count == 2
            }
            // The node's tally writes its counts within 100 ms.
            try await w.eventually("the webhook counts flushed") {
                try await WebhookLedger(redis: w.redis, namespace: w.namespace).summary(provider: .plaid).received == 7
            }
            let summary = try await WebhookLedger(redis: w.redis, namespace: w.namespace).summary(provider: .plaid)
            #expect(summary.accepted == 2 && summary.rejected.duplicate == 1 && summary.rejected.signature == 1)
            #expect(summary.rejected.age == 1 && summary.rejected.malformed == 2)
            // No job failed, and every request the nodes sent was valid against Plaid's OpenAPI subset.
            let dead = try await w.jobs(.dead)
            #expect(dead.isEmpty, "\(dead.map(\.lastError))")
            let violations = try await w.plaid.violations()
            #expect(violations.isEmpty, "\(violations)")
            // The access token is nowhere in the logs, and sealed in the row.
            #expect(!w.logs.contains("access-sandbox"))
        }
    }

    @Test("TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION: the sync restarts from the saved cursor and commits once; while it keeps failing, nothing of the staged pages is written")
    func mutationDuringPagination() async throws {
        try await PlaidWorld.with { w in
            try w.startNode("a")
            let item = try await w.link(tenant: "t1")
            try await w.eventually("the first sync") { try await w.store.transactionCounts(tenant: "t1").live == 3 }
            let cursor = try await w.store.cursor(tenant: "t1", item: item)
            try await w.plaid.control(.POST, "/_fake/items/\(item)/advance", ["added": 1_200])
            // Page 2 of the next sync fails once: the fake also adds a transaction (data really changed).
            try await w.plaid.control(.POST, "/_fake/inject", [
                "endpoint": "/transactions/sync", "item_id": item, "error": "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION",
                "after_calls": 1, "times": 1,
            ])
            let handle = try await PlaidJobs(queue: w.queue).scheduleTransactionsSync(tenant: "t1", item: item)
            let result = try await handle.result(as: PlaidSyncResult.self, timeout: .seconds(60))
            #expect(result.restarts == 1 && result.status == "synced")
            #expect(try await w.store.transactionCounts(tenant: "t1").live == 3 + 1_200 + 1)
            #expect(try await w.store.cursor(tenant: "t1", item: item) != cursor)

            // Now every second page fails: the job gives up after its restarts and waits (no attempt spent),
            // and not one row of the pages it fetched was written.
            try await w.plaid.control(.POST, "/_fake/items/\(item)/advance", ["added": 1_000])
            try await w.plaid.control(.POST, "/_fake/inject", [
                "endpoint": "/transactions/sync", "item_id": item, "error": "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION",
                "after_calls": 1, "times": 1_000,
            ])
            let saved = try await w.store.cursor(tenant: "t1", item: item)
            let stuck = try await PlaidJobs(queue: w.queue).scheduleTransactionsSync(tenant: "t1", item: item)
            try await w.eventually("the sync to give up for now") {
                let record = try await w.queue.job(stuck.id, queue: PlaidJobs.queue)
                return record?.state == .scheduled && (record?.lastError ?? "").contains("MUTATION_DURING_PAGINATION")
            }
            let record = try #require(try await w.queue.job(stuck.id, queue: PlaidJobs.queue))
            #expect(record.attempts <= 1, "JobRetryLater spends no attempt")
            #expect(try await w.store.transactionCounts(tenant: "t1").live == 3 + 1_200 + 1)
            #expect(try await w.store.cursor(tenant: "t1", item: item) == saved)
            #expect(try await w.plaid.violations().isEmpty)
        }
    }

    @Test("ITEM_LOGIN_REQUIRED: the item is marked, one notification job, no retry storm; item webhooks update the item")
    func loginRequired() async throws {
        try await PlaidWorld.with { w in
            let (_, port) = try w.startNode("a", http: true)
            let item = try await w.link(tenant: "t1")
            try await w.eventually("the first sync") { try await w.store.transactionCounts(tenant: "t1").live == 3 }
            try await w.plaid.control(.POST, "/_fake/items/\(item)/login_required", ["on": true])
            let jobs = PlaidJobs(queue: w.queue)
            for _ in 0..<3 {
                let handle = try await jobs.scheduleTransactionsSync(tenant: "t1", item: item)
                let result = try await handle.result(as: PlaidSyncResult.self, timeout: .seconds(60))
                #expect(result.status == "login_required")
                #expect(try await w.queue.job(handle.id, queue: PlaidJobs.queue)?.attempts == 1)
            }
            let row = try await w.store.item(tenant: "t1", item: item)
            #expect(row?.status == "login_required" && row?.errorCode == "ITEM_LOGIN_REQUIRED")
            let notifications = try await w.jobs(.ready, queue: PlaidJobs.notificationsQueue)
            // Collapsed per item, kind and UTC day (two if the test ran across midnight UTC).
            #expect((1...2).contains(notifications.count), "collapsed per item, kind and day")
            #expect(notifications.first?.name == "notifications.send" && notifications.first?.tenant == "t1")
            #expect(notifications.first?.payload.contains("item_login_required") == true)
            #expect(try await w.plaid.calls(endpoint: "/transactions/sync").filter { ($0["status"] as? Int) == 400 }.count == 3)

            // The user fixed it: a sync works again and clears the status.
            try await w.plaid.control(.POST, "/_fake/items/\(item)/login_required", ["on": false])
            _ = try await jobs.scheduleTransactionsSync(tenant: "t1", item: item).result(timeout: .seconds(60))
            #expect(try await w.store.item(tenant: "t1", item: item)?.status == "active")

            // Item webhooks: PENDING_EXPIRATION sets the consent expiry; USER_PERMISSION_REVOKED deletes the token.
            let expiring = try Self.signed("webhook.item.pending_expiration.json")
            #expect(try await Self.deliver(expiring.body, header: expiring.header, port: port!).0 == 200)
            try await w.eventually("pending expiration") { try await w.store.item(tenant: "t1", item: item)?.status == "pending_expiration" }
            #expect(try await w.store.item(tenant: "t1", item: item)?.consentExpiresAtMs == 1_790_812_800_000)
            let revoked = try Self.signed("webhook.item.user_permission_revoked.json")
            #expect(try await Self.deliver(revoked.body, header: revoked.header, port: port!).0 == 200)
            try await w.eventually("revoked") { try await w.store.item(tenant: "t1", item: item)?.status == "revoked" }
            await #expect(throws: PlaidStoreError.itemRevoked(item)) { try await w.store.accessToken(tenant: "t1", item: item) }
            let unknown = Array(#"{"webhook_type": "HOLDINGS", "webhook_code": "DEFAULT_UPDATE", "item_id": "nope"}"#.utf8)
            let key = try PlaidFixtures.signingKey()
            let header = try PlaidFixtures.sign(unknown, key: key.key, kid: key.kid, iat: Int(Date().timeIntervalSince1970))
            #expect(try await Self.deliver(unknown, header: header, port: port!).0 == 200)
            #expect(try await w.jobs(.dead).isEmpty)
            #expect(try await w.plaid.violations().isEmpty)
        }
    }

    @Test("tenant isolation: no public store function gives one tenant another's item, accounts or transactions")
    func tenantIsolation() async throws {
        try await PlaidWorld.with { w in
            try w.startNode("a")
            let a = try await w.link(tenant: "alice")
            let b = try await w.link(tenant: "bob")
            #expect(a != b)
            try await w.eventually("both synced") {
                let alice = try await w.store.transactionCounts(tenant: "alice").live
                let bob = try await w.store.transactionCounts(tenant: "bob").live
                let accounts = try await w.store.accounts(tenant: "bob").count
                return alice == 3 && bob == 3 && accounts == 3
            }
            let aliceAccounts = Set(try await w.store.accounts(tenant: "alice").map(\.account))
            let bobAccounts = Set(try await w.store.accounts(tenant: "bob").map(\.account))
            #expect(aliceAccounts.isDisjoint(with: bobAccounts))
            #expect(try await w.store.accounts(tenant: "alice").allSatisfy { $0.item == a })
            let bobTransactions = Set(try await w.store.transactions(tenant: "bob").map(\.transaction))
            #expect(Set(try await w.store.transactions(tenant: "alice").map(\.transaction)).isDisjoint(with: bobTransactions))
            for account in bobAccounts {
                #expect(try await w.store.transactions(tenant: "alice", account: account).isEmpty)
                #expect(try await w.store.balanceHistory(tenant: "alice", account: account).isEmpty)
            }
            #expect(try await w.store.item(tenant: "alice", item: b) == nil)
            #expect(try await w.store.items(tenant: "alice").map(\.item) == [a])
            await #expect(throws: PlaidStoreError.itemNotFound(b)) { try await w.store.accessToken(tenant: "alice", item: b) }
            await #expect(throws: PlaidStoreError.itemNotFound(b)) { try await w.store.cursor(tenant: "alice", item: b) }
            #expect(try await w.store.setItemStatus(tenant: "alice", item: b, status: "error", errorCode: "X") == false)
            await #expect(throws: PlaidStoreError.itemOfAnotherTenant(b)) {
                try await w.store.saveItem(
                    tenant: "alice", item: b, accessToken: PlaidAccessToken("stolen"), institutionID: nil, institutionName: nil, webhook: nil)
            }
            #expect(try await w.store.transactionCounts(tenant: "alice", item: b) == (0, 0))
            #expect(try await w.store.item(tenant: "bob", item: b)?.status == "active")
            // The operator's CLI shows a tenant's rows only.
            let cli = try JobNodeProcess(
                ["plaid", "transactions", "--tenant", "alice", "--json", "--database", w.databaseURL], logPath: "\(w.directory)/cli.log")
            #expect(await cli.process.wait() == 0, "\(cli.log)")
            let rows = try JSONSerialization.jsonObject(with: Data(cli.log.utf8)) as? [[String: Any]] ?? []
            #expect(rows.count == 3 && rows.allSatisfy { !bobTransactions.contains($0["transaction"] as? String ?? "") })
            #expect(Set(rows.flatMap { $0.keys }) == [
                "transaction", "account", "date", "amount", "currency", "name", "merchant", "pending", "category", "categorySource",
            ])
        }
    }

    @Test("kill -9 of the node mid-sync: another node finishes with exactly the right rows")
    func killMidSync() async throws {
        try await PlaidWorld.with { w in
            let (first, _) = try w.startNode("a")
            let item = try await w.link(tenant: "t1")
            try await w.eventually("the first sync") { try await w.store.transactionCounts(tenant: "t1").live == 3 }
            try await w.plaid.control(.POST, "/_fake/items/\(item)/advance", ["added": 20_000])
            // Slow pages, so the node is killed while it pages.
            try await w.plaid.control(.POST, "/_fake/inject", [
                "endpoint": "/transactions/sync", "item_id": item, "delay_ms": 300, "after_calls": 0, "times": 30,
            ])
            let before = try await w.plaid.calls(endpoint: "/transactions/sync").count
            let handle = try await PlaidJobs(queue: w.queue).scheduleTransactionsSync(tenant: "t1", item: item)
            try await w.eventually("the sync to be paging") { try await w.plaid.calls(endpoint: "/transactions/sync").count >= before + 3 }
            first.process.signal(SIGKILL)
            _ = await first.process.wait()
            #expect(try await w.store.transactionCounts(tenant: "t1").live == 3, "nothing committed mid-sync")
            try w.startNode("b")
            let result = try await handle.result(as: PlaidSyncResult.self, timeout: .seconds(120))
            #expect(result.status == "synced" && result.added == 20_000)
            #expect(try await w.store.transactionCounts(tenant: "t1") == (20_003, 0))
            let record = try #require(try await w.queue.job(handle.id, queue: PlaidJobs.queue))
            #expect(record.state == .completed, "attempts \(record.attempts)")
            #expect(try await w.plaid.violations().isEmpty)
        }
    }
}

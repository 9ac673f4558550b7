import AsyncHTTPClient
import Foundation
import JobKit
import JobKitTestSupport
import NIOCore
import NIOFoundationCompat
import Testing
@testable import Jobs

/// The Plaid jobs beyond the first sync: linking over HTTP, balances with their history and per-item limit,
/// item health, re-categorization, and a node's refusal to run Plaid work without its token key.
@Suite("Plaid jobs", .serialized)
struct PlaidJobsTests {
    @Test("POST /v1/plaid/items links; balances get a history row per change, spaced by the per-item limit; health fans out; a tenant rule re-categorizes")
    func balancesHealthRules() async throws {
        try await PlaidWorld.with { w in
            let (_, port) = try w.startNode("a", http: true)
            // Link over HTTP, with a public token from the fake's sandbox endpoint.
            let token = try await w.client.sandboxCreatePublicToken(institutionID: "ins_109508").publicToken
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port!)/v1/plaid/items")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: #"{"tenant": "t1", "publicToken": "\#(token)"}"#))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            let answer = try JSONSerialization.jsonObject(with: Data(buffer: try await response.body.collect(upTo: 1 << 16))) as? [String: Any]
            #expect(response.status.code == 202, "\(String(describing: answer))")
            let jobID = try #require(answer?["job"] as? String)
            try await w.eventually("the link") { try await w.queue.job(jobID, queue: PlaidJobs.queue)?.state == .completed }
            let item = try #require(try await w.store.items(tenant: "t1").first?.item)
            try await w.eventually("the first sync") { try await w.store.accounts(tenant: "t1").count == 3 }
            let checking = "BxBXxLj1m4HMXBm9WZZmCWVbPjX16EHwv99vp"
            #expect(try await w.store.balanceHistory(tenant: "t1", account: checking).count == 1)

            // Real-time balances: unchanged → no history row; changed → one.
            let jobs = PlaidJobs(queue: w.queue)
            let first = try await jobs.refreshBalances(tenant: "t1", item: item).result(as: PlaidSyncResult.self, timeout: .seconds(30))
            #expect(first.modified == 0)
            // A low-balance threshold of 100: the checking account goes under it with this refresh.
            try await w.store.setLowBalanceThreshold(tenant: "t1", amount: 100)
            try await w.plaid.control(.POST, "/_fake/items/\(item)/balances", ["account_id": checking, "current": 99.99, "available": 89.99])
            let second = try await jobs.refreshBalances(tenant: "t1", item: item).result(as: PlaidSyncResult.self, timeout: .seconds(30))
            #expect(second.modified == 1)
            // Another account's balance changes: the checking account, still under, is not told again.
            let savings = try #require(try await w.store.accounts(tenant: "t1").first { $0.account != checking }?.account)
            try await w.plaid.control(.POST, "/_fake/items/\(item)/balances", ["account_id": savings, "current": 5000, "available": 5000])
            let history = try await w.store.balanceHistory(tenant: "t1", account: checking)
            #expect(history.map(\.current) == ["110", "99.99"])
            #expect(try await w.store.accounts(tenant: "t1").first { $0.account == checking }?.available == "89.99")
            // The per-item limit (5 a minute, checked in the claim): the 6th refresh within the minute waits in
            // `scheduled` without using an attempt.
            for _ in 0..<3 { _ = try await jobs.refreshBalances(tenant: "t1", item: item).result(timeout: .seconds(30)) }
            let sixth = try await jobs.refreshBalances(tenant: "t1", item: item)
            try await w.eventually("the sixth refresh to be held back") {
                try await w.queue.job(sixth.id, queue: PlaidJobs.queue)?.state == .scheduled
            }
            #expect(try await w.plaid.calls(endpoint: "/accounts/balance/get").count == 5)
            // The crossing was told once (later refreshes stayed under the threshold: no new crossing).
            let low = try await w.jobs(.ready, queue: NotificationSendJob.queue).filter { $0.payload.contains("low_balance") }
            #expect(low.count == 1 && low.first?.payload.contains("89.99") == true, "\(low.map(\.payload))")
            let limits = try await LimitStore(redis: w.redis, namespace: w.namespace).list()
            #expect(Set(limits.map(\.limit.name)).isSuperset(of: PlaidJobs.defaultLimits.map(\.name)))
            #expect((limits.first { $0.limit.name == "plaid-balance-item" }?.deniedTotal ?? 0) >= 1)

            // Item health for every item (the schedule's payload): fans out, then reads /item/get per item.
            try await w.plaid.control(.POST, "/_fake/items/\(item)/login_required", ["on": true])
            _ = try await w.queue.enqueue(PlaidItemHealthJob(), options: EnqueueOptions(queue: PlaidJobs.queue))
            try await w.eventually("health to mark the item") { try await w.store.item(tenant: "t1", item: item)?.status == "login_required" }
            try await w.plaid.control(.POST, "/_fake/items/\(item)/login_required", ["on": false])
            _ = try await w.queue.enqueue(PlaidItemHealthJob(tenant: "t1", item: item), options: EnqueueOptions(queue: PlaidJobs.queue))
            try await w.eventually("health to clear it") { try await w.store.item(tenant: "t1", item: item)?.status == "active" }
            // Health also asked for the institution's status (the fixture's is null: checked, nothing reported).
            let institution = try await w.store.institutionStatus("ins_109508")
            #expect(institution?.checked == true && institution?.itemLogins == nil)
            let asked = try await w.plaid.calls(endpoint: "/institutions/get_by_id")
            #expect(asked.count >= 3, "link, then each health check")

            // A tenant rule, then re-categorization over the tenant's transactions.
            _ = try await jobs.addCategoryRule(
                CategoryRule(field: .merchant, pattern: "walmart", category: "groceries"), tenant: "t1", store: w.store
            ).result(timeout: .seconds(30))
            let walmart = try await w.store.transactions(tenant: "t1").first { $0.merchant == "Walmart" }
            #expect(walmart?.category == "groceries" && walmart?.categorySource == "tenant")
            let dead = try await w.jobs(.dead)
            #expect(dead.isEmpty, "\(dead.map(\.lastError))")
            #expect(try await w.plaid.violations().isEmpty)
        }
    }

    @Test("a node with Plaid credentials but no JOBKIT_TOKEN_KEY refuses to start and says why")
    func refusesWithoutTokenKey() async throws {
        try await PlaidWorld.with { w in
            let (node, _) = try w.startNode("nokey", environment: ["JOBKIT_TOKEN_KEY": ""])
            #expect(await node.process.wait() != 0)
            #expect(node.log.contains("JOBKIT_TOKEN_KEY"))
            let (bad, _) = try w.startNode("badkey", environment: ["JOBKIT_TOKEN_KEY": "c2hvcnQ="])
            #expect(await bad.process.wait() != 0)
            #expect(bad.log.contains("base64 of 32 bytes"))
        }
    }
}

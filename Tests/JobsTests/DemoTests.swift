import Foundation
import JobKitTestSupport
import Testing

/// The README's first command, `scripts/demo`, in CI mode: its own Redis, PostgreSQL and fakes, two jobnodes, the
/// finance backend's day, and a summary whose every figure is checked here.
@Suite("The demo", .serialized)
struct DemoTests {
    @Test("scripts/demo --ci: every expected row count, every job terminal, no dead job, webhooks accepted once and forgeries refused")
    func financeDay() async throws {
        let script = try TestEnvironment.required("JOBKIT_DEMO", "scripts/demo (scripts/test exports it)")
        let dir = try TestEnvironment.makeTemporaryDirectory("demo")
        let summaryPath = "\(dir)/summary.json"
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PLAID_") && !$0.key.hasPrefix("STRIPE_") }
        environment["JOBNODE_BIN"] = try TestEnvironment.jobnodeBinary()
        environment["JOBKIT_DEMO_OUT"] = "\(dir)/out"
        let demo = try ChildProcess("/bin/bash", [script, "--ci", "--summary", summaryPath], outputPath: "\(dir)/demo.log", environment: environment)
        let status = await demo.wait(timeout: .seconds(300))
        let log = (try? String(contentsOfFile: "\(dir)/demo.log", encoding: .utf8)) ?? ""
        #expect(status == 0, "\(log)")
        let data = try Data(contentsOf: URL(fileURLWithPath: summaryPath))
        let summary = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])

        // Rows: two tenants with a linked item of three accounts each; acme's 3 + 120 transactions (the webhook's
        // sync), globex's 3; one subscription on `family`; one report; the payment_failed notification once.
        let tables = try #require(summary["tables"] as? [String: Int])
        let expected: [String: Int] = [
            "tenants": 2, "plaid_items": 2, "accounts": 6, "transactions": 126, "subscriptions": 1, "stripe_customers": 1,
            "reports": 1, "plaid_webhooks": 1, "institutions": 1,
        ]
        for (table, rows) in expected { #expect(tables[table] == rows, "\(table): \(tables[table].map(String.init) ?? "missing")") }
        #expect((tables["invoices"] ?? 0) >= 1)
        #expect((tables["notifications"] ?? 0) >= 2, "payment_failed and report_ready at least")
        let checks = try #require(summary["checks"] as? [String: Any])
        #expect(checks["plan"] as? String == "family")
        #expect(checks["paymentFailedNotifications"] as? Int == 1)
        #expect(checks["paymentFailedMails"] as? Int == 1)
        #expect(checks["stripeDuplicateAnswered"] as? Bool == true)
        #expect(checks["stripeForgedRejected"] as? Bool == true)
        #expect(checks["plaidForgedRejected"] as? Bool == true)
        #expect(checks["reportSVG"] as? Bool == true)
        #expect((checks["reportCategories"] as? Int ?? 0) >= 1)

        // Every job terminal, none dead, none left waiting.
        let jobs = try #require(summary["jobs"] as? [String: [String: Int]])
        #expect(!jobs.isEmpty)
        for (queue, counts) in jobs {
            for state in ["scheduled", "ready", "active", "retrying", "dead"] {
                #expect(counts[state] == 0, "\(queue): \(state) = \(counts[state] ?? -1)")
            }
        }
        #expect((jobs["high_priority"]?["completed"] ?? 0) >= 5)
        #expect((jobs["medium_priority"]?["completed"] ?? 0) >= 6)
        #expect(jobs["reports"]?["completed"] == 1)
        #expect((summary["deadJobs"] as? [Any])?.isEmpty == true)

        // Webhooks: Plaid's signed one accepted, the forgery refused; Stripe's replay counted as a duplicate.
        let webhooks = try #require(summary["webhooks"] as? [String: [String: Any]])
        let plaid = try #require(webhooks["plaid"])
        #expect(plaid["accepted"] as? Int == 1)
        #expect((plaid["rejected"] as? [String: Int])?["signature"] == 1)
        let stripe = try #require(webhooks["stripe"])
        #expect((stripe["accepted"] as? Int ?? 0) >= 1)
        #expect((stripe["rejected"] as? [String: Int])?["duplicate"] == 1)
        #expect((stripe["rejected"] as? [String: Int])?["signature"] == 1)
        // The demo stopped what it started: its nodes' logs end with their shutdown.
        for node in ["node-a", "node-b"] {
            let nodeLog = (try? String(contentsOfFile: "\(dir)/out/logs/\(node).log", encoding: .utf8)) ?? ""
            #expect(nodeLog.contains("stopped") || nodeLog.contains("shut"), "\(node): \(nodeLog.suffix(400))")
        }
    }
}

import AsyncHTTPClient
import Crypto
import Foundation
import JobKit
import JobKitTestSupport
import NIOHTTP1
import Testing
@testable import Jobs

/// The fake SendGrid and webhook receiver (`scripts/fakes/fake-sendgrid.py`).
final class FakeSendGrid: Sendable {
    let process: ChildProcess
    let port: Int
    static let apiKey = "SG.test-key"

    init(directory: String) async throws {
        let script = try TestEnvironment.required("JOBKIT_FAKE_SENDGRID", "scripts/fakes/fake-sendgrid.py (scripts/test exports it)")
        (process, port) = try await LoopbackFake.start(script: script, arguments: ["--api-key", Self.apiKey], log: "\(directory)/fake-sendgrid.log")
    }

    var base: String { "http://127.0.0.1:\(port)" }
    func mails() async throws -> [[String: Any]] { try await LoopbackFake.control(.GET, base + "/_fake/mails", nil) as? [[String: Any]] ?? [] }
    func hooks() async throws -> [[String: Any]] { try await LoopbackFake.control(.GET, base + "/_fake/hooks", nil) as? [[String: Any]] ?? [] }
    func inject(_ path: String, status: Int, times: Int = 1) async throws {
        try await LoopbackFake.control(.POST, base + "/_fake/inject", ["path": path, "status": status, "times": times])
    }
    func stop() async { await process.terminate(grace: .seconds(5)) }
}

@Suite("Notification templates")
struct NotificationTemplateTests {
    @Test("placeholders filled from data, missing ones empty; subjects from the kind's field; unknown kinds rendered generically; kinds registered later")
    func render() {
        let templates = NotificationTemplates()
        let failed = templates.render(kind: "payment_failed", data: ["invoice": "in_1", "amountDue": "1500", "currency": "usd"])
        #expect(failed.title == "Your payment failed" && failed.subject == "in_1")
        #expect(failed.body == "We could not collect 1500 usd for invoice in_1. Please update your card to keep your plan.")
        #expect(NotificationTemplates.fill("a {{x}} b {{ y }} c {{z", ["x": "1", "y": "2"]) == "a 1 b 2 c {{z")
        let unknown = templates.render(kind: "budget_exceeded", data: ["b": "2", "a": "1"])
        #expect(unknown.title == "Notification: budget_exceeded" && unknown.body == "a: 1\nb: 2")
        templates.register("budget_exceeded", .init(title: "Over budget", body: "{{category}} is over", subjectField: "category"))
        #expect(templates.render(kind: "budget_exceeded", data: ["category": "food"]) == ("Over budget", "food is over", "food"))
    }
}

@Suite("Notifications", .serialized)
struct NotificationTests {
    static let signingKey = "notify-signing-key-for-tests"

    static func environment(_ fake: FakeSendGrid) -> [String: String] {
        [
            "SENDGRID_API_KEY": FakeSendGrid.apiKey, "SENDGRID_API_BASE": fake.base, "JOBKIT_NOTIFY_FROM": "billing@jobkit.example",
            "JOBKIT_NOTIFY_SIGNING_KEY": Self.signingKey, "JOBKIT_API_KEYS": "billing:\(BillingAPI.apiKey)",
        ]
    }

    @Test(
        "notifications.send: inbox, signed webhook and SendGrid mail once per id; collapsed within the window; opted out per kind; a failing channel retried alone; a final failure says why"
    )
    func delivery() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory("notify")
        let fake = try await FakeSendGrid(directory: directory)
        defer { Task { await fake.stop() } }
        try await PlaidWorld.with { w in
            let store = NotificationStore(database: w.database, logger: PlaidWorld.logger)
            try await store.setChannels(
                tenant: "t1", .init(inbox: true, email: "owner@example.com", webhookURL: fake.base + "/hooks/t1"))
            try await store.setChannels(tenant: "t2", .init(inbox: true, email: "not-an-address"))
            try await store.setOptOut(tenant: "t1", user: "u1", kind: "low_balance")
            let (_, port) = try w.startNode(
                "notify", http: true, queues: NotificationSendJob.queue, environment: Self.environment(fake))
            let api = BillingAPI(port: port!)
            func send(_ job: NotificationSendJob) async throws -> JobHandle {
                try await w.queue.enqueue(job, options: EnqueueOptions(queue: NotificationSendJob.queue, backoff: .fixed(.milliseconds(200))))
            }
            let failed = ["invoice": "in_1", "amountDue": "1500", "currency": "usd"]

            // All three channels, once.
            let first = try await send(NotificationSendJob(tenant: "t1", kind: "payment_failed", data: failed, id: "n1"))
            let result = try await first.result(as: NotificationResult.self, timeout: .seconds(60))
            #expect(result == NotificationResult(outcome: "sent", channels: ["inbox": "sent", "webhook": "sent", "email": "sent"]))
            let mails = try await fake.mails()
            #expect(mails.count == 1 && mails.first?["to"] as? String == "owner@example.com" && mails.first?["subject"] as? String == "Your payment failed")
            #expect((mails.first?["text"] as? String)?.contains("1500 usd for invoice in_1") == true)
            #expect((mails.first?["custom_args"] as? [String: Any])?["notification_id"] as? String == "n1")
            // The webhook is signed as documented: HMAC-SHA256 of "<t>.<body>" with the tenant's derived secret.
            let hook = try #require(try await fake.hooks().first)
            let headers = try #require(hook["headers"] as? [String: String])
            let body = try #require(hook["body"] as? String)
            let header = try #require(headers["jobkit-signature"])
            let t = try #require(Int(header.split(separator: ",")[0].dropFirst(2)))
            let secret = NotificationWebhookSigner(signingKey: Self.signingKey).secret(tenant: "t1")
            let expected = HMAC<SHA256>.authenticationCode(for: Data("\(t).\(body)".utf8), using: SymmetricKey(data: Data(secret.utf8)))
            #expect(header == "t=\(t),v1=\(expected.map { String(format: "%02x", $0) }.joined())")
            #expect(headers["jobkit-notification-id"] == "n1" && body.contains(#""kind":"payment_failed""#))
            #expect(!body.contains(Self.signingKey) && !body.contains(secret))
            let inbox = try await store.inbox(tenant: "t1")  // delivered to the inbox channel
            #expect(inbox.count == 1 && inbox.first?.notification == "n1" && inbox.first?.readAtMs == nil && inbox.first?.outcome == "sent")
            // The inbox over HTTP: listed, marked read; another tenant gets 404 and sees nothing.
            try await w.eventually("the node serves") { (try? await api.call(.GET, "/health"))?.status == 200 }
            let listed = try await api.call(.GET, "/v1/notifications?tenant=t1")
            let entries = try #require(listed.json["notifications"] as? [[String: Any]], "\(listed.json)")
            #expect(entries.count == 1 && entries.first?["notification"] as? String == "n1" && entries.first?["readAtMs"] is NSNull)
            #expect(try await api.call(.POST, "/v1/notifications/n1/read", ["tenant": "t2"]).status == 404)
            #expect((try await api.call(.GET, "/v1/notifications?tenant=t2").json["notifications"] as? [Any])?.isEmpty == true)
            #expect(try await api.call(.POST, "/v1/notifications/n1/read", ["tenant": "t1"]).status == 200)
            #expect(try await store.inbox(tenant: "t1").first?.readAtMs != nil)
            #expect(try await !store.markRead(tenant: "t2", notification: "n1"), "another tenant cannot touch it")
            #expect(try await store.inbox(tenant: "t2").isEmpty)

            // The same id again (a retried producer): nothing is sent twice.
            let again = try await send(NotificationSendJob(tenant: "t1", kind: "payment_failed", data: failed, id: "n1"))
            #expect(try await again.result(as: NotificationResult.self, timeout: .seconds(60)).outcome == "sent")
            // Another failure of the same invoice within the window: collapsed into the first.
            let repeatFailure = try await send(NotificationSendJob(tenant: "t1", kind: "payment_failed", data: failed, id: "n2"))
            #expect(try await repeatFailure.result(as: NotificationResult.self, timeout: .seconds(60)).outcome == "collapsed")
            // The user opted out of the kind.
            let low = try await send(NotificationSendJob(tenant: "t1", user: "u1", kind: "low_balance", data: ["account": "acc_1"], id: "n3"))
            #expect(try await low.result(as: NotificationResult.self, timeout: .seconds(60)).outcome == "opted_out")
            #expect(try await store.inbox(tenant: "t1").map(\.notification) == ["n1"], "collapsed and opted-out ones are not in the inbox")
            let mailCount = try await fake.mails().count
            let hookCount = try await fake.hooks().count
            #expect(mailCount == 1 && hookCount == 1)

            // The webhook fails once: the retry sends only the webhook; the mail went once.
            try await fake.inject("/hooks/t1", status: 500)
            let retried = try await send(
                NotificationSendJob(tenant: "t1", kind: "payment_succeeded", data: ["invoice": "in_2", "amountPaid": "900", "currency": "usd"], id: "n4"))
            #expect(try await retried.result(as: NotificationResult.self, timeout: .seconds(60)).outcome == "sent")
            let n4Mails = try await fake.mails().filter { ($0["custom_args"] as? [String: Any])?["notification_id"] as? String == "n4" }
            let n4Hooks = try await fake.hooks().filter { ($0["headers"] as? [String: String])?["jobkit-notification-id"] == "n4" }
            #expect(n4Mails.count == 1 && n4Hooks.map { $0["status"] as? Int } == [500, 200])

            // SendGrid refuses the address: final, the reason in the job's error; the inbox entry stands.
            let bad = try await send(NotificationSendJob(tenant: "t2", kind: "report_ready", data: ["month": "2026-11", "report": "r1"], id: "n5"))
            do {
                _ = try await bad.result(timeout: .seconds(60))
                Issue.record("expected the job to fail")
            } catch let error as QueueError {
                #expect(error.code == .jobFailed && error.message.contains("SendGrid answered 400"), "\(error)")
            }
            #expect(try await store.deliveries(tenant: "t2", "n5") == ["inbox": "sent", "email": "failed"])
            // Ids are per tenant: t2 sending "n1" is its own notification, not t1's.
            let t2n1 = try await send(NotificationSendJob(tenant: "t2", kind: "report_ready", data: ["month": "2026-11", "report": "r2"], id: "n1"))
            _ = try? await t2n1.result(timeout: .seconds(60))
            #expect(try await store.deliveries(tenant: "t1", "n1") == ["inbox": "sent", "webhook": "sent", "email": "sent"])
            #expect(try await store.inbox(tenant: "t2", all: true).contains { $0.notification == "n1" && $0.kind == "report_ready" })
            // A tenant-wide opt-out (no user) stops the kind for everyone.
            try await store.setOptOut(tenant: "t1", user: "", kind: "report_ready")
            let quiet = try await send(NotificationSendJob(tenant: "t1", kind: "report_ready", data: ["month": "2026-11", "report": "r3"], id: "n6"))
            #expect(try await quiet.result(as: NotificationResult.self, timeout: .seconds(60)).outcome == "opted_out")
            let n5Mails = try await fake.mails().filter { ($0["custom_args"] as? [String: Any])?["notification_id"] as? String == "n5" }
            #expect(n5Mails.isEmpty)

            // The operators' view and the receiver's secret.
            let cli = try JobNodeProcess(
                ["notifications", "list", "--tenant", "t1", "--all", "--json", "--database", w.databaseURL], logPath: "\(w.directory)/notify-list.log")
            #expect(await cli.process.wait() == 0, "\(cli.log)")
            let rows = try JSONSerialization.jsonObject(with: Data(cli.log.utf8)) as? [[String: Any]] ?? []
            #expect(rows.count == 5 && Set(rows.flatMap(\.keys)) == ["notification", "tenant", "user", "kind", "title", "body", "outcome", "createdAtMs", "readAtMs"])
            #expect(Set(rows.compactMap { $0["outcome"] as? String }) == ["sent", "collapsed", "opted_out"])
            let secretCLI = try JobNodeProcess(
                ["notifications", "secret", "--tenant", "t1"], logPath: "\(w.directory)/notify-secret.log",
                extraEnvironment: ["JOBKIT_NOTIFY_SIGNING_KEY": Self.signingKey])
            #expect(await secretCLI.process.wait() == 0)
            #expect(secretCLI.log.trimmingCharacters(in: .whitespacesAndNewlines) == secret)
        }
    }

    @Test("kill -9 while SendGrid's answer is held: the re-run takes the channel over, the webhook already sent is not sent again, the mail goes twice (SendGrid has no idempotency key: at least once, with the id for dedupe)")
    func killMidSend() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory("notify-kill")
        let fake = try await FakeSendGrid(directory: directory)
        defer { Task { await fake.stop() } }
        try await PlaidWorld.with { w in
            let store = NotificationStore(database: w.database, logger: PlaidWorld.logger)
            try await store.setChannels(tenant: "t1", .init(inbox: true, email: "owner@example.com", webhookURL: fake.base + "/hooks/t1"))
            try await LoopbackFake.control(.POST, fake.base + "/_fake/hold", ["ms": 30_000])
            let (first, _) = try w.startNode("a", queues: NotificationSendJob.queue, environment: Self.environment(fake))
            let handle = try await w.queue.enqueue(
                NotificationSendJob(tenant: "t1", kind: "report_ready", data: ["month": "2026-11", "report": "r1"], id: "k1"),
                options: EnqueueOptions(queue: NotificationSendJob.queue))
            try await w.eventually("SendGrid to accept the mail") { try await fake.mails().count == 1 }
            first.process.signal(SIGKILL)
            _ = await first.process.wait()
            #expect(try await store.deliveries(tenant: "t1", "k1") == ["inbox": "sent", "webhook": "sent", "email": "sending"])
            try await LoopbackFake.control(.POST, fake.base + "/_fake/hold", ["ms": 0])
            try w.startNode("b", queues: NotificationSendJob.queue, environment: Self.environment(fake))
            let result = try await handle.result(as: NotificationResult.self, timeout: .seconds(60))
            #expect(result == NotificationResult(outcome: "sent", channels: ["inbox": "sent", "webhook": "sent", "email": "sent"]))
            let hooks = try await fake.hooks().filter { ($0["headers"] as? [String: String])?["jobkit-notification-id"] == "k1" }
            let mails = try await fake.mails().filter { ($0["custom_args"] as? [String: Any])?["notification_id"] as? String == "k1" }
            #expect(hooks.count == 1 && mails.count == 2)
            #expect(try await store.inbox(tenant: "t1").count == 1)
        }
    }
}

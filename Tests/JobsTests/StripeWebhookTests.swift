import AsyncHTTPClient
import Crypto
import Foundation
import JobKit
import JobKitHTTP
import JobKitTestSupport
import NIOCore
import NIOFoundationCompat
import Testing
@testable import Jobs

enum StripeFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/stripe")
    static func data(_ relative: String) throws -> Data { try Data(contentsOf: root.appendingPathComponent(relative)) }

    /// A `Stripe-Signature` header, computed as Stripe documents it.
    static func sign(_ body: [UInt8], secret: String, t: Int) -> String {
        var message = Data("\(t).".utf8)
        message.append(contentsOf: body)
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Data(secret.utf8)))
        return "t=\(t),v1=\(mac.map { String(format: "%02x", $0) }.joined())"
    }

    /// A fixture event with its id, type and creation time replaced (and the object's fields in `object`).
    static func event(_ file: String, id: String, type: String? = nil, created: Int, object: [String: Any] = [:]) throws -> [UInt8] {
        var json = try JSONSerialization.jsonObject(with: try data("webhooks/bodies/\(file)")) as! [String: Any]
        json["id"] = id
        if let type { json["type"] = type }
        json["created"] = created
        var data = json["data"] as! [String: Any]
        var o = data["object"] as! [String: Any]
        for (k, v) in object { o[k] = v }
        data["object"] = o
        json["data"] = data
        return Array(try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]))
    }
}

@Suite("Stripe webhook signatures")
struct StripeSignatureTests {
    @Test("the 13 Stripe-Signature vectors of ../shared/fixtures/stripe get their verdicts, with the official library's messages")
    func vectors() throws {
        let file = try JSONSerialization.jsonObject(with: try StripeFixtures.data("webhooks/vectors.json")) as! [String: Any]
        let secret = file["secret"] as! String
        let vectors = file["vectors"] as! [[String: Any]]
        #expect(vectors.count == 13)
        for v in vectors {
            let name = v["name"] as! String
            let body = Array(try StripeFixtures.data("webhooks/\(v["body_file"] as! String)"))
            let verifier = StripeWebhookVerifier(secrets: [secret], tolerance: v["tolerance"] as? Int ?? 300)
            let header = v["stripe_signature"] as? String
            let now = (v["now"] as! NSNumber).intValue
            do {
                try verifier.verify(header: header, body: body, now: now)
                #expect(v["expect_valid"] as! Bool, "\(name) passed")
            } catch {
                #expect(!(v["expect_valid"] as! Bool), "\(name): \(error)")
                if let message = v["stripe_python_error"] as? String, !(header ?? "").isEmpty {
                    #expect(message.hasPrefix(error.description.prefix(30)), "\(name): ours '\(error)' vs '\(message)'")
                }
            }
        }
    }

    @Test("header parsing as stripe 16.1.0 does it: a trailing comma, unknown items and v1=sig=x pass; a bare t or t=abc is malformed")
    func headerParsing() throws {
        let body = Array(#"{"id": "evt_1", "object": "event", "type": "x"}"#.utf8)
        let header = StripeFixtures.sign(body, secret: "whsec_abc", t: 1_790_000_000)
        let verifier = StripeWebhookVerifier(secrets: ["whsec_abc"])
        for ok in [header + ",", "junk," + header, header + "=x", "t=1790000000,t=bad," + header.dropFirst("t=1790000000,".count)] {
            #expect(throws: Never.self, "\(ok)") { try verifier.verify(header: ok, body: body, now: 1_790_000_010) }
        }
        for bad in ["t," + header, "t=abc," + header.dropFirst("t=1790000000,".count), "v1,\(header)"] {
            #expect(throws: StripeWebhookVerifier.Rejection.malformedHeader, "\(bad)") { try verifier.verify(header: bad, body: body, now: 1_790_000_010) }
        }
        #expect(throws: StripeWebhookVerifier.Rejection.noV1Signature) {
            try verifier.verify(header: "t=1790000000, v1=\(header.split(separator: "=").last!)", body: body, now: 1_790_000_010)
        }
        // Tolerance 0 turns the age check off, as in the library.
        #expect(throws: Never.self) { try StripeWebhookVerifier(secrets: ["whsec_abc"], tolerance: 0).verify(header: header, body: body, now: 1_900_000_000) }
    }

    @Test("headers made by the official stripe package for random bodies and secrets verify exactly when it says; one changed byte fails")
    func officialLibrary() async throws {
        let script = try TestEnvironment.required("JOBKIT_STRIPE_CHECK", "scripts/check-stripe-signatures.py (scripts/test exports it)")
        let seed = Int.random(in: 1...1_000_000)
        let dir = try TestEnvironment.makeTemporaryDirectory("stripe-oracle")
        let out = "\(dir)/cases.json"
        let process = try ChildProcess("/usr/bin/env", ["sh", "-c", "python3 '\(script)' --generate 300 --seed \(seed) > '\(out)'"])
        #expect(await process.wait(timeout: .seconds(120)) == 0, "seed \(seed)")
        let cases = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as! [[String: Any]]
        #expect(cases.count >= 300)
        var valid = 0, tampered = 0
        for c in cases {
            let body = Array(Data(base64Encoded: c["body_base64"] as! String)!)
            let verifier = StripeWebhookVerifier(secrets: c["secrets"] as! [String], tolerance: c["tolerance"] as! Int)
            let expected = c["expect_valid"] as! Bool
            let ours: Bool
            do {
                try verifier.verify(header: c["header"] as? String, body: body, now: (c["now"] as! NSNumber).intValue)
                ours = true
            } catch {
                ours = false
                if let message = c["error"] as? String { #expect(message == error.description, "seed \(seed)") }
            }
            #expect(ours == expected, "seed \(seed): \(c["kind"] ?? "") case disagrees with the stripe package")
            if expected { valid += 1 }
            if c["kind"] as? String == "tampered" { tampered += 1; #expect(!ours) }
        }
        #expect(valid > 50 && tampered > 50, "seed \(seed): \(valid) valid, \(tampered) tampered")
    }
}

@Suite("Stripe event payload")
struct StripeEventPayloadTests {
    @Test("the hand-written payload decodes to the same job as JSONEncoder's, for quotes, backslashes, control characters, non-ASCII and invalid UTF-8")
    func payloadMatchesEncoder() throws {
        let bodies: [[UInt8]] = [
            Array(#"{"id":"evt_1","type":"invoice.paid","data":{"object":{"name":"O\"Brien \\ co"}}}"#.utf8),
            Array("line\nbreak\ttab\u{01}\u{1f} é 日本 🎉 \"q\" \\".utf8),
            [0x7b, 0xff, 0xfe, 0x22, 0x7d],  // invalid UTF-8: replaced, as String(decoding:as:) does
            [],
        ]
        for body in bodies {
            let buffer = StripeEventJob.payload(event: "evt_\"1", type: "a\\b", body: body)
            let decoded = try JSONDecoder().decode(StripeEventJob.self, from: Data(buffer.readableBytesView))
            let expected = StripeEventJob(event: "evt_\"1", type: "a\\b", body: String(decoding: body, as: UTF8.self))
            #expect(decoded.event == expected.event && decoded.type == expected.type && decoded.body == expected.body)
            let viaEncoder = try JSONDecoder().decode(StripeEventJob.self, from: try JSONEncoder().encode(expected))
            #expect(viaEncoder.body == decoded.body)
        }
    }
}

@Suite("Stripe events", .serialized)
struct StripeEventTests {
    static let secret = "whsec_test_\(UUID().uuidString.prefix(8))"

    static func deliver(_ body: [UInt8], header: String?, port: Int) async throws -> (Int, [String: Any]) {
        try await LoopbackFake.deliver("/webhooks/stripe", body, header: header.map { ("Stripe-Signature", $0) }, port: port)
    }

    static func signed(_ body: [UInt8]) -> String { StripeFixtures.sign(body, secret: secret, t: Int(Date().timeIntervalSince1970)) }

    @Test("signed events update subscriptions and invoices once; redeliveries and re-runs change nothing; an older event never overwrites a newer one")
    func events() async throws {
        try await PlaidWorld.with { w in
            let (_, port) = try w.startNode(
                "stripe", http: true, queues: StripeWebhookIntake.queueName, concurrency: 1,
                environment: ["STRIPE_WEBHOOK_SECRET": "whsec_old_one,\(Self.secret)", "STRIPE_PLANS": "individual:basic-monthly"])
            let stripe = StripeStore(database: w.database, logger: PlaidWorld.logger)
            try await stripe.linkCustomer(tenant: "t1", customer: "cus_qItNfe8840P2oh", email: nil)
            let base = 1_800_000_000
            // Deleted (newer) arrives before created (older): the end state is canceled.
            let deleted = try StripeFixtures.event(
                "localstripe.customer.subscription.deleted.json", id: "evt_del", created: base + 10,
                object: ["customer": "cus_qItNfe8840P2oh"])
            let created = try StripeFixtures.event("localstripe.customer.subscription.created.json", id: "evt_new", created: base)
            for body in [deleted, created] {
                let (status, answer) = try await Self.deliver(body, header: Self.signed(body), port: port!)
                #expect(status == 200, "\(answer)")
            }
            // The same delivery three more times: one job, processed once.
            for _ in 0..<3 {
                let (status, answer) = try await Self.deliver(created, header: Self.signed(created), port: port!)
                #expect(status == 200 && answer["duplicate"] as? Bool == true)
            }
            try await w.eventually("both events processed") {
                try await stripe.events(limit: 10).filter { $0.processedAtMs != nil }.count == 2
            }
            let events = Dictionary(uniqueKeysWithValues: try await stripe.events(limit: 10).map { ($0.event, $0.outcome) })
            #expect(events["evt_del"] == "applied" && events["evt_new"] == "stale")
            let subscription = try #require(try await stripe.subscriptions(tenant: "t1").first)
            #expect(subscription.status == "canceled" && subscription.plan == "individual" && subscription.subscription == "sub_8VOZ9KPTeVOWRT")
            #expect(try await stripe.subscriptions(tenant: "t2").isEmpty)

            // A payment: succeeded, then a later failure (delivered twice): past due, one notification.
            let paid = try StripeFixtures.event("localstripe.invoice.payment_succeeded.json", id: "evt_paid", created: base + 20)
            let failed = try StripeFixtures.event(
                "localstripe.invoice.payment_succeeded.json", id: "evt_failed", type: "invoice.payment_failed", created: base + 30,
                object: ["status": "open", "amount_paid": 0])
            for body in [paid, failed, failed] {
                #expect(try await Self.deliver(body, header: Self.signed(body), port: port!).0 == 200)
            }
            try await w.eventually("the failure applied") { try await stripe.isPastDue(tenant: "t1") }
            let invoice = try #require(try await stripe.invoices(tenant: "t1").first)
            #expect(invoice.status == "open" && invoice.amountPaid == 0 && invoice.currency == "usd")
            try await w.eventually("two notifications") { try await w.jobs(.ready, queue: "notifications").count == 2 }
            let kinds = try await w.jobs(.ready, queue: "notifications").map(\.payload)
            #expect(kinds.filter { $0.contains("payment_failed") }.count == 1 && kinds.filter { $0.contains("payment_succeeded") }.count == 1)

            // The job run again for an event already applied (a crash after commit, before the ack): nothing changes.
            let rerun = try await w.queue.enqueue(
                StripeEventJob(event: "evt_paid", type: "invoice.payment_succeeded", body: String(decoding: paid, as: UTF8.self)),
                options: EnqueueOptions(queue: StripeWebhookIntake.queueName))
            #expect(try await rerun.result(as: String.self, timeout: .seconds(30)) == "duplicate:applied")
            #expect(try await stripe.isPastDue(tenant: "t1"))

            // Bad deliveries: 400, nothing enqueued.
            var tampered = paid
            tampered[tampered.count / 2] ^= 0x01
            let stale = StripeFixtures.sign(paid, secret: Self.secret, t: Int(Date().timeIntervalSince1970) - 301)
            let notEvent = Array(#"{"hello": "world"}"#.utf8)
            let answers = [
                try await Self.deliver(tampered, header: Self.signed(paid), port: port!),
                try await Self.deliver(paid, header: stale, port: port!),
                try await Self.deliver(paid, header: nil, port: port!),
                try await Self.deliver(notEvent, header: Self.signed(notEvent), port: port!),
            ]
            #expect(answers.map(\.0) == [400, 400, 400, 400])
            #expect(answers.map { ($0.1["error"] as? [String: Any])?["code"] as? String }
                == ["invalid_signature", "stale_signature", "invalid_signature", "malformed_webhook"])
            // The node's tally writes its counts within 100 ms.
            try await w.eventually("the webhook counts flushed") {
                try await WebhookLedger(redis: w.redis, namespace: w.namespace).summary(provider: .stripe).received == 12
            }
            let summary = try await WebhookLedger(redis: w.redis, namespace: w.namespace).summary(provider: .stripe)
            #expect(summary.accepted == 4 && summary.rejected.duplicate == 4 && summary.rejected.signature == 2)
            #expect(summary.rejected.age == 1 && summary.rejected.malformed == 1)
            let handled = try await w.jobs(.completed, queue: StripeWebhookIntake.queueName).filter { $0.name == StripeEventJob.jobName }
            #expect(handled.count == 5, "4 events and the re-run")
            #expect(try await w.jobs(.dead, queue: StripeWebhookIntake.queueName).isEmpty)

            // The operators' views.
            let cli = try JobNodeProcess(["billing", "subscriptions", "--json", "--database", w.databaseURL], logPath: "\(w.directory)/billing.log")
            #expect(await cli.process.wait() == 0, "\(cli.log)")
            let rows = try JSONSerialization.jsonObject(with: Data(cli.log.utf8)) as? [[String: Any]] ?? []
            #expect(Set(rows.flatMap(\.keys)) == ["subscription", "tenant", "customer", "plan", "status", "currentPeriodEndMs", "cancelAtPeriodEnd"])
            let ev = try JobNodeProcess(["billing", "events", "--json", "--limit", "3", "--database", w.databaseURL], logPath: "\(w.directory)/events.log")
            #expect(await ev.process.wait() == 0, "\(ev.log)")
            let evRows = try JSONSerialization.jsonObject(with: Data(ev.log.utf8)) as? [[String: Any]] ?? []
            #expect(evRows.count == 3 && Set(evRows.flatMap(\.keys)) == ["event", "type", "receivedAtMs", "processedAtMs", "outcome"])

            // `updated` (newer: cancel at period end) delivered before `created` (older) of another subscription: the
            // updated state stands.
            var updatedJSON = try JSONSerialization.jsonObject(
                with: Data(try StripeFixtures.event(
                    "localstripe.customer.subscription.created.json", id: "evt_upd2", type: "customer.subscription.updated", created: base + 50,
                    object: ["id": "sub_out_of_order", "cancel_at_period_end": true]))) as! [String: Any]
            var updatedData = updatedJSON["data"] as! [String: Any]
            updatedData["previous_attributes"] = ["cancel_at_period_end": false]
            updatedJSON["data"] = updatedData
            let updated = Array(try JSONSerialization.data(withJSONObject: updatedJSON, options: [.sortedKeys]))
            let older = try StripeFixtures.event(
                "localstripe.customer.subscription.created.json", id: "evt_new2", created: base + 40, object: ["id": "sub_out_of_order"])
            for body in [updated, older] { #expect(try await Self.deliver(body, header: Self.signed(body), port: port!).0 == 200) }
            try await w.eventually("both processed") {
                try await stripe.events(limit: 100).filter { ["evt_upd2", "evt_new2"].contains($0.event) && $0.processedAtMs != nil }.count == 2
            }
            let ooo = try #require(try await stripe.subscription("sub_out_of_order", tenant: "t1"))
            #expect(ooo.cancelAtPeriodEnd && ooo.status == "active")
            // The applied `updated` says what changed (cancel at period end): the tenant is told, once.
            try await w.eventually("subscription_changed enqueued") {
                try await w.jobs(.ready, queue: "notifications").contains { $0.payload.contains("subscription_changed") }
            }
        }
    }
}

import Foundation
import JobKit
import JobKitTestSupport
import PostgresNIO
import Testing
@testable import Jobs

@Suite("Maintenance", .serialized)
struct MaintenanceTests {
    static func count(_ w: PlaidWorld, _ sql: String) async throws -> Int {
        for try await (n,) in try await w.database.client.query(PostgresQuery(unsafeSQL: sql), logger: PlaidWorld.logger).decode((Int64,).self) {
            return Int(n)
        }
        return -1
    }

    @Test("maintenance.nightly fans out once per night; each retention removes exactly what is past it; two runs at once do what one does")
    func retention() async throws {
        try await PlaidWorld.with { w in
            // Old and recent rows of every target (ages against the defaults: webhooks 90 d, notifications 180 d, reports 730 d).
            var sql = "INSERT INTO tenants (id) VALUES ('t1') ON CONFLICT DO NOTHING;\n"
            for i in 0..<30 {
                let age = i < 20 ? 100 : 10  // 20 old, 10 recent
                sql += "INSERT INTO plaid_webhooks (body_sha256, issued_at, outcome, received_at) VALUES ('h\(i)', \(i), 'applied', now() - interval '\(age) days');\n"
                sql += "INSERT INTO stripe_events (event_id, type, created, received_at) VALUES ('evt_\(i)', 'x', 0, now() - interval '\(age) days');\n"
            }
            for i in 0..<12 {
                let age = i < 8 ? 200 : 5
                sql += "INSERT INTO notifications (notification_id, tenant_id, kind, title, body, outcome, created_at) VALUES ('n\(i)', 't1', 'k', 't', 'b', 'sent', now() - interval '\(age) days');\n"
                sql += "INSERT INTO notification_deliveries (tenant_id, notification_id, channel, status) VALUES ('t1', 'n\(i)', 'inbox', 'sent');\n"
            }
            for i in 0..<5 {
                let age = i < 3 ? 800 : 30
                sql += "INSERT INTO reports (tenant_id, kind, period, formats, json, csv, svg, created_at) VALUES ('t1', 'monthly', '2020-0\(i + 1)', '{json}', '{}', '', '', now() - interval '\(age) days');\n"
            }
            for statement in sql.split(separator: "\n") { try await PlaidWorld.admin(w.databaseURL, String(statement)) }

            try w.startNode("maintenance", queues: NightlyMaintenanceJob.queue, concurrency: 4)
            for _ in 0..<2 {
                let nightly = try await w.queue.enqueue(NightlyMaintenanceJob(), options: EnqueueOptions(queue: NightlyMaintenanceJob.queue))
                _ = try await nightly.result(timeout: .seconds(60))
            }
            do {
                try await w.eventually("the three retention jobs") {
                    try await w.jobs(.completed, queue: NightlyMaintenanceJob.queue).filter { $0.name == MaintenanceRetentionJob.jobName }.count == 3
                }
            } catch {
                let stuck = try await w.jobs(.dead, queue: NightlyMaintenanceJob.queue) + w.jobs(.retrying, queue: NightlyMaintenanceJob.queue)
                Issue.record("\(stuck.map { "\($0.name): \($0.lastError ?? "-")" })")
                throw error
            }
            // Two nightly runs, one set of jobs: sessions, three retentions, reconcile here; item health on the Plaid queue.
            let made = try await w.jobs(.completed, queue: NightlyMaintenanceJob.queue).filter { $0.name != NightlyMaintenanceJob.jobName }
            #expect(made.filter { $0.name == SessionCleanupJob.jobName }.count == 1)
            #expect(try await w.jobs(.ready, queue: PlaidJobs.queue).filter { $0.name == PlaidItemHealthJob.jobName }.count == 1)

            #expect(try await Self.count(w, "SELECT count(*) FROM plaid_webhooks") == 10)
            #expect(try await Self.count(w, "SELECT count(*) FROM stripe_events") == 10)
            #expect(try await Self.count(w, "SELECT count(*) FROM notifications") == 4)
            #expect(try await Self.count(w, "SELECT count(*) FROM notification_deliveries") == 4)
            #expect(try await Self.count(w, "SELECT count(*) FROM reports") == 2)
            #expect(try await Self.count(w, "SELECT count(*) FROM notifications WHERE created_at < now() - interval '180 days'") == 0)

            // More old notifications, then two runs at once: the same end state as one.
            for i in 20..<2_020 where i % 500 == 0 {
                try await PlaidWorld.admin(
                    w.databaseURL,
                    """
                    INSERT INTO notifications (notification_id, tenant_id, kind, title, body, outcome, created_at)
                    SELECT 'm' || g, 't1', 'k', 't', 'b', 'sent', now() - interval '365 days' FROM generate_series(\(i), \(i + 499)) g
                    """)
            }
            let a = try await w.queue.enqueue(MaintenanceRetentionJob(target: "notifications"), options: EnqueueOptions(queue: NightlyMaintenanceJob.queue))
            let b = try await w.queue.enqueue(MaintenanceRetentionJob(target: "notifications"), options: EnqueueOptions(queue: NightlyMaintenanceJob.queue))
            let ra = try await a.result(as: [String: Int].self, timeout: .seconds(60))
            let rb = try await b.result(as: [String: Int].self, timeout: .seconds(60))
            #expect((ra["notifications"] ?? 0) + (rb["notifications"] ?? 0) == 2_000)
            #expect(try await Self.count(w, "SELECT count(*) FROM notifications") == 4)
            let unknown = try await w.queue.enqueue(MaintenanceRetentionJob(target: "everything"), options: EnqueueOptions(queue: NightlyMaintenanceJob.queue))
            await #expect(throws: QueueError.self) { _ = try await unknown.result(timeout: .seconds(60)) }
        }
    }
}

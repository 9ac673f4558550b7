import Foundation
import HummingbirdBcrypt
import JobKit
import JobKitHTTP
import JobKitTestSupport
import NIOCore
import Testing

/// The dashboard in a real browser: Debian's headless Chromium, driven through chromium-driver by Selenium
/// (`scripts/check-dashboard.py`), against a real jobnode with its worker and HTTP server.
@Suite("The dashboard in Chromium", .serialized)
struct DashboardBrowserTests {
    @Test("an operator retries a dead job and sees it complete live without reloading; a viewer finds no action button")
    func operatorRetriesAndViewerReads() async throws {
        let check = try TestEnvironment.required("JOBKIT_DASHBOARD_CHECK", "scripts/check-dashboard.py (scripts/test exports it)")
        try await withTestNamespace { ns in
            let dir = try TestEnvironment.makeTemporaryDirectory("dashboard-browser")
            let hash = Bcrypt.hash("browser-pw", cost: 4)
            try "olga:operator:\(hash)\nvic:viewer:\(hash)\n".write(toFile: "\(dir)/users", atomically: true, encoding: .utf8)
            let node = try JobNodeProcess(
                ["run", "--namespace", ns, "--name", "browser-node", "--queues", "browser", "--http", "127.0.0.1:0", "--heartbeat", "500ms"],
                logPath: "\(dir)/node.log", extraEnvironment: ["JOBKIT_UI_USERS": "@\(dir)/users"])
            defer { node.process.signal(SIGKILL) }
            let port = try await JobNodeHTTPTests.port(of: node)
            // A job an operator moved to dead before it ran: a two-second sleep, so that it is still running
            // when the page comes back from Retry.
            let pool = RedisPool(configuration: try RedisConfiguration(url: try TestEnvironment.redisURL(), logger: TestEnvironment.logger), size: 1)
            let queue = JobQueue(redis: pool, namespace: ns, logger: TestEnvironment.logger)
            let handle = try await queue.enqueue(
                JobQueue.Job(name: "jobkit.sleep", payload: ByteBuffer(string: #"{"ms":2000}"#), options: .init(queue: "browser", delay: .seconds(3600))))
            #expect(try await queue.moveToDead([handle.id], queue: "browser") == 1)
            let driver = try ChildProcess(
                "/usr/bin/env",
                [
                    "python3", check, "--url", "http://127.0.0.1:\(port)", "--operator", "olga:browser-pw", "--viewer", "vic:browser-pw",
                    "--job", handle.id, "--queue", "browser",
                ], outputPath: "\(dir)/browser.log")
            let status = await driver.wait(timeout: .seconds(120))
            let log = (try? String(contentsOfFile: "\(dir)/browser.log", encoding: .utf8)) ?? ""
            #expect(status == 0, "\(log)\n--- node ---\n\(node.log.suffix(3000))")
            #expect(log.contains("every step passed"))
            let record = try await queue.job(handle.id, queue: "browser")
            #expect(record?.state == .completed)
            let audit = try await DashboardAudit(redis: pool, namespace: ns).entries()
            #expect(audit.first?.action == "retry" && audit.first?.user == "olga")
            node.process.signal(SIGTERM)
            #expect(await node.process.wait() == 0)
            await pool.close()
        }
    }
}

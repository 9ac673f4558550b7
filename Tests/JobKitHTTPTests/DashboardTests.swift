import Foundation
import HTTPTypes
import HummingbirdBcrypt
import HummingbirdTesting
import JobKit
import JobKitTestSupport
import NIOCore
import Testing

@testable import JobKitHTTP

/// The dashboard's pages and actions over a live server: sign-in, roles, CSRF and cross-site refusals,
/// confirmations, the audit log, search and the live feed.
@Suite(.serialized) struct DashboardTests {
    /// bcrypt at the lowest cost, so that tests sign in fast.
    static let hash = Bcrypt.hash("pw", cost: 4)
    static let users = try! DashboardUsers.parse("ann:viewer:\(hash),otto:operator:\(hash),ada:admin:\(hash)")

    static func configure(readOnly: Bool = false, loginLimit: RateLimit? = nil) -> @Sendable (inout HTTPServerConfiguration) -> Void {
        { c in
            var d = DashboardConfiguration()
            d.users = users
            d.readOnly = readOnly
            d.feedInterval = .milliseconds(100)
            if let loginLimit { d.loginLimit = loginLimit }
            c.dashboard = d
            c.apiKeys = try! APIKeySet(parsing: "ci:key-secret-123")
        }
    }

    /// A signed-in browser: its cookie and the CSRF token its pages carry.
    struct Browser {
        var cookie: String
        var csrf: String
    }

    static func form(_ h: HTTPHarness, _ path: String, _ fields: [(String, String)], cookie: String? = nil, extra: HTTPFields = [:]) async throws -> HTTPHarness.Reply {
        var headers = extra
        headers[.contentType] = "application/x-www-form-urlencoded"
        if let cookie { headers[.cookie] = cookie }
        let body = fields.map { "\(urlEncode($0.0))=\(urlEncode($0.1))" }.joined(separator: "&")
        let response = try await h.client.execute(
            TestClient.Request(path, method: .post, authority: "127.0.0.1:\(h.port)", headers: headers, body: ByteBuffer(string: body)))
        return HTTPHarness.Reply(status: response.status.code, headers: response.headers, body: response.body.map { String(buffer: $0) } ?? "")
    }

    static func get(_ h: HTTPHarness, _ path: String, _ browser: Browser?) async throws -> HTTPHarness.Reply {
        var headers = HTTPFields()
        if let browser { headers[.cookie] = browser.cookie }
        return try await h.request(.get, path, headers: headers)
    }

    static func signIn(_ h: HTTPHarness, _ user: String, password: String = "pw") async throws -> Browser {
        let reply = try await form(h, "/ui/login", [("user", user), ("password", password), ("next", "/ui")])
        #expect(reply.status == 303, "sign-in of \(user): \(reply.status) \(reply.body.prefix(200))")
        let setCookie = try #require(reply.headers[.setCookie])
        #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict") && setCookie.contains("Path=/ui"))
        let cookie = String(setCookie.split(separator: ";")[0])
        let page = try await get(h, "/ui", Browser(cookie: cookie, csrf: ""))
        #expect(page.status == 200)
        let csrf = try #require(page.body.firstMatch(of: /name="csrf" value="([0-9a-f]+)"/)?.1)
        return Browser(cookie: cookie, csrf: String(csrf))
    }

    /// Dead jobs in queue `q` (moved there by the operators' own script), and a few ready ones.
    static func seed(_ h: HTTPHarness, queue q: String = "dq", dead: Int = 3, ready: Int = 2) async throws -> [String] {
        let jobs = (0..<(dead + ready)).map { i in
            JobQueue.Job(name: "jobkit.noop", payload: ByteBuffer(string: #"{"i":\#(i),"api_token":"tok_live_secret"}"#), options: .init(queue: q))
        }
        let ids = try await h.queue.enqueueBulk(jobs).map(\.id)
        #expect(try await h.queue.moveToDead(Array(ids.prefix(dead)), queue: q) == dead)
        return ids
    }

    @Test func signedOutRequestsGoToTheLoginAndWrongPasswordsAreRefused() async throws {
        try await HTTPHarness.with(configure: Self.configure()) { h in
            let page = try await Self.get(h, "/ui/queues/dq?state=dead", nil)
            #expect(page.status == 303)
            #expect(page.headers[.location] == "/ui/login?next=%2Fui%2Fqueues%2Fdq%3Fstate%3Ddead")
            let post = try await Self.form(h, "/ui/queues/dq/pause", [])
            #expect(post.status == 401)
            let wrong = try await Self.form(h, "/ui/login", [("user", "ann"), ("password", "nope")])
            #expect(wrong.status == 401)
            #expect(wrong.headers[.setCookie] == nil)
            #expect(wrong.body.contains("Wrong user name or password"))
            // Only dashboard paths are followed after sign-in.
            let offsite = try await Self.form(h, "/ui/login", [("user", "ann"), ("password", "pw"), ("next", "//evil.example/x")])
            #expect(offsite.headers[.location] == "/ui")
            // An API key signs in as the API-key role, and a bearer header works without a cookie.
            let key = try await Self.form(h, "/ui/login", [("user", ""), ("password", "key-secret-123")])
            #expect(key.status == 303)
            let bearer = try await h.request(.get, "/ui/nodes", headers: .bearer("key-secret-123"))
            #expect(bearer.status == 200)
            #expect(bearer.body.contains("key:ci"))
            #expect(bearer.headers[.contentSecurityPolicy]?.contains("script-src 'self'") == true)
        }
    }

    @Test func everyPageRendersAndTheViewerSeesNoActions() async throws {
        try await HTTPHarness.with(configure: Self.configure()) { h in
            let ids = try await Self.seed(h)
            try await ScheduleStore(redis: h.queue.redis, namespace: h.namespace).save(
                Schedule(name: "nightly", job: "jobkit.noop", queue: "dq", trigger: .cron(expression: "0 3 * * *", timeZone: "Europe/Paris")))
            let viewer = try await Self.signIn(h, "ann")
            let pages: [(String, String)] = [
                ("/ui", "dq"), ("/ui/queues/dq?state=dead", ids[0]), ("/ui/queues/dq?state=ready", ids[4]),
                ("/ui/jobs/\(ids[0])", "moved to dead by an operator"), ("/ui/search?name=jobkit.noop&state=dead", "3 matches"),
                ("/ui/search?id=\(ids[1])", "Found by id"), ("/ui/nodes", "No live node"), ("/ui/schedules", "Europe/Paris"),
                ("/ui/limits", "No limit is set"), ("/ui/tenants", "PostgreSQL"), ("/ui/audit", "No action recorded"),
            ]
            for (path, expected) in pages {
                let reply = try await Self.get(h, path, viewer)
                #expect(reply.status == 200, "\(path): \(reply.status)")
                #expect(reply.body.contains(expected), "\(path) lacks '\(expected)'")
                #expect(!reply.body.contains("name=\"action\""), "\(path) shows the bulk actions to a viewer")
                #expect(!reply.body.contains("Retry</button>") && !reply.body.contains("Pause</button>") && !reply.body.contains("Drain"), "\(path) shows an action button to a viewer")
                #expect(reply.headers[.contentSecurityPolicy] != nil)
            }
            // Secrets in payloads are redacted, and a search cannot find them either.
            let job = try await Self.get(h, "/ui/jobs/\(ids[0])", viewer)
            #expect(job.body.contains("[redacted]"))
            #expect(!job.body.contains("tok_live_secret"))
            #expect(try await Self.get(h, "/ui/search?q=tok_live", viewer).body.contains("0 matches"))
            #expect(try await Self.get(h, "/ui/search?q=api_token", viewer).body.contains("5 matches"))
            // A page number that would overflow is refused, not multiplied.
            #expect(try await Self.get(h, "/ui/queues/dq?state=dead&page=9223372036854775807", viewer).status == 400)
            // The flash banner shows only what an action of this server put in its cookie, never a query parameter.
            #expect(!(try await Self.get(h, "/ui?done=Sign+in+at+evil.example", viewer).body.contains("evil.example")))
        }
    }

    @Test func theViewerGets403OnEveryActionAndNothingChanges() async throws {
        try await HTTPHarness.with(configure: Self.configure()) { h in
            let ids = try await Self.seed(h)
            try await ScheduleStore(redis: h.queue.redis, namespace: h.namespace).save(
                Schedule(name: "tick", job: "jobkit.noop", queue: "dq", trigger: .every(milliseconds: 60_000, anchorMs: 0)))
            let viewer = try await Self.signIn(h, "ann")
            let actions: [(String, [(String, String)])] = [
                ("/ui/queues/dq/pause", []), ("/ui/queues/dq/resume", []), ("/ui/queues/dq/purge", [("confirm", "yes")]),
                ("/ui/queues/dq/jobs", [("action", "retry"), ("state", "dead"), ("ids", ids[0])]),
                ("/ui/queues/dq/jobs", [("action", "delete"), ("state", "dead"), ("scope", "all"), ("confirm", "yes")]),
                ("/ui/queues/dq/jobs", [("action", "cancel"), ("state", "ready"), ("ids", ids[4]), ("confirm", "yes")]),
                ("/ui/queues/dq/jobs", [("action", "dead"), ("state", "ready"), ("ids", ids[4]), ("confirm", "yes")]),
                ("/ui/jobs/\(ids[0])/retry", []), ("/ui/jobs/\(ids[4])/cancel", [("confirm", "yes")]),
                ("/ui/jobs/\(ids[0])/delete", [("confirm", "yes")]), ("/ui/nodes/any/drain", [("confirm", "yes")]),
                ("/ui/nodes/any/shutdown", [("confirm", "yes")]), ("/ui/schedules/tick/disable", []),
                ("/ui/schedules/tick/enable", []), ("/ui/schedules/tick/trigger", []),
            ]
            for (path, fields) in actions {
                let reply = try await Self.form(h, path, [("csrf", viewer.csrf)] + fields, cookie: viewer.cookie)
                #expect(reply.status == 403, "\(path) answered \(reply.status) to a viewer")
            }
            let counts = try await h.queue.counts("dq")
            #expect(counts.dead == 3 && counts.ready == 2 && !counts.paused)
            #expect(try await DashboardAudit(redis: h.queue.redis, namespace: h.namespace).entries().isEmpty)
        }
    }

    @Test func crossSiteRequestsAndMissingTokensAreRefused() async throws {
        try await HTTPHarness.with(configure: Self.configure()) { h in
            let ids = try await Self.seed(h)
            let otto = try await Self.signIn(h, "otto")
            let retry = "/ui/jobs/\(ids[0])/retry"
            var crossSite = HTTPFields()
            crossSite[HTTPField.Name("Sec-Fetch-Site")!] = "cross-site"
            #expect(try await Self.form(h, retry, [("csrf", otto.csrf)], cookie: otto.cookie, extra: crossSite).status == 403)
            var foreign = HTTPFields()
            foreign[.origin] = "http://evil.example"
            #expect(try await Self.form(h, retry, [("csrf", otto.csrf)], cookie: otto.cookie, extra: foreign).status == 403)
            #expect(try await Self.form(h, retry, [], cookie: otto.cookie).status == 403)
            #expect(try await Self.form(h, retry, [("csrf", String(otto.csrf.reversed()))], cookie: otto.cookie).status == 403)
            #expect(try await h.queue.counts("dq").dead == 3)
            // Same origin, with the token: done, and audited.
            var same = HTTPFields()
            same[.origin] = "http://127.0.0.1:\(h.port)"
            same[HTTPField.Name("Sec-Fetch-Site")!] = "same-origin"
            let ok = try await Self.form(h, retry, [("csrf", otto.csrf)], cookie: otto.cookie, extra: same)
            #expect(ok.status == 303)
            let flash = try #require(ok.headers[.setCookie])
            #expect(flash.hasPrefix("jobkit_ui_flash=Retried") && flash.contains("HttpOnly"))
            var shown = otto
            shown.cookie += "; " + String(flash.split(separator: ";")[0])
            let page = try await Self.get(h, try #require(ok.headers[.location]), shown)
            #expect(page.body.contains("class=\"flash\"") && page.body.contains("Retried job \(ids[0])."))
            #expect(page.headers[.setCookie]?.hasPrefix("jobkit_ui_flash=;") == true)
            #expect(try await h.queue.counts("dq").dead == 2)
            let audit = try await DashboardAudit(redis: h.queue.redis, namespace: h.namespace).entries()
            #expect(audit.map(\.action) == ["retry"])
            #expect(audit.first?.user == "otto" && audit.first?.count == 1)
            // Signing out ends the session: the cookie no longer opens a page.
            #expect(try await Self.form(h, "/ui/logout", [("csrf", otto.csrf)], cookie: otto.cookie).status == 303)
            #expect(try await Self.get(h, "/ui", otto).status == 303)
        }
    }

    @Test func destructiveActionsNeedTheirRoleAndAConfirmation() async throws {
        try await HTTPHarness.with(configure: Self.configure()) { h in
            _ = try await Self.seed(h, dead: 2, ready: 120)
            let otto = try await Self.signIn(h, "otto")
            #expect(try await Self.form(h, "/ui/queues/dq/purge", [("csrf", otto.csrf), ("confirm", "yes")], cookie: otto.cookie).status == 403)
            let ada = try await Self.signIn(h, "ada")
            // Without confirm=yes: a confirmation page, and nothing moved.
            let ask = try await Self.form(
                h, "/ui/queues/dq/jobs", [("csrf", ada.csrf), ("action", "dead"), ("state", "ready"), ("scope", "all")], cookie: ada.cookie)
            #expect(ask.status == 200)
            #expect(ask.body.contains("Move to dead 120 ready jobs of dq?"))
            #expect(try await h.queue.counts("dq").ready == 120)
            let done = try await Self.form(
                h, "/ui/queues/dq/jobs", [("csrf", ada.csrf), ("action", "dead"), ("state", "ready"), ("scope", "all"), ("confirm", "yes")],
                cookie: ada.cookie)
            #expect(done.status == 303)
            let counts = try await h.queue.counts("dq")
            #expect(counts.ready == 0 && counts.dead == 122)
            // Retry every dead job (operator; no confirmation needed).
            let retried = try await Self.form(
                h, "/ui/queues/dq/jobs", [("csrf", otto.csrf), ("action", "retry"), ("state", "dead"), ("scope", "all")], cookie: otto.cookie)
            #expect(retried.status == 303)
            #expect(try await h.queue.counts("dq").ready == 122)
            let purged = try await Self.form(h, "/ui/queues/dq/purge", [("csrf", ada.csrf), ("confirm", "yes")], cookie: ada.cookie)
            #expect(purged.status == 303)
            #expect(try await h.queue.counts("dq").ready == 0)
            let audit = try await DashboardAudit(redis: h.queue.redis, namespace: h.namespace).entries()
            #expect(audit.map(\.action) == ["purge", "retry", "dead"])
            #expect(audit.map(\.count) == [122, 122, 120])
            let page = try await Self.get(h, "/ui/audit", ada)
            #expect(page.body.contains("queue:dq ready (all)"))
        }
    }

    @Test func runningJobsAreNeverDeletedAndCancelAllVisitsEachOnce() async throws {
        try await HTTPHarness.with(configure: Self.configure()) { h in
            let dir = try TestEnvironment.makeTemporaryDirectory("dashboard-active")
            let node = try JobNodeProcess(
                ["run", "--namespace", h.namespace, "--name", "active-node", "--queues", "aq", "--concurrency", "4", "--heartbeat", "200ms"],
                logPath: "\(dir)/node.log")
            defer { node.process.signal(SIGKILL) }
            let sleeps = (0..<3).map { _ in
                JobQueue.Job(name: "jobkit.sleep", payload: ByteBuffer(string: #"{"ms":60000}"#), options: .init(queue: "aq"))
            }
            let ids = try await h.queue.enqueueBulk(sleeps).map(\.id)
            try await waitUntil(timeout: .seconds(20), "the node starting the jobs") { try await h.queue.counts("aq").active == 3 }
            let ada = try await Self.signIn(h, "ada")
            // A running job: delete is refused (409), by hand-made POST too; the record stays.
            let delete = try await Self.form(h, "/ui/jobs/\(ids[0])/delete", [("csrf", ada.csrf), ("confirm", "yes")], cookie: ada.cookie)
            #expect(delete.status == 409)
            #expect(try await h.queue.job(ids[0], queue: "aq")?.state == .active)
            // Cancel every active job: the running ones stay in `active` until their node stops them, and the walk
            // still visits each once and ends.
            let cancel = try await Self.form(
                h, "/ui/queues/aq/jobs", [("csrf", ada.csrf), ("action", "cancel"), ("state", "active"), ("scope", "all"), ("confirm", "yes")],
                cookie: ada.cookie)
            #expect(cancel.status == 303)
            let audit = try await DashboardAudit(redis: h.queue.redis, namespace: h.namespace).entries()
            #expect(audit.first?.action == "cancel" && audit.first?.count == 3)
            try await waitUntil(timeout: .seconds(20), "the node canceling the jobs") { try await h.queue.counts("aq").canceled == 3 }
            node.process.signal(SIGTERM)
            #expect(await node.process.wait() == 0)
        }
    }

    @Test func readOnlyRefusesEveryActionEvenForAnAdmin() async throws {
        try await HTTPHarness.with(configure: Self.configure(readOnly: true)) { h in
            let ids = try await Self.seed(h)
            let ada = try await Self.signIn(h, "ada")
            let page = try await Self.get(h, "/ui/queues/dq?state=dead", ada)
            #expect(page.body.contains("read-only"))
            #expect(!page.body.contains("name=\"action\"") && !page.body.contains("Purge"))
            #expect(try await Self.form(h, "/ui/jobs/\(ids[0])/retry", [("csrf", ada.csrf)], cookie: ada.cookie).status == 403)
            #expect(try await h.queue.counts("dq").dead == 3)
        }
    }

    @Test func signInAttemptsAreLimited() async throws {
        try await HTTPHarness.with(configure: Self.configure(loginLimit: .fixedWindow(3, per: .seconds(60)))) { h in
            for _ in 0..<3 {
                #expect(try await Self.form(h, "/ui/login", [("user", "ada"), ("password", "guess")]).status == 401)
            }
            let limited = try await Self.form(h, "/ui/login", [("user", "ada"), ("password", "pw")])
            #expect(limited.status == 429)
            #expect(limited.headers[.retryAfter] != nil)
            #expect(limited.body.contains("Too many sign-in attempts"))
        }
    }

    @Test func searchIsBoundedAndFindsPayloadFields() async throws {
        try await HTTPHarness.with(configure: Self.configure()) { h in
            var jobs = (0..<300).map { i in
                JobQueue.Job(name: "plaid.transactions.sync", payload: ByteBuffer(string: #"{"tenant":"t\#(i % 7)","item":"item-\#(i)"}"#), options: .init(queue: "sq"))
            }
            jobs.append(JobQueue.Job(name: "stripe.webhook", payload: ByteBuffer(string: #"{"customer":"cus_ABC","type":"invoice.paid"}"#), options: .init(queue: "sq")))
            _ = try await h.queue.enqueueBulk(jobs)
            let exact = try await h.queue.search(JobSearch(item: "item-42"), queues: ["sq"])
            #expect(exact.jobs.map(\.payload) == [#"{"tenant":"t0","item":"item-42"}"#])
            #expect(exact.next == nil && exact.scanned == 301)
            #expect(try await h.queue.search(JobSearch(customer: "cus_ABC")).jobs.map(\.name) == ["stripe.webhook"])
            // A budget of 100 reads 100 jobs, and the cursor resumes where it stopped.
            var seen = 0
            var cursor: String?
            var calls = 0
            repeat {
                let page = try await h.queue.search(JobSearch(name: "plaid.transactions.sync"), queues: ["sq"], cursor: cursor, budget: 100, limit: 1000)
                #expect(page.scanned <= 100)
                seen += page.jobs.count
                cursor = page.next
                calls += 1
            } while cursor != nil && calls < 10
            #expect(seen == 300)
            let ada = try await Self.signIn(h, "ada")
            let page = try await Self.get(h, "/ui/search?customer=cus_ABC", ada)
            #expect(page.body.contains("1 match among"))
            let bad = try await Self.get(h, "/ui/search?name=x&cursor=zz", ada)
            #expect(bad.status == 400)
        }
    }

    @Test func theFeedReadsRedisPerIntervalNotPerBrowser() async throws {
        try await HTTPHarness.with(configure: Self.configure()) { h in
            _ = try await Self.seed(h)
            let feed = try #require(h.server.dashboardFeed)
            // Three browsers on the same server.
            var streams: [AsyncStream<String>] = []
            for _ in 0..<3 { streams.append(await feed.subscribe()) }
            #expect(await feed.subscriberCount == 3)
            var frames: [[String]] = []
            for stream in streams {
                var got: [String] = []
                for await frame in stream where frame.hasPrefix("event: tick") {
                    got.append(frame)
                    if got.count == 3 { break }
                }
                frames.append(got)
            }
            #expect(frames.allSatisfy { $0.count == 3 })
            #expect(frames[0][0].contains("\"dead\":3"))
            let ticks = await feed.ticks
            let reads = await feed.reads
            // One read (one pipeline) per tick, plus one at the first tick: independent of the 3 browsers.
            #expect(reads == ticks + 1)
            // The SSE route answers an event stream.
            await feed.close()
            #expect(await feed.subscriberCount == 0)
        }
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import JobKit
import Logging
import NIOCore

/// The dashboard: server-rendered pages under `/ui` on the node's HTTP server, with sign-in, roles, CSRF
/// protection, an audit log and live updates over server-sent events. See `docs/dashboard.md`.
struct DashboardRoutes: Sendable {
    let configuration: DashboardConfiguration
    let queue: JobQueue
    let apiKeys: APIKeySet
    let ledger: WebhookLedger
    let feed: DashboardFeed
    let sessions: DashboardSessions
    let audit: DashboardAudit
    let renderer: DashboardRenderer
    let registry: NodeRegistry
    let schedules: ScheduleStore
    let limits: LimitStore
    let history: QueueHistory
    let loginLimiter: RateLimiter

    init(configuration: DashboardConfiguration, queue: JobQueue, apiKeys: APIKeySet, ledger: WebhookLedger, feed: DashboardFeed, secureCookie: Bool) throws {
        self.configuration = configuration
        self.queue = queue
        self.apiKeys = apiKeys
        self.ledger = ledger
        self.feed = feed
        let ns = queue.namespace
        self.sessions = DashboardSessions(
            store: SessionStore(redis: queue.redis, namespace: ns), secureCookie: secureCookie, ttl: configuration.sessionTTL,
            idle: configuration.sessionIdle)
        self.audit = DashboardAudit(redis: queue.redis, namespace: ns)
        self.renderer = try DashboardRenderer()
        self.registry = NodeRegistry(redis: queue.redis, namespace: ns)
        self.schedules = ScheduleStore(redis: queue.redis, namespace: ns)
        self.limits = LimitStore(redis: queue.redis, namespace: ns)
        self.history = QueueHistory(redis: queue.redis, namespace: ns)
        self.loginLimiter = RateLimiter(redis: queue.redis, namespace: ns, name: "ui-login", limit: configuration.loginLimit)
    }

    func register(on router: Router<JobKitRequestContext>) {
        let ui = router.group("ui").add(middleware: DashboardGuard(routes: self))
        ui.get("static/app.css") { _, _ in Self.asset(DashboardAssets.css, type: "text/css; charset=utf-8") }
        ui.get("static/app.js") { _, _ in Self.asset(DashboardAssets.js, type: "text/javascript; charset=utf-8") }
        ui.get("login") { request, _ in self.loginPage(next: request.uri.queryParameters["next"].map(String.init) ?? "/ui") }
        ui.post("login") { request, context in try await self.login(request, context) }
        ui.post("logout") { _, context in try await self.logout(context) }
        ui.get("events") { request, _ in
            let q = request.uri.queryParameters
            let job = q["job"].flatMap { id in q["queue"].map { (queue: String($0), id: String(id)) } }
            return await self.events(watching: job)
        }
        registerPages(on: ui)
        registerActions(on: ui)
    }

    static func asset(_ text: String, type: String) -> Response {
        var response = Response(status: .ok, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(string: text)))
        response.headers[.cacheControl] = "public, max-age=300"
        DashboardRenderer.secure(&response.headers)
        return response
    }

    // MARK: sign-in

    /// The role `name` has in the configuration now: a user's, or the API-key role for `key:<name>` while that key
    /// exists; `nil` when neither.
    func currentRole(of name: String) -> DashboardRole? {
        if name.hasPrefix("key:") {
            return apiKeys.names.contains(String(name.dropFirst(4))) ? configuration.apiKeyRole : nil
        }
        return configuration.users.role(of: name)
    }

    func loginPage(next: String, error: String? = nil, user: String = "", status: HTTPResponse.Status = .ok) -> Response {
        let model: [String: Any] = [
            "next": Self.safeNext(next), "error": error ?? false, "user": user, "noUsers": configuration.users.isEmpty,
        ]
        return DashboardRenderer.html(renderer.render("login", model), status: status)
    }

    /// Only a path inside the dashboard (never another host) is followed after sign-in.
    static func safeNext(_ next: String) -> String {
        next.hasPrefix("/ui") && !next.hasPrefix("//") && !next.contains("\\") ? next : "/ui"
    }

    func login(_ request: Request, _ context: JobKitRequestContext) async throws -> Response {
        let form = context.dashboardForm
        let user = form["user"]?.trimmingCharacters(in: .whitespaces) ?? ""
        let password = form["password"] ?? ""
        let next = form["next"] ?? "/ui"
        // Limited per client address and per user name, before any password is checked.
        // An API key sign-in (empty user) is limited per address only: a shared "user:" bucket would let anyone
        // lock every key out.
        for key in ["ip:" + (context.remoteAddress ?? "?")] + (user.isEmpty ? [] : ["user:" + user]) {
            let decision = try await loginLimiter.acquire(key)
            if !decision.allowed {
                let wait = max(1, Int((Double(decision.retryAfter.milliseconds) / 1000).rounded(.up)))
                context.logger.warning("Dashboard sign-in limited", metadata: ["ui.user": "\(user)", "limit.key": "\(key.hasPrefix("ip:") ? "ip" : "user")"])
                var response = loginPage(next: next, error: "Too many sign-in attempts; try again in \(wait) s.", user: user, status: .tooManyRequests)
                response.headers[.retryAfter] = String(wait)
                return response
            }
        }
        let name: String
        let role: DashboardRole
        if user.isEmpty {
            guard !password.isEmpty, let key = apiKeys.authenticate(Substring(password)) else {
                return loginPage(next: next, error: "Unknown API key.", status: .unauthorized)
            }
            name = "key:" + key.name
            role = configuration.apiKeyRole
        } else {
            guard let found = await configuration.users.verify(name: user, password: password) else {
                context.logger.notice("Dashboard sign-in refused", metadata: ["ui.user": "\(user)"])
                return loginPage(next: next, error: "Wrong user name or password.", user: user, status: .unauthorized)
            }
            name = user
            role = found
        }
        let (_, cookie) = try await sessions.open(user: name, role: role)
        context.logger.notice("Dashboard sign-in", metadata: ["ui.user": "\(name)", "ui.role": "\(role.rawValue)"])
        var response = DashboardRenderer.redirect(Self.safeNext(next))
        response.setCookie(cookie)
        return response
    }

    func logout(_ context: JobKitRequestContext) async throws -> Response {
        if let id = context.dashboardViewer?.sessionID { try await sessions.close(id) }
        var response = DashboardRenderer.redirect("/ui/login")
        response.setCookie(sessions.cookie("", maxAge: 0))
        return response
    }

    // MARK: flash messages

    /// The cookie that carries "what an action did" to the page it redirects to. Only this server sets it
    /// (`SameSite=Strict`, `HttpOnly`), so a crafted link cannot put words in the banner.
    static let flashCookie = "jobkit_ui_flash"

    func flashCookie(_ message: String) -> Cookie {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let value = message.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
        return Cookie(
            name: Self.flashCookie, value: String(value.prefix(3000)), maxAge: message.isEmpty ? 0 : 60, path: "/ui",
            secure: sessions.secureCookie, httpOnly: true, sameSite: .strict)
    }

    // MARK: live feed

    /// `GET /ui/events`: `text/event-stream` of `tick` events from the shared ``DashboardFeed``.
    func events(watching job: (queue: String, id: String)?) async -> Response {
        let stream = await feed.subscribe(watching: job)
        var response = Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"],
            body: ResponseBody { writer in
                for await frame in stream {
                    try await writer.write(ByteBuffer(string: frame))
                }
                try await writer.finish(nil)
            })
        DashboardRenderer.secure(&response.headers)
        return response
    }
}

/// The `/ui` group's guard: reads the posted form, refuses cross-site requests and missing CSRF tokens,
/// authenticates (session cookie or API key), and turns errors into pages.
struct DashboardGuard: RouterMiddleware {
    typealias Context = JobKitRequestContext
    let routes: DashboardRoutes

    func handle(_ request: Request, context: JobKitRequestContext, next: (Request, JobKitRequestContext) async throws -> Response) async throws -> Response {
        var context = context
        do {
            let path = request.uri.path
            if path.hasPrefix("/ui/static/") { return try await next(request, context) }
            var request = request
            let posting = request.method == .post
            if posting {
                try Self.refuseCrossSite(request)
                let body = try await request.collectBody(upTo: 64 << 10)
                context.dashboardForm = DashboardForm(encoded: String(buffer: body))
            }
            if path == "/ui/login" { return try await next(request, context) }
            var viewer: DashboardViewer?
            if let identity = context.identity {
                viewer = DashboardViewer(name: "key:" + identity.name, role: routes.configuration.apiKeyRole, csrf: "", sessionID: nil)
            } else if let cookie = request.cookies[DashboardSessions.cookieName], !cookie.value.isEmpty,
                var session = try await routes.sessions.viewer(sessionID: cookie.value)
            {
                // The role is the configuration's now, not the one at sign-in: a user (or key) removed or demoted
                // since loses the session's rights at once.
                if let current = routes.currentRole(of: session.name) {
                    session.role = current
                    viewer = session
                } else {
                    try await routes.sessions.close(cookie.value)
                    context.logger.notice("Dashboard session ended: its user is no longer configured", metadata: ["ui.user": "\(session.name)"])
                }
            }
            guard let viewer else {
                if request.method == .get || request.method == .head {
                    let target = path + (request.uri.query.map { "?" + $0 } ?? "")
                    return DashboardRenderer.redirect("/ui/login?next=" + urlEncode(target))
                }
                throw DashboardError(.unauthorized, "Sign in first.")
            }
            if posting && !viewer.viaAPIKey {
                let sent = context.dashboardForm["csrf"] ?? ""
                guard !sent.isEmpty, ConstantTime.equal(Array(sent.utf8), Array(viewer.csrf.utf8)) else {
                    throw DashboardError(.forbidden, "The form's security token is missing or stale. Reload the page and try again.")
                }
            }
            context.dashboardViewer = viewer
            context.logger[metadataKey: "ui.user"] = .string(viewer.name)
            var response = try await next(request, context)
            // A flash message is shown once: the page that showed it clears its cookie.
            if request.method == .get, request.cookies[DashboardRoutes.flashCookie] != nil, response.status == .ok,
                response.headers[.setCookie] == nil
            {
                response.setCookie(routes.flashCookie(""))
            }
            return response
        } catch let error as DashboardError {
            return routes.errorPage(error, viewer: context.dashboardViewer)
        } catch let error as HTTPError {
            return routes.errorPage(DashboardError(error.status, error.body ?? error.status.reasonPhrase), viewer: context.dashboardViewer)
        } catch {
            context.logger.error("Dashboard request failed", metadata: ["error": "\(error)", "request.id": "\(context.requestID)"])
            return routes.errorPage(
                DashboardError(.serviceUnavailable, "The dashboard could not read Redis or PostgreSQL (request \(context.requestID)). Nothing was changed unless the page said so."),
                viewer: context.dashboardViewer)
        }
    }

    /// Refuses a POST that a browser marks as coming from another site (`Sec-Fetch-Site`), or whose `Origin`
    /// is not this server.
    static func refuseCrossSite(_ request: Request) throws {
        if let site = request.headers[HTTPField.Name("Sec-Fetch-Site")!], site != "same-origin", site != "none" {
            throw DashboardError(.forbidden, "Cross-site requests are refused.")
        }
        if let origin = request.headers[.origin] {
            let host = request.head.authority ?? ""
            let stripped = origin.replacingOccurrences(of: "https://", with: "").replacingOccurrences(of: "http://", with: "")
            guard origin != "null", !host.isEmpty, stripped == host else {
                throw DashboardError(.forbidden, "Cross-site requests are refused.")
            }
        }
    }
}

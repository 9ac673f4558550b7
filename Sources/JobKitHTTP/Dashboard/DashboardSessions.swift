import Foundation
import Hummingbird
import JobKit

/// Who is looking at the dashboard: a signed-in user (session cookie) or an API key (`Authorization: Bearer`).
public struct DashboardViewer: Sendable, Equatable {
    public var name: String
    public var role: DashboardRole
    /// The session's CSRF token (empty for an API key: a bearer header is not sent by a browser on its own).
    public var csrf: String
    public var sessionID: String?

    /// True for an API key: no cookie, so no CSRF token needed.
    public var viaAPIKey: Bool { sessionID == nil }
}

/// Dashboard sessions in the session store of the limits issue (tenant `_dashboard`), and the cookie that
/// names them: `HttpOnly`, `SameSite=Strict`, `Path=/ui`, `Secure` when served over TLS.
struct DashboardSessions: Sendable {
    static let cookieName = "jobkit_ui"
    static let tenant = "_dashboard"
    let store: SessionStore
    let secureCookie: Bool
    let ttl: Duration
    let idle: Duration

    /// Opens a session; returns the viewer and the `Set-Cookie` value.
    func open(user: String, role: DashboardRole) async throws -> (DashboardViewer, Cookie) {
        let csrf = Self.token()
        let session = try await store.create(tenant: Self.tenant, user: user, data: role.rawValue + " " + csrf, ttl: ttl, idle: idle)
        let viewer = DashboardViewer(name: user, role: role, csrf: csrf, sessionID: session.id)
        return (viewer, cookie(session.id, maxAge: Int(ttl.components.seconds)))
    }

    /// The viewer of a session id, sliding its idle time; `nil` when it expired or was revoked.
    func viewer(sessionID: String) async throws -> DashboardViewer? {
        guard let session = try await store.get(sessionID), session.tenant == Self.tenant else { return nil }
        let parts = session.data.split(separator: " ", maxSplits: 1).map(String.init)
        guard parts.count == 2, let role = DashboardRole(rawValue: parts[0]) else { return nil }
        return DashboardViewer(name: session.user, role: role, csrf: parts[1], sessionID: session.id)
    }

    func close(_ sessionID: String) async throws { _ = try await store.revoke(sessionID) }

    func cookie(_ value: String, maxAge: Int) -> Cookie {
        Cookie(name: Self.cookieName, value: value, maxAge: maxAge, path: "/ui", secure: secureCookie, httpOnly: true, sameSite: .strict)
    }

    /// 32 random bytes as hex.
    static func token() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &g)) }.joined()
    }
}

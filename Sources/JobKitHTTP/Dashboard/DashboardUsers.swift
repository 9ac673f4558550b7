import Foundation
import HummingbirdBcrypt
import NIOPosix

/// What a dashboard user may do. Each role can do what the ones below it can.
public enum DashboardRole: String, Sendable, Comparable, CaseIterable {
    /// Reads every page; no actions.
    case viewer
    /// Retries, cancels, pauses and resumes queues, triggers and toggles schedules, drains nodes.
    case `operator`
    /// Also purges queues, deletes jobs, moves jobs to dead and shuts nodes down.
    case admin

    var rank: Int {
        switch self {
        case .viewer: 0
        case .operator: 1
        case .admin: 2
        }
    }

    public static func < (a: DashboardRole, b: DashboardRole) -> Bool { a.rank < b.rank }
}

/// The dashboard's users, from `JOBKIT_UI_USERS`: `name:role:bcrypt-hash` entries separated by commas or
/// newlines, or `@path` to read them from a file. Hashes are bcrypt (`$2b$…`, as `htpasswd -B` or
/// hummingbird-auth's `Bcrypt.hash` make them); the passwords themselves are never configured.
public struct DashboardUsers: Sendable {
    struct Entry: Sendable {
        var role: DashboardRole
        var hash: String
    }
    private let entries: [String: Entry]

    /// No users: only API keys can sign in.
    public static let none = DashboardUsers(entries: [:])

    init(entries: [String: Entry]) { self.entries = entries }

    /// The configured role of `name`; `nil` when the user is not configured (any more).
    public func role(of name: String) -> DashboardRole? { entries[name]?.role }

    /// True when no user is configured.
    public var isEmpty: Bool { entries.isEmpty }
    /// The configured names, sorted.
    public var names: [String] { entries.keys.sorted() }

    /// A bad `JOBKIT_UI_USERS` entry (the message never contains a hash).
    public struct ParseError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Parses `name:role:hash` entries (commas or newlines between them; blank lines and `#` comments
    /// skipped).
    ///
    /// - Throws: ``ParseError`` naming the entry's position and what is wrong.
    public static func parse(_ text: String) throws -> DashboardUsers {
        var entries: [String: Entry] = [:]
        let items = text.split(whereSeparator: { $0 == "," || $0 == "\n" }).map { $0.trimmingCharacters(in: .whitespaces) }
        for (i, item) in items.enumerated() where !item.isEmpty && !item.hasPrefix("#") {
            let parts = item.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3, !parts[0].isEmpty else {
                throw ParseError(message: "entry \(i + 1) is not name:role:bcrypt-hash")
            }
            guard let role = DashboardRole(rawValue: parts[1]) else {
                throw ParseError(message: "entry \(i + 1) (\(parts[0])): role '\(parts[1])' is not viewer, operator or admin")
            }
            guard parts[2].hasPrefix("$2"), parts[2].count == 60 else {
                throw ParseError(message: "entry \(i + 1) (\(parts[0])): the hash is not a bcrypt hash ($2a$/$2b$/$2y$, 60 characters)")
            }
            guard entries[parts[0]] == nil else { throw ParseError(message: "user '\(parts[0])' is configured twice") }
            entries[parts[0]] = Entry(role: role, hash: parts[2])
        }
        return DashboardUsers(entries: entries)
    }

    /// `JOBKIT_UI_USERS` (inline, or `@path`); ``none`` when unset or empty.
    ///
    /// - Throws: ``ParseError`` for a bad entry or an unreadable file.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> DashboardUsers {
        guard var text = environment["JOBKIT_UI_USERS"], !text.isEmpty else { return .none }
        if text.hasPrefix("@") {
            let path = String(text.dropFirst())
            guard let data = FileManager.default.contents(atPath: path), let contents = String(data: data, encoding: .utf8) else {
                throw ParseError(message: "cannot read \(path)")
            }
            text = contents
        }
        return try parse(text)
    }

    /// A `JOBKIT_UI_USERS` entry (`name:role:bcrypt-hash`) for a new password, hashed on NIO's thread pool
    /// (`jobnode ui-user`). Cost 12 by default, as hummingbird-auth's.
    public static func entry(name: String, role: DashboardRole, password: String, cost: UInt8 = 12) async throws -> String {
        guard !name.isEmpty, !name.contains(":"), !name.contains(","), !name.contains(where: \.isWhitespace) else {
            throw ParseError(message: "a user name is not empty and has no ':', ',' or space")
        }
        let hash = try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
        return "\(name):\(role.rawValue):\(hash)"
    }

    /// Checks a name and password; the user's role when they match. bcrypt runs on NIO's thread pool, never on
    /// the cooperative pool, and an unknown name costs the same as a wrong password.
    public func verify(name: String, password: String) async -> DashboardRole? {
        let entry = entries[name]
        // An unknown name is checked against another user's hash, so that it takes as long as a wrong password.
        guard let hash = entry?.hash ?? entries.values.first?.hash else { return nil }
        let ok = (try? await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }) ?? false
        guard ok, let entry else { return nil }
        return entry.role
    }
}

import Foundation
import JobKit

/// The API keys a server accepts, parsed from `JOBKIT_API_KEYS`.
///
/// The variable holds comma-separated `name:secret` pairs (`ops:9f2c…,ci:71ab…`), or `@/path/to/file` naming
/// a file that holds the same, with commas or newlines between pairs (blank lines and `#` comments are
/// skipped). Clients send a secret as `Authorization: Bearer <secret>`; the server logs the key's name, never
/// its secret.
public struct APIKeySet: Sendable, CustomStringConvertible {
    struct Key: Sendable {
        var name: String
        var secret: [UInt8]
    }

    private let keys: [Key]

    /// No keys: every protected route refuses every request.
    public static let none = APIKeySet(keys: [])

    private init(keys: [Key]) { self.keys = keys }

    /// Parses `name:secret` pairs separated by commas or newlines.
    ///
    /// - Throws: ``APIKeySet/ParseError`` for a pair without a name or a secret, or a name given twice.
    public init(parsing text: String) throws {
        var keys: [Key] = []
        let entries = text.split(whereSeparator: { $0 == "," || $0 == "\n" || $0 == "\r" })
        for raw in entries {
            let entry = raw.trimmingCharacters(in: .whitespaces)
            if entry.isEmpty || entry.hasPrefix("#") { continue }
            guard let colon = entry.firstIndex(of: ":") else {
                throw ParseError(message: "API key entry \(keys.count + 1) has no ':' (expected name:secret)")
            }
            let name = String(entry[..<colon])
            let secret = String(entry[entry.index(after: colon)...])
            guard !name.isEmpty else { throw ParseError(message: "API key entry \(keys.count + 1) has an empty name") }
            guard !secret.isEmpty else { throw ParseError(message: "API key '\(name)' has an empty secret") }
            guard !keys.contains(where: { $0.name == name }) else {
                throw ParseError(message: "API key name '\(name)' appears twice")
            }
            keys.append(Key(name: name, secret: Array(secret.utf8)))
        }
        self.keys = keys
    }

    /// The keys from `JOBKIT_API_KEYS` in `environment`: inline pairs, or `@path` to a file of them. No
    /// variable (or an empty one) means no keys.
    ///
    /// - Throws: ``APIKeySet/ParseError`` for a malformed value or a file that can't be read.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> APIKeySet {
        guard let value = environment["JOBKIT_API_KEYS"]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else {
            return .none
        }
        if value.hasPrefix("@") {
            let path = String(value.dropFirst())
            guard let contents = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ParseError(message: "JOBKIT_API_KEYS names \(path), which can't be read")
            }
            return try APIKeySet(parsing: contents)
        }
        return try APIKeySet(parsing: value)
    }

    /// True when no key is configured.
    public var isEmpty: Bool { keys.isEmpty }
    /// The keys' names, in the order given.
    public var names: [String] { keys.map(\.name) }

    /// The key whose secret is `token`, or `nil`.
    ///
    /// Every key is compared, each in time that depends only on the secret's length, so the answer's timing
    /// tells nothing about which bytes of a guess were right.
    public func authenticate(_ token: Substring) -> APIKeyIdentity? {
        var match: Int = -1
        let candidate = Array(token.utf8)
        for (index, key) in keys.enumerated() where ConstantTime.equal(candidate, key.secret) {
            match = index
        }
        return match >= 0 ? APIKeyIdentity(name: keys[match].name) : nil
    }


    /// Names only, never secrets.
    public var description: String { "APIKeySet(\(names.joined(separator: ", ")))" }

    /// A malformed `JOBKIT_API_KEYS` value.
    public struct ParseError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }
}

import Crypto
import Foundation
import JobKit

/// Encrypts provider tokens at rest (Plaid access tokens): AES-256-GCM under a key from `JOBKIT_TOKEN_KEY`
/// (base64 of 32 bytes), with the row it belongs to as associated data, so a ciphertext copied to another row
/// does not open.
///
/// Each ciphertext is stored beside its key's id (the first 8 bytes of SHA-256 of the key, hex), so keys can
/// rotate: set the new key in `JOBKIT_TOKEN_KEY` and the old ones in `JOBKIT_TOKEN_KEYS_PREVIOUS`
/// (comma-separated); rows sealed under an old key still open, and ``PlaidStore`` seals them again under the
/// new one when it next reads them. Nothing here logs or describes a token or a key.
public struct TokenCipher: Sendable, CustomStringConvertible {
    struct Key: Sendable {
        let id: String
        let key: SymmetricKey
    }
    let current: Key
    let keys: [String: Key]

    /// - Parameters:
    ///   - key: base64 of 32 bytes, the key new ciphertexts use.
    ///   - previous: base64 keys that still open older ciphertexts.
    /// - Throws: ``TokenCipherError`` for a key that is not base64 of 32 bytes.
    public init(key: String, previous: [String] = []) throws {
        func make(_ text: String, _ name: String) throws -> Key {
            guard let data = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)), data.count == 32 else {
                throw TokenCipherError("\(name) must be base64 of 32 bytes (e.g. `openssl rand -base64 32`)")
            }
            let digest = SHA256.hash(data: data)
            let id = Hex.lowercase(digest.prefix(8))
            return Key(id: id, key: SymmetricKey(data: data))
        }
        current = try make(key, "JOBKIT_TOKEN_KEY")
        var keys = [current.id: current]
        for (i, text) in previous.enumerated() {
            let key = try make(text, "JOBKIT_TOKEN_KEYS_PREVIOUS[\(i)]")
            keys[key.id] = keys[key.id] ?? key
        }
        self.keys = keys
    }

    /// The cipher from `JOBKIT_TOKEN_KEY` (and `JOBKIT_TOKEN_KEYS_PREVIOUS`), or nil when it is unset.
    ///
    /// - Throws: ``TokenCipherError`` for a malformed key.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> TokenCipher? {
        guard let key = env["JOBKIT_TOKEN_KEY"], !key.isEmpty else { return nil }
        let previous = (env["JOBKIT_TOKEN_KEYS_PREVIOUS"] ?? "").split(separator: ",").map(String.init).filter { !$0.isEmpty }
        return try TokenCipher(key: key, previous: previous)
    }

    /// The id of the key new ciphertexts use.
    public var keyID: String { current.id }

    /// Seals `token` for the row `context` names (e.g. `plaid_items:<item_id>`): nonce ‖ ciphertext ‖ tag.
    public func seal(_ token: String, context: String) throws -> (ciphertext: [UInt8], keyID: String) {
        let box = try AES.GCM.seal(Data(token.utf8), using: current.key, authenticating: Data(context.utf8))
        guard let combined = box.combined else { throw TokenCipherError("AES-GCM gave no combined box") }
        return (Array(combined), current.id)
    }

    /// Opens what ``seal(_:context:)`` made for the same `context`.
    ///
    /// - Throws: ``TokenCipherError`` when the key id is unknown (rotated away) or the ciphertext does not
    ///   authenticate (tampered, or moved to another row).
    public func open(_ ciphertext: [UInt8], keyID: String, context: String) throws -> String {
        guard let key = keys[keyID] else {
            throw TokenCipherError("token sealed under key \(keyID), which is neither JOBKIT_TOKEN_KEY nor in JOBKIT_TOKEN_KEYS_PREVIOUS")
        }
        do {
            let box = try AES.GCM.SealedBox(combined: Data(ciphertext))
            let plain = try AES.GCM.open(box, using: key.key, authenticating: Data(context.utf8))
            return String(decoding: plain, as: UTF8.self)
        } catch {
            throw TokenCipherError("token ciphertext for \(context) does not authenticate under key \(keyID)")
        }
    }

    public var description: String { "TokenCipher(key \(current.id), \(keys.count - 1) previous)" }
}

/// A token could not be sealed or opened; the message names the key id, never the key or the token.
public struct TokenCipherError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

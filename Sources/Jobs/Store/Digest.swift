import Crypto
import Foundation
import JobKit

/// Hex digests the stores and jobs key things by (public tokens, webhook bodies).
public enum Digest {
    /// Lowercase hex of SHA-256 of `bytes`.
    public static func sha256Hex(_ bytes: some DataProtocol) -> String {
        Hex.lowercase(SHA256.hash(data: bytes))
    }

    /// Lowercase hex of SHA-256 of the UTF-8 of `text`.
    public static func sha256Hex(_ text: String) -> String { sha256Hex(Data(text.utf8)) }
}

import Crypto
import Foundation

/// Hex digests the stores and jobs key things by (public tokens, webhook bodies).
public enum Digest {
    /// Lowercase hex of SHA-256 of `bytes`.
    public static func sha256Hex(_ bytes: some DataProtocol) -> String {
        SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }

    /// Lowercase hex of SHA-256 of the UTF-8 of `text`.
    public static func sha256Hex(_ text: String) -> String { sha256Hex(Data(text.utf8)) }
}

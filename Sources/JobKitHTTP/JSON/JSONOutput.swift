import Foundation
import NIOCore

/// The one JSON shape of JobKit's machine-readable output: keys sorted, slashes unescaped. `jobnode … --json`
/// prints these bytes and a newline; the HTTP API answers with them, so the CLI and the API share field names
/// and layout.
public enum JSONOutput {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// `value` encoded as JobKit's JSON output.
    ///
    /// - Throws: `EncodingError` from the value's `encode(to:)`.
    public static func data<T: Encodable>(_ value: T) throws -> Data {
        try encoder.encode(value)
    }

    /// `value` encoded as JobKit's JSON output, in a buffer.
    public static func encode<T: Encodable>(_ value: T) throws -> ByteBuffer {
        ByteBuffer(data: try encoder.encode(value))
    }
}

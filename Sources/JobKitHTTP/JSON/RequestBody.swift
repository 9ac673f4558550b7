import Foundation
import Hummingbird
import NIOCore

/// Reads and decodes request bodies with the API's limits and error codes.
public enum RequestBody {
    /// The body, at most `limit` bytes.
    ///
    /// - Throws: ``APIError`` `payload_too_large` (413) when it is longer (checked against `Content-Length`
    ///   first, so an oversized body is refused before it is read).
    public static func collect(_ request: Request, limit: Int) async throws -> ByteBuffer {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw APIError(.contentTooLarge, code: "payload_too_large", "the request body is \(length) bytes, over the \(limit)-byte limit")
        }
        do {
            return try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, code: "payload_too_large", "the request body is over the \(limit)-byte limit")
        }
    }

    /// Decodes `T` from `buffer`, mapping decoding failures to ``APIError``s that name the field.
    public static func decode<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw apiError(error)
        }
    }

    /// The field a decoding error is about, as a JSON path (`jobs[3].priority`).
    static func path(_ codingPath: [any CodingKey]) -> String {
        var out = ""
        for key in codingPath {
            if let index = key.intValue {
                out += "[\(index)]"
            } else {
                out += out.isEmpty ? key.stringValue : "." + key.stringValue
            }
        }
        return out
    }

    static func apiError(_ error: DecodingError) -> APIError {
        switch error {
        case .keyNotFound(let key, let context):
            let field = path(context.codingPath + [key])
            return APIError(.badRequest, code: "missing_field", "field '\(field)' is required")
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            let field = path(context.codingPath)
            if field.isEmpty { return APIError(.badRequest, code: "malformed_json", "the body must be a JSON object") }
            return .invalidField(field, "expected \(typeName(type))")
        case .dataCorrupted(let context):
            let field = path(context.codingPath)
            if field.isEmpty {
                return APIError(.badRequest, code: "malformed_json", "the body is not valid JSON")
            }
            return .invalidField(field, context.debugDescription)
        @unknown default:
            return APIError(.badRequest, code: "malformed_json", "the body could not be decoded")
        }
    }

    static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type, is Int64.Type: return "an integer"
        case is Double.Type: return "a number"
        case is Bool.Type: return "true or false"
        default: return "a different type"
        }
    }
}

/// A coding key for any field name: lets a decoder see every key of an object, to refuse unknown ones.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(_ string: String) { self.stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }
}

extension KeyedDecodingContainer where Key == AnyKey {
    /// Throws ``APIError`` `unknown_field` for the first key not in `allowed`.
    func refuseUnknownKeys(_ allowed: Set<String>) throws {
        for key in allKeys where !allowed.contains(key.stringValue) {
            let field = RequestBody.path(codingPath + [key])
            throw APIError(.badRequest, code: "unknown_field", "unknown field '\(field)'")
        }
    }

    func optional<T: Decodable>(_ type: T.Type, _ name: String) throws -> T? {
        try decodeIfPresent(T.self, forKey: AnyKey(name))
    }
}

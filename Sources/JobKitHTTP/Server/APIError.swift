import HTTPTypes
import Hummingbird
import JobKit
import NIOCore

/// An error answered as `{"error": {"code": "...", "message": "..."}}` with an HTTP status.
///
/// Codes are stable (clients match on them); messages are for people and may change. The codes:
///
/// | code | status | when |
/// | --- | --- | --- |
/// | `unauthorized` | 401 | no API key, or an unknown one |
/// | `not_found` | 404 | no such route |
/// | `method_not_allowed` | 405 | the route exists for other methods |
/// | `payload_too_large` | 413 | the body is over the server's limit, or a job payload over the engine's |
/// | `malformed_json` | 400 | the body is not JSON, or not a JSON object |
/// | `unknown_field` | 400 | the body has a field the endpoint does not take |
/// | `missing_field` | 400 | a required field is absent |
/// | `invalid_field` | 400 | a field has the wrong type or an out-of-range value |
/// | `batch_too_large` | 400 | more than 1,000 jobs in one batch |
/// | `job_not_found` | 404 | no job with that id |
/// | `queue_not_found` | 404 | the queue has never been used |
/// | `invalid_state` | 409 | the job is not in a state that allows the operation |
/// | `rate_limited` | 429 | an HTTP rate limit is reached (`Retry-After` says when to retry) |
/// | `redis_unavailable` | 503 | Redis did not answer |
/// | `internal_error` | 500 | anything else (logged with the request id) |
public struct APIError: Error, Sendable, CustomStringConvertible {
    /// The HTTP status.
    public var status: HTTPResponse.Status
    /// The stable code.
    public var code: String
    /// A message for people.
    public var message: String

    public init(_ status: HTTPResponse.Status, code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }

    static func unauthorized() -> APIError {
        APIError(.unauthorized, code: "unauthorized", "this endpoint needs an API key: send Authorization: Bearer <secret>")
    }
    static func invalidField(_ field: String, _ message: String) -> APIError {
        APIError(.badRequest, code: "invalid_field", "field '\(field)': \(message)")
    }
    static func jobNotFound(_ id: String) -> APIError { APIError(.notFound, code: "job_not_found", "job \(id) not found") }

    /// The JSON body of this error.
    func body() -> ByteBuffer {
        struct Envelope: Encodable {
            struct Inner: Encodable {
                var code: String
                var message: String
            }
            var error: Inner
        }
        let data = (try? JSONOutput.encode(Envelope(error: .init(code: code, message: message)))) ?? ByteBuffer()
        return data
    }

    /// The response for this error.
    func response() -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: body()))
    }

    /// Maps any error thrown by a handler or middleware to the API's error shape.
    static func from(_ error: any Error) -> APIError? {
        switch error {
        case let error as APIError:
            return error
        case let error as QueueError:
            switch error.code {
            case .payloadTooLarge: return APIError(.contentTooLarge, code: "payload_too_large", error.message)
            case .invalidOptions: return APIError(.badRequest, code: "invalid_field", error.message)
            case .jobNotFound: return APIError(.notFound, code: "job_not_found", error.message)
            case .unknownQueue: return APIError(.notFound, code: "queue_not_found", error.message)
            case .invalidState: return APIError(.conflict, code: "invalid_state", error.message)
            default: return nil
            }
        case let error as RedisError:
            return APIError(.serviceUnavailable, code: "redis_unavailable", "Redis did not answer: \(error.code)")
        case is NIOTooManyBytesError:
            return APIError(.contentTooLarge, code: "payload_too_large", "the request body is over the server's limit")
        case let error as HTTPError:
            switch error.status {
            case .unauthorized: return .unauthorized()
            case .notFound: return APIError(.notFound, code: "not_found", "no such route")
            case .methodNotAllowed: return APIError(.methodNotAllowed, code: "method_not_allowed", "method not allowed here")
            case .contentTooLarge:
                return APIError(.contentTooLarge, code: "payload_too_large", "the request body is over the server's limit")
            default:
                return APIError(error.status, code: "http_\(error.status.code)", error.body ?? error.status.reasonPhrase)
            }
        default:
            return nil
        }
    }
}

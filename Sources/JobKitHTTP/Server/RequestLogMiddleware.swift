import HTTPTypes
import Hummingbird
import Logging

/// Gives each request its id (the `X-Request-Id` header, or a new one), echoes it in the response, and logs
/// one line per request at info: method, route (the matched template, not the path, so that ids stay out of
/// it), status, duration and request id.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = JobKitRequestContext
    static let requestIDField = HTTPField.Name("X-Request-Id")!

    func handle(
        _ request: Request, context: JobKitRequestContext, next: (Request, JobKitRequestContext) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        var context = context
        let requestID = Self.validRequestID(request.headers[Self.requestIDField]) ?? RequestIDs.make()
        context.requestID = requestID
        context.logger[metadataKey: "request.id"] = .string(requestID)
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            // ErrorMiddleware sits inside this one; whatever still escapes is logged as 500 here.
            if let apiError = APIError.from(error) { response = apiError.response() } else {
                response = APIError(.internalServerError, code: "internal_error", "internal error (request \(requestID))").response()
            }
        }
        response.headers[Self.requestIDField] = requestID
        let elapsed = ContinuousClock.now - start
        if context.logger.logLevel <= .info {
            context.logger.info(
                "HTTP request",
                metadata: [
                    "http.method": .string(request.method.rawValue),
                    "http.route": .string(context.endpointPath ?? "unmatched"),
                    "http.status": .stringConvertible(response.status.code),
                    "duration_ms": .string(Self.milliseconds(elapsed)),
                ])
        }
        return response
    }

    /// A client's request id, if it is 1-128 printable ASCII characters without spaces; else `nil` (a new one
    /// is made), so that ids stay safe to log and to store.
    static func validRequestID(_ value: String?) -> String? {
        guard let value, !value.isEmpty, value.utf8.count <= 128,
            value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else { return nil }
        return value
    }

    static func milliseconds(_ d: Duration) -> String {
        let (seconds, attoseconds) = d.components
        let micros = seconds * 1_000_000 + attoseconds / 1_000_000_000_000
        return "\(micros / 1000).\(String(micros % 1000).leftPadded(to: 3))"
    }
}

/// Request ids: 20 random lowercase base-32 characters (100 bits from two draws of the system generator; an
/// id correlates log lines, it guards nothing).
enum RequestIDs {
    static let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz".utf8)
    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        var bits = (generator.next() as UInt64, generator.next() as UInt64)
        return String(unsafeUninitializedCapacity: 20) { buffer in
            for i in 0..<20 {
                if i == 10 { bits.0 = bits.1 }
                buffer[i] = alphabet[Int(bits.0 & 31)]
                bits.0 >>= 5
            }
            return 20
        }
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

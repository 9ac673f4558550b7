import Hummingbird
import Logging

/// Turns every error a handler or an inner middleware throws into the API's JSON error shape
/// (``APIError``); errors it does not know become `internal_error` (500), logged with the request id.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = JobKitRequestContext

    func handle(
        _ request: Request, context: JobKitRequestContext, next: (Request, JobKitRequestContext) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            if let apiError = APIError.from(error) { return apiError.response() }
            context.logger.error("HTTP handler failed", metadata: ["error": "\(error)", "request.id": "\(context.requestID)"])
            return APIError(.internalServerError, code: "internal_error", "internal error (request \(context.requestID))").response()
        }
    }
}

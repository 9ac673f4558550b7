import Hummingbird
import HummingbirdAuth

/// Authenticates `Authorization: Bearer <secret>` against an ``APIKeySet`` and puts the key's name into the
/// context and its logger (`api.key`). A request without a matching key goes on anonymous; routes that need a
/// key sit behind `IsAuthenticatedMiddleware`, which answers 401.
public struct APIKeyAuthenticator: AuthenticatorMiddleware {
    public typealias Context = JobKitRequestContext
    public typealias Identity = APIKeyIdentity
    let keys: APIKeySet

    public init(keys: APIKeySet) { self.keys = keys }

    public func authenticate(request: Request, context: JobKitRequestContext) async throws -> APIKeyIdentity? {
        guard !keys.isEmpty, let bearer = request.headers.bearer else { return nil }
        return keys.authenticate(Substring(bearer.token))
    }

    public func handle(
        _ request: Request, context: JobKitRequestContext,
        next: (Request, JobKitRequestContext) async throws -> Response
    ) async throws -> Response {
        guard let identity = try await authenticate(request: request, context: context) else {
            return try await next(request, context)
        }
        var context = context
        context.identity = identity
        context.logger[metadataKey: "api.key"] = .string(identity.name)
        return try await next(request, context)
    }
}

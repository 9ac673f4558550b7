import HTTPTypes
import Hummingbird
import JobKit
import Logging

/// A rate limit on the HTTP surface, decided by the same Redis limiters as the engine's (so every node that
/// serves HTTP shares one count): per client (the API key's name; `anonymous` without one) or per route, on the
/// paths under a prefix. A request over the limit gets 429 `rate_limited` with `Retry-After` (whole seconds,
/// rounded up) and is not handled. When Redis can't be asked, requests pass (a limiter must not take the API
/// down with Redis; the handlers then answer 503 themselves where they need Redis).
public struct HTTPRateLimit: Sendable {
    public enum Scope: String, Sendable {
        /// One count per API key name.
        case client
        /// One count per path (webhook endpoints: one count per provider).
        case route
    }
    /// Names the limiter's keys (`http.<name>`).
    public var name: String
    /// Only paths starting with this (`/v1/`, `/webhooks/`).
    public var pathPrefix: String
    public var scope: Scope
    public var limit: RateLimit

    public init(name: String, pathPrefix: String, scope: Scope, limit: RateLimit) {
        self.name = name
        self.pathPrefix = pathPrefix
        self.scope = scope
        self.limit = limit
    }
}

/// Applies the server's ``HTTPRateLimit``s (after authentication, so the key's name is known).
struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = JobKitRequestContext
    let limiters: [(HTTPRateLimit, RateLimiter)]

    init(limits: [HTTPRateLimit], redis: RedisPool, namespace: String) {
        self.limiters = limits.map { ($0, RateLimiter(redis: redis, namespace: namespace, name: "http.\($0.name)", limit: $0.limit)) }
    }

    func handle(
        _ request: Request, context: JobKitRequestContext, next: (Request, JobKitRequestContext) async throws -> Response
    ) async throws -> Response {
        let path = request.uri.path
        for (limit, limiter) in limiters where path.hasPrefix(limit.pathPrefix) {
            let key = limit.scope == .client ? (context.identity?.name ?? "anonymous") : path
            let decision: RateLimitDecision
            do {
                decision = try await limiter.acquire(key)
            } catch {
                context.logger.warning("HTTP rate limit not checked", metadata: ["limit": "\(limit.name)", "error": "\(error)"])
                continue
            }
            guard decision.allowed else {
                let ms = decision.retryAfter.milliseconds
                let seconds = max(1, (ms + 999) / 1000)
                var response = APIError(
                    .tooManyRequests, code: "rate_limited",
                    "rate limit '\(limit.name)' reached (\(limit.limit.limit) per \(limit.limit.periodMs) ms per \(limit.scope.rawValue)); retry after \(seconds) s"
                ).response()
                response.headers[.retryAfter] = "\(seconds)"
                return response
            }
        }
        return try await next(request, context)
    }
}

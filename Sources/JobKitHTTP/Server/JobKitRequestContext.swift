import Hummingbird
import HummingbirdAuth
import Logging

/// The request context of JobKit's HTTP surface: Hummingbird's core context, the API key that authenticated
/// the request (if any) and the request id.
public struct JobKitRequestContext: AuthRequestContext, RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The API key the request authenticated with; `nil` for anonymous requests.
    public var identity: APIKeyIdentity?
    /// The request's id: its `X-Request-Id` header, or one generated for it. Echoed in the response and stored
    /// as the correlation id of the jobs the request enqueues.
    public var requestID: String = ""

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.identity = nil
    }
}

/// Who a request authenticated as: the name of its API key (never the secret).
public struct APIKeyIdentity: Sendable, Hashable {
    /// The key's name, as configured in `JOBKIT_API_KEYS` (`name:secret`).
    public var name: String

    public init(name: String) { self.name = name }
}

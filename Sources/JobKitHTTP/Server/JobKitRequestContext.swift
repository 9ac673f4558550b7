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
    /// The client's address (IP), for per-client limits such as the dashboard's sign-in limit.
    public var remoteAddress: String?
    /// Who is looking at the dashboard (`/ui`), once its guard has authenticated the request.
    public var dashboardViewer: DashboardViewer?
    /// The dashboard's posted form, read by its guard (which checks the CSRF token in it).
    var dashboardForm = DashboardForm()

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.identity = nil
        self.remoteAddress = source.channel.remoteAddress?.ipAddress
    }
}

/// Who a request authenticated as: the name of its API key (never the secret).
public struct APIKeyIdentity: Sendable, Hashable {
    /// The key's name, as configured in `JOBKIT_API_KEYS` (`name:secret`).
    public var name: String

    public init(name: String) { self.name = name }
}

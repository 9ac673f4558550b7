import AsyncHTTPClient
import JobKit
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The HTTP client of a node's Plaid calls, a Service of the node (a dependency: it shuts down after the worker
/// has finished every job).
///
/// Its own, rather than `HTTPClient.shared`, for two settings: as many connections to Plaid as the node runs jobs
/// (the shared client allows 8 per host, so a 9th concurrent call queued behind the others), and no retrying of
/// connection establishment (a Plaid that went away fails the queued calls at once, into the jobs' retry path,
/// instead of at their deadline — which held up shutdown by the full Plaid timeout).
///
/// The client is made on first use, so a node that stops before any Plaid call (a refused start) has none to
/// shut down.
public final class PlaidHTTPClient: Service, Sendable {
    let configuration: HTTPClient.Configuration
    private let made = Mutex<HTTPClient?>(nil)

    /// - Parameters:
    ///   - connections: connections per host (at least the node's concurrency).
    ///   - connectTimeout: the deadline of one connection attempt.
    public init(connections: Int, connectTimeout: Duration = .seconds(5)) {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: max(8, connections))
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout = .init(connect: connectTimeout.timeAmount, read: nil)
        self.configuration = configuration
    }

    /// The client (made now if this is the first use).
    public var client: HTTPClient {
        made.withLock { made in
            if let made { return made }
            let client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
            made = client
            return client
        }
    }

    /// Waits for graceful shutdown (or cancellation), then shuts the client down if one was made.
    public func run() async throws {
        try? await gracefulShutdown()
        if let client = made.withLock({ $0 }) { try await client.shutdown() }
    }
}

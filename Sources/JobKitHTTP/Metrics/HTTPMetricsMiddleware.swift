import CoreMetrics
import Hummingbird
import NIOCore
import Synchronization

/// Counts HTTP requests by method, route template, status and API key name, and times them by method and route,
/// through swift-metrics: `jobkit_http_requests_total`, `jobkit_http_request_duration_seconds`. The route is the
/// matched template (`/v1/jobs/{id}`), or `unmatched`: request paths never become labels; the key is the
/// configured key's name (never its secret) or `anonymous`, so the label set is bounded by the configuration.
struct HTTPMetricsMiddleware: RouterMiddleware {
    typealias Context = JobKitRequestContext
    let series = HTTPMetricSeries()

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let start = NIODeadline.now()
        do {
            let response = try await next(request, context)
            series.record(request.method.rawValue, context.endpointPath, response.status.code, key: context.identity?.name, since: start)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            series.record(request.method.rawValue, context.endpointPath, status, key: context.identity?.name, since: start)
            throw error
        }
    }
}

/// The made series, kept so that a request does not go through the metrics factory.
final class HTTPMetricSeries: Sendable {
    private struct Key: Hashable {
        var method: String
        var route: String
        var status: Int
        var key: String
    }
    private struct Entry {
        var requests: Counter
        var duration: Timer
    }
    private let entries = Mutex<[Key: Entry]>([:])

    func record(_ method: String, _ route: String?, _ status: Int, key apiKey: String?, since start: NIODeadline) {
        let key = Key(method: method, route: route ?? "unmatched", status: status, key: apiKey ?? "anonymous")
        let entry = entries.withLock { e -> Entry in
            if let found = e[key] { return found }
            let made = Entry(
                requests: Counter(
                    label: "jobkit_http_requests_total",
                    dimensions: [("method", key.method), ("route", key.route), ("status", String(key.status)), ("key", key.key)]),
                duration: Timer(
                    label: "jobkit_http_request_duration_seconds", dimensions: [("method", key.method), ("route", key.route)],
                    preferredDisplayUnit: .seconds))
            e[key] = made
            return made
        }
        entry.requests.increment()
        entry.duration.recordNanoseconds(Int64(NIODeadline.now().uptimeNanoseconds) - Int64(start.uptimeNanoseconds))
    }
}

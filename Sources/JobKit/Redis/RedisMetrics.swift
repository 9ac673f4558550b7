import CoreMetrics
import NIOCore

/// The Redis client's metrics, through swift-metrics: the time of each round trip (one command or one
/// pipeline, blocking commands excepted) and the failed ones by kind. See `docs/metrics.md`.
enum RedisMetrics {
    static let roundTrip = Timer(label: "jobkit_redis_roundtrip_seconds", preferredDisplayUnit: .seconds)
    private static let errors = [
        "server", "timeout", "connection", "other",
    ].reduce(into: [String: Counter]()) { $0[$1] = Counter(label: "jobkit_redis_errors_total", dimensions: [("kind", $1)]) }

    /// Runs one round trip, timing it and counting its failure.
    @inline(__always)
    static func measure<T>(_ body: () async throws -> T) async throws -> T {
        let start = NIODeadline.now()
        do {
            let value = try await body()
            roundTrip.recordNanoseconds(Int64(NIODeadline.now().uptimeNanoseconds) - Int64(start.uptimeNanoseconds))
            return value
        } catch {
            count(error)
            throw error
        }
    }

    static func count(_ error: any Error) {
        let code = (error as? RedisError)?.code
        let kind =
            code == .serverError ? "server" : code == .timeout ? "timeout" : code == .connectionClosed ? "connection" : "other"
        errors[kind]?.increment()
    }
}

import Hummingbird
import NIOCore
import Prometheus

/// `GET /metrics`: the process's swift-metrics series (what the registry's factory made) and the
/// cluster-wide gauges, in Prometheus's text format 0.0.4.
struct MetricsRoutes: Sendable {
    let registry: PrometheusCollectorRegistry
    let gauges: ClusterGauges

    func register(on group: RouterGroup<JobKitRequestContext>) {
        group.get("metrics") { _, _ in
            await gauges.refresh()
            var bytes: [UInt8] = []
            bytes.reserveCapacity(16 * 1024)
            registry.emit(into: &bytes)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
    }
}

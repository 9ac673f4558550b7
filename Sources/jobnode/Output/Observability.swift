import Foundation
import Logging
import Metrics
import OTel
import Prometheus
import ServiceLifecycle
import Synchronization
import Tracing

/// The process's metrics and tracing, set up once by `run` and `serve` before any node part makes a metric
/// or a span: Prometheus for `/metrics` when the HTTP surface is on, OTLP/HTTP export when `--otlp-endpoint` is
/// given, both when both are; nothing at all (swift-metrics' and swift-distributed-tracing's no-op backends)
/// otherwise.
enum Observability {
    /// The latency histograms' buckets: from 250 µs, so that sub-millisecond job waits are resolved.
    static let fineBuckets: [Duration] = [
        .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30),
        .seconds(60), .seconds(300),
    ]
    static let fineHistograms = [
        "jobkit_job_duration_seconds", "jobkit_job_wait_seconds", "jobkit_redis_roundtrip_seconds",
        "jobkit_http_request_duration_seconds",
    ]
    static let batchBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000]

    /// The OTLP services, never released (see ``bootstrap(prometheus:otlpEndpoint:logger:)``).
    private static let keepAlive = Mutex<[any Service]>([])

    /// What the bootstrap made: the registry `/metrics` serves, and the exporters' services, which must run
    /// for the life of the process and stop last (a node runs them as dependencies).
    struct Setup {
        var registry: PrometheusCollectorRegistry?
        var services: [any Service] = []
    }

    /// Bootstraps the process-wide metrics and tracing systems. Call once, before building a node or server.
    ///
    /// - Parameters:
    ///   - prometheus: make a registry for `/metrics` (the HTTP surface is on).
    ///   - otlpEndpoint: the collector's base URL (`/v1/traces` and `/v1/metrics` are appended), or `nil`.
    static func bootstrap(prometheus: Bool, otlpEndpoint: String?, logger: Logger) throws -> Setup {
        var setup = Setup()
        var factories: [any MetricsFactory] = []
        if prometheus {
            let registry = PrometheusCollectorRegistry()
            var factory = PrometheusMetricsFactory(registry: registry)
            for name in fineHistograms { factory.durationHistogramBuckets[name] = fineBuckets }
            factory.valueHistogramBuckets["jobkit_claim_batch_size"] = batchBuckets
            factories.append(factory)
            setup.registry = registry
        }
        if let otlpEndpoint {
            let configuration = otlpConfiguration(endpoint: otlpEndpoint, logger: logger)
            let tracing = try OTel.makeTracingBackend(configuration: configuration)
            let metrics = try OTel.makeMetricsBackend(configuration: configuration)
            InstrumentationSystem.bootstrap(tracing.factory)
            factories.append(metrics.factory)
            setup.services = [tracing.service, metrics.service]
            // swift-otel 1.6's OTLP/HTTP exporter shuts its HTTP client down synchronously in `deinit`, which
            // traps when the last reference goes on an event loop thread. The services are kept for the life of
            // the process, and `jobnode` does not run Swift tasks on NIO's event loops with `--otlp-endpoint`
            // (see `JobNode.main`), so the exporters that a finished group releases go on a pool thread.
            keepAlive.withLock { $0 += setup.services }
            logger.info("exporting spans and metrics over OTLP/HTTP", metadata: ["otlp.endpoint": "\(otlpEndpoint)"])
        }
        switch factories.count {
        case 0: break
        case 1: MetricsSystem.bootstrap(factories[0])
        default: MetricsSystem.bootstrap(MultiplexMetricsHandler(factories: factories))
        }
        return setup
    }

    /// swift-otel's configuration for `--otlp-endpoint`: OTLP/HTTP (protobuf unless `OTEL_EXPORTER_OTLP_PROTOCOL`
    /// says `http/json`), service name `jobnode` unless `OTEL_SERVICE_NAME` says otherwise, no log export (logs go
    /// to stderr as configured by `--log-format`). The standard `OTEL_*` variables override these.
    static func otlpConfiguration(endpoint: String, logger: Logger) -> OTel.Configuration {
        let base = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        var configuration = OTel.Configuration.default
        configuration.serviceName = "jobnode"
        configuration.logs.enabled = false
        configuration.diagnosticLogger = .custom(logger)
        configuration.traces.otlpExporter.endpoint = base + "/v1/traces"
        configuration.metrics.otlpExporter.endpoint = base + "/v1/metrics"
        configuration.metrics.durationHistogramBuckets = Dictionary(uniqueKeysWithValues: fineHistograms.map { ($0, fineBuckets) })
        configuration.metrics.valueHistogramBuckets = ["jobkit_claim_batch_size": batchBuckets]
        return configuration
    }

    /// Checks an `--otlp-endpoint` value: an absolute `http` or `https` URL with a host.
    static func validateEndpoint(_ text: String) -> String? {
        guard let url = URL(string: text), let scheme = url.scheme, ["http", "https"].contains(scheme),
            let host = url.host, !host.isEmpty
        else { return "--otlp-endpoint '\(text)' is not an http(s) URL such as http://127.0.0.1:4318" }
        return nil
    }
}

import Metrics
import Prometheus

extension CLI {
    /// The process's metrics registry: swift-metrics is bootstrapped with swift-prometheus on first use (before
    /// any node part makes a metric), with latency buckets that resolve sub-millisecond job waits.
    static let metricsRegistry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        let fine: [Duration] = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30),
            .seconds(60), .seconds(300),
        ]
        for name in [
            "jobkit_job_duration_seconds", "jobkit_job_wait_seconds", "jobkit_redis_roundtrip_seconds",
            "jobkit_http_request_duration_seconds",
        ] {
            factory.durationHistogramBuckets[name] = fine
        }
        factory.valueHistogramBuckets["jobkit_claim_batch_size"] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000]
        MetricsSystem.bootstrap(factory)
        return registry
    }()
}

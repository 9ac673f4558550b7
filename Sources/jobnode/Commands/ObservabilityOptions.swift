import ArgumentParser
import Logging

/// Telemetry export flags, shared by `run` and `serve`.
struct ObservabilityOptions: ParsableArguments {
    @Option(
        name: .customLong("otlp-endpoint"),
        help: "Export spans and metrics over OTLP/HTTP to this collector, e.g. http://127.0.0.1:4318 (off by default).")
    var otlpEndpoint: String?

    func validate() throws {
        if let otlpEndpoint, let problem = Observability.validateEndpoint(otlpEndpoint) { throw ValidationError(problem) }
    }

    /// Bootstraps metrics (Prometheus when `http` is on) and, with `--otlp-endpoint`, OTLP export.
    func bootstrap(http: Bool, logger: Logger) throws -> Observability.Setup {
        try Observability.bootstrap(prometheus: http, otlpEndpoint: otlpEndpoint, logger: logger)
    }
}

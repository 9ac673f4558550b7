import ArgumentParser
import Foundation
import JobKit
import JobKitHTTP
import Logging

/// The HTTP surface's flags, shared by `run` (off unless `--http` is given) and `serve`.
struct HTTPOptions: ParsableArguments {
    @Option(name: .long, help: "Serve HTTP on HOST:PORT (e.g. 127.0.0.1:8080). Off by default for run.")
    var http: String?

    @Option(name: .customLong("tls-cert"), help: "Serve HTTPS with this PEM certificate chain (needs --tls-key).")
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: "The PEM private key of --tls-cert.")
    var tlsKey: String?

    @Flag(name: .customLong("public-health"), help: "Answer /health, /health/ready and /health/detailed without an API key.")
    var publicHealth = false

    @Flag(name: .customLong("public-metrics"), help: "Answer /metrics without an API key.")
    var publicMetrics = false

    @Option(name: .customLong("max-body"), help: "Largest request body, e.g. 1MiB, 512KiB or a number of bytes.")
    var maxBody: String = "1MiB"

    @Option(name: .customLong("rate-limit"), help: "Per API key on /v1/: N/DURATION (token bucket, burst N), e.g. 100/1s; 429 past it.")
    var rateLimit: String?

    @Option(name: .customLong("webhook-rate-limit"), help: "Per webhook endpoint: N/DURATION (token bucket, burst N); 429 past it.")
    var webhookRateLimit: String?

    @Flag(name: .customLong("no-ui"), help: "Do not serve the dashboard (/ui).")
    var noUI = false

    @Flag(name: .customLong("ui-read-only"), help: "Serve the dashboard without any action (every role reads only).")
    var uiReadOnly = false

    func validate() throws {
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        if http == nil && (tlsCert != nil || publicHealth || publicMetrics) {
            throw ValidationError("--tls-cert, --tls-key, --public-health and --public-metrics need --http")
        }
        if let http { _ = try Self.validated { try HTTPServerConfiguration.parseAddress(http) } }
        _ = try Self.bytes(maxBody)
        _ = try rateLimits()
    }

    /// `--rate-limit` and `--webhook-rate-limit` as the server's limits.
    func rateLimits() throws -> [HTTPRateLimit] {
        var limits: [HTTPRateLimit] = []
        for (flag, value, name, prefix, scope) in [
            ("--rate-limit", rateLimit, "api", "/v1/", HTTPRateLimit.Scope.client),
            ("--webhook-rate-limit", webhookRateLimit, "webhooks", "/webhooks/", .route),
        ] {
            guard let value else { continue }
            let (n, period) = try CLI.rate(value, flag: flag)
            limits.append(HTTPRateLimit(name: name, pathPrefix: prefix, scope: scope, limit: .tokenBucket(n, per: period)))
        }
        return limits
    }

    /// The server's configuration, with API keys from `JOBKIT_API_KEYS`; `nil` without `--http`. The metrics
    /// registry is set later, by ``Observability/bootstrap(prometheus:otlpEndpoint:logger:)``.
    ///
    /// - Throws: `ValidationError` for a bad address, key list, TLS file, or a non-loopback address without keys.
    func configuration() throws -> HTTPServerConfiguration? {
        guard let http else { return nil }
        return try Self.validated {
            let (host, port) = try HTTPServerConfiguration.parseAddress(http)
            var configuration = HTTPServerConfiguration(host: host, port: port)
            configuration.apiKeys = try APIKeySet.fromEnvironment()
            configuration.publicHealth = publicHealth
            configuration.publicMetrics = publicMetrics
            configuration.maxBodyBytes = try Self.bytes(maxBody)
            configuration.rateLimits = try rateLimits()
            if !noUI {
                var dashboard = DashboardConfiguration()
                do {
                    dashboard.users = try DashboardUsers.fromEnvironment()
                } catch let error as DashboardUsers.ParseError {
                    throw ValidationError("JOBKIT_UI_USERS: \(error.message)")
                }
                dashboard.readOnly = uiReadOnly
                configuration.dashboard = dashboard
            }
            if let tlsCert, let tlsKey {
                configuration.tls = .init(certificatePath: tlsCert, keyPath: tlsKey)
            }
            try configuration.validate()
            return configuration
        }
    }

    /// Runs `body`, turning the HTTP layer's configuration errors into validation errors (one line, exit 64).
    static func validated<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as HTTPServerConfiguration.Invalid {
            throw ValidationError(error.message)
        } catch let error as APIKeySet.ParseError {
            throw ValidationError("JOBKIT_API_KEYS: \(error.message)")
        }
    }

    /// Parses `1MiB`, `512KiB`, `2MB`, `64KB` or a number of bytes.
    static func bytes(_ text: String) throws -> Int {
        let units: [(String, Int)] = [("MiB", 1 << 20), ("KiB", 1 << 10), ("MB", 1_000_000), ("KB", 1000), ("B", 1)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            if let v = Int(text.dropLast(suffix.count)), v > 0 { return v * scale }
        }
        if let v = Int(text), v > 0 { return v }
        throw ValidationError("--max-body '\(text)' is not a size (e.g. 1MiB, 512KiB, 65536)")
    }
}

extension CLI {
    /// Bootstraps logging for a long-running command (`run`, `serve`): text or JSON lines on stderr.
    static func bootstrapLogging(level: String, format: String) {
        let level = Logger.Level(rawValue: level) ?? .info
        let json = format == "json"
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = json ? JSONLogHandler(label: label) : TextLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

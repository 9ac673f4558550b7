import Foundation
import JobKit
import Hummingbird
import NIOSSL
import Prometheus

/// How the HTTP surface is served: address, TLS, credentials, limits and the routes added by other modules.
public struct HTTPServerConfiguration: Sendable {
    /// The address to bind (`127.0.0.1` by default; `0.0.0.0` or a public address needs ``apiKeys``).
    public var host: String = "127.0.0.1"
    /// The port (0: any free port; see ``JobKitHTTPServer/waitUntilListening()``).
    public var port: Int = 8080
    /// Serve HTTPS with this certificate chain and key (PEM files).
    public var tls: TLSFiles?
    /// The accepted API keys. With none, nothing asks for a key, which is allowed only on loopback.
    public var apiKeys: APIKeySet = .none
    /// `/health`, `/health/ready` and `/health/detailed` answer without a key.
    public var publicHealth = false
    /// `/metrics` answers without a key.
    public var publicMetrics = false
    /// The largest request body read, in bytes (default 1 MiB); larger ones get 413 `payload_too_large`.
    public var maxBodyBytes = 1 << 20
    /// Routes other modules add (webhook endpoints), each behind its access rule.
    public var extraRoutes: [HTTPRouteRegistration] = []
    /// The registry the process's swift-metrics factory writes to: with one, `GET /metrics` serves it and the
    /// cluster gauges (behind a key unless ``publicMetrics``), and requests are counted into it. Without,
    /// `/metrics` is 404.
    public var metrics: PrometheusCollectorRegistry?
    /// Rate limits on the HTTP surface (429 with `Retry-After` past them).
    public var rateLimits: [HTTPRateLimit] = []
    /// Dependencies besides Redis that `/health/ready` and `/health/detailed` check (the node's PostgreSQL).
    public var dependencies: [any HealthDependency] = []
    /// The dashboard under `/ui` (its own sign-in); `nil` turns it off.
    public var dashboard: DashboardConfiguration?

    public init(host: String = "127.0.0.1", port: Int = 8080) {
        self.host = host
        self.port = port
    }

    /// PEM files of a certificate chain and its private key.
    public struct TLSFiles: Sendable {
        public var certificatePath: String
        public var keyPath: String
        public init(certificatePath: String, keyPath: String) {
            self.certificatePath = certificatePath
            self.keyPath = keyPath
        }

        /// The server's TLS configuration from the files.
        ///
        /// - Throws: ``HTTPServerConfiguration/Invalid`` naming the file that can't be read or parsed.
        public func serverConfiguration() throws -> TLSConfiguration {
            let chain: [NIOSSLCertificate]
            do {
                chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
            } catch {
                throw Invalid(message: "--tls-cert \(certificatePath): not a readable PEM certificate (\(error))")
            }
            guard !chain.isEmpty else { throw Invalid(message: "--tls-cert \(certificatePath) holds no certificate") }
            let key: NIOSSLPrivateKey
            do {
                key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
            } catch {
                throw Invalid(message: "--tls-key \(keyPath): not a readable PEM private key (\(error))")
            }
            return TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        }
    }

    /// A configuration that must not be served.
    public struct Invalid: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// True for `localhost`, `127.0.0.0/8` and `::1`.
    public var isLoopback: Bool {
        let h = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if h == "localhost" || h == "::1" { return true }
        let parts = h.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    /// Refuses what must not be served.
    ///
    /// - Throws: ``Invalid`` for a non-loopback address without API keys, a port out of range, a body limit
    ///   under 1 KiB, or TLS files that can't be loaded.
    public func validate() throws {
        guard (0...65535).contains(port) else { throw Invalid(message: "port \(port) is out of range 0...65535") }
        guard maxBodyBytes >= 1024 else { throw Invalid(message: "the body limit must be at least 1024 bytes") }
        if !isLoopback && apiKeys.isEmpty {
            throw Invalid(
                message: "refusing to serve HTTP on \(host), which is not a loopback address, without credentials: "
                    + "set JOBKIT_API_KEYS (name:secret pairs, or @file), or bind 127.0.0.1")
        }
        if let tls { _ = try tls.serverConfiguration() }
    }

    /// Parses `HOST:PORT`, `:PORT` (loopback) or `[IPv6]:PORT`.
    ///
    /// - Throws: ``Invalid`` for anything else.
    public static func parseAddress(_ text: String) throws -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw Invalid(message: "--http '\(text)' is not HOST:PORT (e.g. 127.0.0.1:8080)")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.isEmpty { host = "127.0.0.1" }
        return (host, port)
    }
}

/// Routes another module adds to the server (a `/metrics` endpoint, a provider's webhook endpoint), with the
/// rule that decides whether they need an API key.
public struct HTTPRouteRegistration: Sendable {
    /// Whether a route needs a key.
    public enum Access: Sendable {
        /// Needs a key whenever keys are configured.
        case apiKey
        /// Open when the server runs with `--public-metrics`; else as ``apiKey``.
        case metrics
        /// Open when the server runs with `--public-health`; else as ``apiKey``.
        case health
        /// Always open (webhook endpoints, which verify their provider's signature instead).
        case open
    }

    public var access: Access
    /// Adds the routes to the group it is given (the root path).
    public var register: @Sendable (RouterGroup<JobKitRequestContext>) -> Void

    public init(access: Access, register: @escaping @Sendable (RouterGroup<JobKitRequestContext>) -> Void) {
        self.access = access
        self.register = register
    }
}

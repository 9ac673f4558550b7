import Foundation

/// Where and as whom the Plaid client calls, from the environment (`PLAID_*`) or set in code.
///
/// Its `description` never shows the secret.
public struct PlaidConfiguration: Sendable, CustomStringConvertible {
    /// Plaid's environments and their base URLs.
    public enum Environment: String, Sendable, CaseIterable {
        case sandbox, development, production
        public var baseURL: String {
            switch self {
            case .sandbox: "https://sandbox.plaid.com"
            case .development: "https://development.plaid.com"
            case .production: "https://production.plaid.com"
            }
        }
    }

    public var environment: Environment
    /// Plaid's base URL for `environment`, unless overridden (`PLAID_BASE_URL`: tests, proxies). No trailing `/`.
    public var baseURL: String
    public var clientID: String
    public var secret: String
    /// Products asked for when creating sandbox items (`PLAID_PRODUCTS`, default `transactions`).
    public var products: [String]
    /// Country codes for institution lookups (`PLAID_COUNTRY_CODES`, default `US`).
    public var countryCodes: [String]
    /// Per-request deadline.
    public var timeout: Duration
    /// The webhook URL given to items (`PLAID_WEBHOOK_URL`), if any.
    public var webhookURL: String?

    public init(
        environment: Environment = .sandbox, baseURL: String? = nil, clientID: String, secret: String,
        products: [String] = ["transactions"], countryCodes: [String] = ["US"], timeout: Duration = .seconds(30),
        webhookURL: String? = nil
    ) {
        self.environment = environment
        var base = baseURL ?? environment.baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.clientID = clientID
        self.secret = secret
        self.products = products
        self.countryCodes = countryCodes
        self.timeout = timeout
        self.webhookURL = webhookURL
    }

    /// The configuration from `PLAID_ENV`, `PLAID_BASE_URL`, `PLAID_CLIENT_ID`, `PLAID_SECRET`, `PLAID_PRODUCTS`,
    /// `PLAID_COUNTRY_CODES`, `PLAID_TIMEOUT_MS` and `PLAID_WEBHOOK_URL`; nil when `PLAID_CLIENT_ID` is unset (the
    /// node runs no Plaid work).
    ///
    /// - Throws: ``PlaidConfigurationError`` for an unknown environment or a client id without a secret.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> PlaidConfiguration? {
        guard let clientID = env["PLAID_CLIENT_ID"], !clientID.isEmpty else { return nil }
        guard let secret = env["PLAID_SECRET"], !secret.isEmpty else {
            throw PlaidConfigurationError("PLAID_CLIENT_ID is set but PLAID_SECRET is not")
        }
        let name = env["PLAID_ENV"] ?? "sandbox"
        guard let environment = Environment(rawValue: name) else {
            throw PlaidConfigurationError("PLAID_ENV '\(name)' is not one of sandbox, development, production")
        }
        func list(_ key: String, _ fallback: [String]) -> [String] {
            guard let text = env[key], !text.isEmpty else { return fallback }
            return text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        var timeout = Duration.seconds(30)
        if let text = env["PLAID_TIMEOUT_MS"] {
            guard let ms = Int(text), ms > 0 else { throw PlaidConfigurationError("PLAID_TIMEOUT_MS '\(text)' is not a positive integer") }
            timeout = .milliseconds(ms)
        }
        let base = env["PLAID_BASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
        return PlaidConfiguration(
            environment: environment, baseURL: base, clientID: clientID, secret: secret,
            products: list("PLAID_PRODUCTS", ["transactions"]), countryCodes: list("PLAID_COUNTRY_CODES", ["US"]),
            timeout: timeout, webhookURL: env["PLAID_WEBHOOK_URL"].flatMap { $0.isEmpty ? nil : $0 })
    }

    public var description: String {
        "PlaidConfiguration(\(environment.rawValue), \(baseURL), client \(clientID), secret ***)"
    }
}

/// A Plaid setting that cannot work.
public struct PlaidConfigurationError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

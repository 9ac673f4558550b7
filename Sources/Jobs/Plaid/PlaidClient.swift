import AsyncHTTPClient
import Foundation
import JobKit
import Logging
import NIOCore
import NIOFoundationCompat

/// An Item's access token. Its description is redacted, so that interpolating it into a log line or an error
/// shows nothing; the token itself only goes into a request body and into ``TokenCipher``.
public struct PlaidAccessToken: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { "access-token(***)" }
    public var debugDescription: String { description }
}

/// Plaid's API (`Plaid-Version: 2020-09-14`) over AsyncHTTPClient: every call is a JSON `POST` whose body carries
/// `client_id` and `secret`, with a per-request deadline. Failures throw ``PlaidAPIError``.
///
/// With a breaker, every call goes through it: transport failures, timeouts, 5xx and rate limits count against
/// Plaid; answers about the request itself (an item needing its user, a bad token) do not.
public struct PlaidClient: Sendable {
    public let configuration: PlaidConfiguration
    /// The HTTP client, fetched per call (a node's ``PlaidHTTPClient`` is made on first use).
    let httpClient: @Sendable () -> HTTPClient
    let breaker: CircuitBreaker?
    /// The largest response body read (a 500-transaction page is about 1 MiB).
    static let maxResponseBytes = 32 << 20
    public static let apiVersion = "2020-09-14"

    public init(configuration: PlaidConfiguration, httpClient: HTTPClient = .shared, breaker: CircuitBreaker? = nil) {
        self.configuration = configuration
        self.httpClient = { httpClient }
        self.breaker = breaker
    }

    /// A client whose calls go through a node's own ``PlaidHTTPClient``.
    public init(configuration: PlaidConfiguration, http: PlaidHTTPClient, breaker: CircuitBreaker? = nil) {
        self.configuration = configuration
        self.httpClient = { http.client }
        self.breaker = breaker
    }

    // MARK: Endpoints

    /// `/item/public_token/exchange`.
    public func exchangePublicToken(_ publicToken: String) async throws -> PlaidExchangeResponse {
        try await call("/item/public_token/exchange", PublicTokenBody(publicToken: publicToken))
    }

    /// `/accounts/get`: accounts with the balances Plaid cached.
    public func accounts(_ token: PlaidAccessToken) async throws -> PlaidAccountsResponse {
        try await call("/accounts/get", TokenBody(accessToken: token.value))
    }

    /// `/accounts/balance/get`: real-time balances.
    public func balances(_ token: PlaidAccessToken) async throws -> PlaidAccountsResponse {
        try await call("/accounts/balance/get", TokenBody(accessToken: token.value))
    }

    /// `/transactions/sync`: one page of changes after `cursor` (nil: from the beginning).
    public func transactionsSync(_ token: PlaidAccessToken, cursor: String?, count: Int = 500) async throws -> PlaidTransactionsSyncResponse {
        try await call("/transactions/sync", SyncBody(accessToken: token.value, cursor: cursor, count: count))
    }

    /// `/item/get`.
    public func item(_ token: PlaidAccessToken) async throws -> PlaidItemGetResponse {
        try await call("/item/get", TokenBody(accessToken: token.value))
    }

    /// `/institutions/get_by_id` in the configured country codes (with the institution's health when
    /// `includeStatus`).
    public func institution(_ id: String, includeStatus: Bool = false) async throws -> PlaidInstitutionResponse {
        try await call(
            "/institutions/get_by_id",
            InstitutionBody(
                institutionID: id, countryCodes: configuration.countryCodes,
                options: includeStatus ? InstitutionBody.Options(includeStatus: true) : nil))
    }

    /// `/webhook_verification_key/get`.
    public func webhookVerificationKey(_ keyID: String) async throws -> PlaidWebhookKeyResponse {
        try await call("/webhook_verification_key/get", KeyBody(keyID: keyID))
    }

    /// `/item/webhook/update`.
    public func updateWebhook(_ token: PlaidAccessToken, webhook: String) async throws -> PlaidItemGetResponse {
        try await call("/item/webhook/update", WebhookBody(accessToken: token.value, webhook: webhook))
    }

    /// `/sandbox/public_token/create` (sandbox only: the demo and tests).
    public func sandboxCreatePublicToken(institutionID: String, webhook: String? = nil) async throws -> PlaidSandboxPublicTokenResponse {
        try await call(
            "/sandbox/public_token/create",
            SandboxBody(
                institutionID: institutionID, initialProducts: configuration.products,
                options: webhook.map { SandboxBody.Options(webhook: $0) }))
    }

    // MARK: Transport

    func call<Body: Encodable & Sendable, Response: Decodable & Sendable>(_ endpoint: String, _ body: Body) async throws -> Response {
        guard let breaker else { return try await send(endpoint, body) }
        return try await breaker.run(isFailure: Self.countsAgainstPlaid) { try await send(endpoint, body) }
    }

    /// Whether a failure says something about Plaid's health (rather than about one request or item).
    static func countsAgainstPlaid(_ error: any Error) -> Bool {
        guard let error = error as? PlaidAPIError else { return !(error is CancellationError) }
        switch error.disposition {
        case .retry, .retryLater: return true
        case .needsUser, .fatal, .restartSync: return false
        }
    }

    func send<Body: Encodable & Sendable, Response: Decodable & Sendable>(_ endpoint: String, _ body: Body) async throws -> Response {
        var request = HTTPClientRequest(url: configuration.baseURL + endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Plaid-Version", value: Self.apiVersion)
        request.headers.add(name: "User-Agent", value: "JobKit-Plaid/1")
        let encoded: Data
        do {
            encoded = try JSONEncoder().encode(Authenticated(clientID: configuration.clientID, secret: configuration.secret, body: body))
        } catch {
            throw PlaidAPIError(endpoint: endpoint, status: nil, body: nil, transport: "request did not encode: \(error)")
        }
        request.body = .bytes(ByteBuffer(data: encoded))
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await httpClient().execute(request, timeout: configuration.timeout.timeAmount)
            bytes = try await response.body.collect(upTo: Self.maxResponseBytes)
        } catch let error as HTTPClientError {
            throw PlaidAPIError(endpoint: endpoint, status: nil, body: nil, transport: Self.describe(error))
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw PlaidAPIError(endpoint: endpoint, status: nil, body: nil, transport: "\(type(of: error))")
        }
        let status = Int(response.status.code)
        guard (200..<300).contains(status) else {
            let body = try? JSONDecoder().decode(PlaidErrorBody.self, from: bytes)
            throw PlaidAPIError(
                endpoint: endpoint, status: status, body: body, transport: body == nil ? "undecodable error body" : nil)
        }
        do {
            return try JSONDecoder().decode(Response.self, from: bytes)
        } catch {
            throw PlaidAPIError(endpoint: endpoint, status: status, body: nil, transport: "response did not decode: \(Self.describe(decoding: error))")
        }
    }

    static func describe(_ error: HTTPClientError) -> String {
        switch error {
        case .deadlineExceeded, .readTimeout, .connectTimeout: return "timed out"
        case .remoteConnectionClosed: return "connection closed by Plaid"
        default: return "transport error (\(error))"
        }
    }

    /// A decoding error's path and reason, without the values (which could hold a token).
    static func describe(decoding error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(type(of: error))" }
        func path(_ c: DecodingError.Context) -> String { c.codingPath.map(\.stringValue).joined(separator: ".") }
        switch error {
        case .keyNotFound(let key, let c): return "missing \(path(c)).\(key.stringValue)"
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c): return "\(path(c)): \(c.debugDescription)"
        @unknown default: return "decoding error"
        }
    }
}

// MARK: Request bodies

/// `client_id` and `secret` beside the body's own fields, as Plaid expects them.
struct Authenticated<Body: Encodable>: Encodable {
    var clientID: String
    var secret: String
    var body: Body
    enum CodingKeys: String, CodingKey { case clientID = "client_id", secret }
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(clientID, forKey: .clientID)
        try container.encode(secret, forKey: .secret)
        try body.encode(to: encoder)
    }
}

struct PublicTokenBody: Encodable, Sendable {
    var publicToken: String
    enum CodingKeys: String, CodingKey { case publicToken = "public_token" }
}

struct TokenBody: Encodable, Sendable {
    var accessToken: String
    enum CodingKeys: String, CodingKey { case accessToken = "access_token" }
}

struct SyncBody: Encodable, Sendable {
    var accessToken: String
    var cursor: String?
    var count: Int
    enum CodingKeys: String, CodingKey { case accessToken = "access_token", cursor, count }
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(accessToken, forKey: .accessToken)
        // An absent cursor asks for the whole history (the first sync).
        if let cursor, !cursor.isEmpty { try container.encode(cursor, forKey: .cursor) }
        try container.encode(count, forKey: .count)
    }
}

struct InstitutionBody: Encodable, Sendable {
    struct Options: Encodable, Sendable {
        var includeStatus: Bool
        enum CodingKeys: String, CodingKey { case includeStatus = "include_status" }
    }
    var institutionID: String
    var countryCodes: [String]
    var options: Options?
    enum CodingKeys: String, CodingKey { case institutionID = "institution_id", countryCodes = "country_codes", options }
}

struct KeyBody: Encodable, Sendable {
    var keyID: String
    enum CodingKeys: String, CodingKey { case keyID = "key_id" }
}

struct WebhookBody: Encodable, Sendable {
    var accessToken: String
    var webhook: String
    enum CodingKeys: String, CodingKey { case accessToken = "access_token", webhook }
}

struct SandboxBody: Encodable, Sendable {
    struct Options: Encodable, Sendable { var webhook: String }
    var institutionID: String
    var initialProducts: [String]
    var options: Options?
    enum CodingKeys: String, CodingKey { case institutionID = "institution_id", initialProducts = "initial_products", options }
}

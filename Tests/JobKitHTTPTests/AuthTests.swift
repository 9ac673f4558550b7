import Foundation
import HTTPTypes
import Hummingbird
import JobKit
import JobKitHTTP
import JobKitTestSupport
import Testing

@Suite("API keys", .serialized)
struct AuthTests {
    static let keys = try! APIKeySet(parsing: "ops:s3cret-ops-key,ci:another-secret")

    @Test("JOBKIT_API_KEYS parses name:secret pairs inline or from @file, and refuses malformed entries")
    func parsing() throws {
        let inline = try APIKeySet.fromEnvironment(["JOBKIT_API_KEYS": "ops:a1, ci:b:2"])
        #expect(inline.names == ["ops", "ci"])
        #expect(inline.authenticate("b:2")?.name == "ci")
        #expect(inline.authenticate("b:") == nil)
        #expect(inline.authenticate("a") == nil)
        #expect(inline.authenticate("a12") == nil)
        #expect(!inline.description.contains("a1"))

        let dir = try TestEnvironment.makeTemporaryDirectory("keys")
        let path = dir + "/keys"
        try "# operators\nops:from-file\n\nci:also\n".write(toFile: path, atomically: true, encoding: .utf8)
        let file = try APIKeySet.fromEnvironment(["JOBKIT_API_KEYS": "@\(path)"])
        #expect(file.names == ["ops", "ci"])
        #expect(file.authenticate("from-file")?.name == "ops")
        #expect(try APIKeySet.fromEnvironment([:]).isEmpty)

        #expect(throws: APIKeySet.ParseError.self) { try APIKeySet(parsing: "nocolon") }
        #expect(throws: APIKeySet.ParseError.self) { try APIKeySet(parsing: "a:1,a:2") }
        #expect(throws: APIKeySet.ParseError.self) { try APIKeySet(parsing: ":secret") }
        #expect(throws: APIKeySet.ParseError.self) { try APIKeySet.fromEnvironment(["JOBKIT_API_KEYS": "@\(dir)/missing"]) }
    }

    @Test("binding a non-loopback address without API keys is refused; with keys it is allowed")
    func nonLoopbackNeedsKeys() throws {
        var configuration = HTTPServerConfiguration(host: "0.0.0.0", port: 8080)
        #expect(throws: HTTPServerConfiguration.Invalid.self) { try configuration.validate() }
        configuration.apiKeys = Self.keys
        try configuration.validate()
        for host in ["127.0.0.1", "127.1.2.3", "localhost", "::1"] {
            #expect(HTTPServerConfiguration(host: host).isLoopback, "\(host)")
        }
        #expect(!HTTPServerConfiguration(host: "10.0.0.1").isLoopback)
        #expect(try HTTPServerConfiguration.parseAddress("[::1]:9000") == ("::1", 9000))
        #expect(try HTTPServerConfiguration.parseAddress(":9000") == ("127.0.0.1", 9000))
        #expect(throws: HTTPServerConfiguration.Invalid.self) { try HTTPServerConfiguration.parseAddress("localhost") }
    }

    @Test("with keys configured, a request without one or with a wrong one gets 401 JSON; the right one passes")
    func keysRequired() async throws {
        try await HTTPHarness.with(configure: { $0.apiKeys = Self.keys }) { (h: HTTPHarness) async throws in
            for headers in [HTTPFields(), .bearer("wrong"), .bearer("s3cret-ops-ke"), .bearer("s3cret-ops-key2")] {
                let refused = try await h.request(.get, "/v1/queues", headers: headers)
                #expect(refused.status == 401)
                #expect(refused.errorCode == "unauthorized")
                #expect(refused.headers[.wwwAuthenticate] == "Bearer")
            }
            #expect(try await h.request(.get, "/health", headers: [:]).status == 401)
            #expect(try await h.request(.get, "/webhooks/health").status == 401)
            #expect(try await h.request(.get, "/v1/queues", headers: .bearer("s3cret-ops-key")).status == 200)
            #expect(try await h.request(.get, "/health", headers: .bearer("another-secret")).status == 200)
            let enqueued = try await h.request(.post, "/v1/jobs", body: #"{"name":"jobkit.noop"}"#, headers: .bearer("another-secret"))
            #expect(enqueued.status == 201)
        }
    }

    @Test("--public-health opens the health routes only; --public-metrics opens a route registered as metrics")
    func publicFlags() async throws {
        let metrics = HTTPRouteRegistration(access: .metrics) { group in
            group.get("metrics") { _, _ in "jobkit_up 1\n" }
        }
        let open: @Sendable (inout HTTPServerConfiguration) -> Void = { configuration in
            configuration.apiKeys = Self.keys
            configuration.publicHealth = true
            configuration.publicMetrics = true
            configuration.extraRoutes = [metrics]
        }
        try await HTTPHarness.with(configure: open) { (h: HTTPHarness) async throws in
            #expect(try await h.request(.get, "/health").status == 200)
            #expect(try await h.request(.get, "/health/detailed").status != 401)
            #expect(try await h.request(.get, "/metrics").body == "jobkit_up 1\n")
            #expect(try await h.request(.get, "/v1/queues").status == 401)
        }
        let closed: @Sendable (inout HTTPServerConfiguration) -> Void = { configuration in
            configuration.apiKeys = Self.keys
            configuration.extraRoutes = [metrics]
        }
        try await HTTPHarness.with(configure: closed) { (h: HTTPHarness) async throws in
            #expect(try await h.request(.get, "/metrics").status == 401)
            #expect(try await h.request(.get, "/metrics", headers: .bearer("s3cret-ops-key")).status == 200)
        }
    }

    @Test("HTTP rate limits: per API key on /v1/ and per webhook route, 429 rate_limited with Retry-After; another key has its own count")
    func rateLimits() async throws {
        try await HTTPHarness.with(configure: {
            $0.apiKeys = Self.keys
            $0.rateLimits = [
                HTTPRateLimit(name: "api", pathPrefix: "/v1/", scope: .client, limit: .tokenBucket(3, per: .seconds(30))),
                HTTPRateLimit(name: "webhooks", pathPrefix: "/webhooks/", scope: .route, limit: .fixedWindow(2, per: .seconds(60))),
            ]
        }) { (h: HTTPHarness) async throws in
            let ops: HTTPFields = [.authorization: "Bearer s3cret-ops-key"]
            let ci: HTTPFields = [.authorization: "Bearer another-secret"]
            for _ in 0..<3 { #expect(try await h.request(.get, "/v1/queues", headers: ops).status == 200) }
            let limited = try await h.request(.get, "/v1/queues", headers: ops)
            #expect(limited.status == 429)
            #expect(limited.errorCode == "rate_limited")
            let retry = try #require(limited.headers[.retryAfter].flatMap(Int.init))
            #expect(retry >= 1 && retry <= 10)
            #expect(try await h.request(.get, "/v1/queues", headers: ci).status == 200)
            // Health is outside both prefixes.
            #expect(try await h.request(.get, "/health", headers: ops).status == 200)
            for _ in 0..<2 { #expect(try await h.request(.get, "/webhooks/health", headers: ci).status == 200) }
            #expect(try await h.request(.get, "/webhooks/health", headers: ci).status == 429)
        }
    }
}


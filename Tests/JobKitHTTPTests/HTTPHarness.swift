import Foundation
import HTTPTypes
import HummingbirdTesting
import JobKit
import JobKitHTTP
import JobKitTestSupport
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle

/// A live server on a free loopback port over a test namespace, a client connected to it, and helpers.
struct HTTPHarness: Sendable {
    let queue: JobQueue
    let server: JobKitHTTPServer
    let port: Int
    let client: TestClient
    var namespace: String { queue.namespace }

    /// Starts a server (port 0) on `redisURL` (the shared test server by default), runs `body`, then shuts the
    /// server down gracefully and checks that it stopped.
    static func with<T: Sendable>(
        redisURL: String? = nil, tls: TLSConfiguration? = nil,
        configure: @Sendable (inout HTTPServerConfiguration) -> Void = { _ in },
        _ body: @Sendable (HTTPHarness) async throws -> T
    ) async throws -> T {
        try await withTestNamespace { namespace in
            let url = try redisURL ?? TestEnvironment.redisURL()
            let pool = RedisPool(configuration: try RedisConfiguration(url: url, logger: TestEnvironment.logger), size: 2)
            let queue = JobQueue(redis: pool, namespace: namespace, logger: TestEnvironment.logger)
            var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
            configure(&configuration)
            let server = try JobKitHTTPServer(configuration: configuration, queue: queue, logger: TestEnvironment.logger)
            let group = ServiceGroup(configuration: .init(services: [server], logger: TestEnvironment.logger))
            return try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                do {
                    guard let port = await server.waitUntilListening() else {
                        throw TestEnvironment.Missing(description: "the HTTP server did not start")
                    }
                    let client = TestClient(
                        host: "127.0.0.1", port: port,
                        configuration: .init(tlsConfiguration: tls, timeout: .seconds(10), serverName: tls == nil ? nil : "localhost"))
                    client.connect()
                    let harness = HTTPHarness(queue: queue, server: server, port: port, client: client)
                    let result: T
                    do {
                        result = try await body(harness)
                    } catch {
                        try? await client.shutdown()
                        throw error
                    }
                    try? await client.shutdown()
                    await group.triggerGracefulShutdown()
                    try await tasks.waitForAll()
                    await pool.close()
                    return result
                } catch {
                    await group.triggerGracefulShutdown()
                    try? await tasks.waitForAll()
                    await pool.close()
                    throw error
                }
            }
        }
    }

    /// Sends one request; `body` is sent as given (JSON text).
    func request(
        _ method: HTTPRequest.Method, _ path: String, body: String? = nil, headers: HTTPFields = [:]
    ) async throws -> Reply {
        var headers = headers
        if body != nil { headers[.contentType] = "application/json" }
        let response = try await client.execute(
            TestClient.Request(path, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }))
        return Reply(status: response.status.code, headers: response.headers, body: response.body.map { String(buffer: $0) } ?? "")
    }

    /// A response: status, headers and body text.
    struct Reply: Sendable {
        var status: Int
        var headers: HTTPFields
        var body: String

        /// The body as a JSON object.
        var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
        }
        /// The body as a JSON array.
        var array: [Any] {
            (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [Any] ?? []
        }
        /// `error.code` of an error body.
        var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
        var errorMessage: String? { (json["error"] as? [String: Any])?["message"] as? String }
        func decode<T: Decodable>(_ type: T.Type) throws -> T { try JSONDecoder().decode(T.self, from: Data(body.utf8)) }
    }
}

extension HTTPFields {
    static func bearer(_ secret: String) -> HTTPFields {
        var fields = HTTPFields()
        fields[.authorization] = "Bearer \(secret)"
        return fields
    }
}

import AsyncHTTPClient
import Foundation
import JobKit
import NIOCore
import NIOFoundationCompat

/// Mail through SendGrid's v3 API (`POST /v3/mail/send`), configured by `SENDGRID_API_KEY`, `SENDGRID_API_BASE`
/// (default `https://api.sendgrid.com`; tests point it at a loopback fake) and `JOBKIT_NOTIFY_FROM` (the sender
/// address). The key never reaches logs or errors.
public struct EmailClient: Sendable {
    public var apiKey: String
    public var apiBase: String
    public var from: String
    let http: HTTPClient

    public init(apiKey: String, apiBase: String = "https://api.sendgrid.com", from: String, httpClient: HTTPClient = .shared) {
        self.apiKey = apiKey
        var base = apiBase
        while base.hasSuffix("/") { base.removeLast() }
        self.apiBase = base
        self.from = from
        self.http = httpClient
    }

    /// From the environment; nil without `SENDGRID_API_KEY` or `JOBKIT_NOTIFY_FROM`.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) -> EmailClient? {
        guard let key = env["SENDGRID_API_KEY"], !key.isEmpty, let from = env["JOBKIT_NOTIFY_FROM"], !from.isEmpty else { return nil }
        return EmailClient(apiKey: key, apiBase: env["SENDGRID_API_BASE"].flatMap { $0.isEmpty ? nil : $0 } ?? "https://api.sendgrid.com", from: from)
    }

    struct Mail: Encodable {
        struct Address: Encodable { var email: String }
        struct Personalization: Encodable { var to: [Address] }
        struct Content: Encodable {
            var type: String
            var value: String
        }
        var personalizations: [Personalization]
        var from: Address
        var subject: String
        var content: [Content]
        var custom_args: [String: String]
    }

    /// Sends one mail; returns SendGrid's `X-Message-Id`. `notification` goes in `custom_args` (SendGrid's events
    /// carry it back).
    ///
    /// - Throws: ``NotificationDeliveryError`` with the status and SendGrid's error messages.
    public func send(to: String, subject: String, text: String, notification: String) async throws -> String? {
        let mail = Mail(
            personalizations: [.init(to: [.init(email: to)])], from: .init(email: from), subject: subject,
            content: [.init(type: "text/plain", value: text)], custom_args: ["notification_id": notification])
        var request = HTTPClientRequest(url: apiBase + "/v3/mail/send")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(apiKey)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(data: try JSONEncoder().encode(mail)))
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await http.execute(request, timeout: .seconds(30))
            body = try await response.body.collect(upTo: 1 << 20)
        } catch {
            throw NotificationDeliveryError(channel: "email", reason: "SendGrid unreachable: \(type(of: error))", retryable: true)
        }
        let status = Int(response.status.code)
        guard status == 202 || status == 200 else {
            struct Errors: Decodable {
                struct E: Decodable { var message: String? }
                var errors: [E]?
            }
            let messages = (try? JSONDecoder().decode(Errors.self, from: body))?.errors?.compactMap(\.message).joined(separator: "; ") ?? ""
            throw NotificationDeliveryError(
                channel: "email", reason: "SendGrid answered \(status)\(messages.isEmpty ? "" : ": \(messages)")",
                retryable: status == 429 || status >= 500)
        }
        return response.headers.first(name: "X-Message-Id")
    }
}

/// A channel that could not deliver.
public struct NotificationDeliveryError: Error, Sendable, CustomStringConvertible {
    public var channel: String
    public var reason: String
    /// Whether a later try may succeed (5xx, 429, no answer); a 4xx is final for that channel.
    public var retryable: Bool
    public var description: String { "\(channel): \(reason)" }
}

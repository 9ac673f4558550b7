import Foundation
import NIOCore
import Synchronization

/// Binds job names to handlers. Build it before the worker starts; any node can run any registered job.
public final class JobRegistry: Sendable {
    /// A type-erased handler: encoded payload in, encoded result out.
    public typealias Handler = @Sendable (ByteBuffer, JobContext) async throws -> ByteBuffer

    struct Entry: Sendable {
        var handler: Handler
        var timeout: Duration?
    }

    private let entries = Mutex<[String: Entry]>([:])

    public init() {}

    /// Registers a typed job whose handler returns nothing.
    ///
    /// - Parameters:
    ///   - type: the job type; its `jobName` is the key.
    ///   - timeout: the default execution timeout for this job (an enqueue option overrides it).
    public func register<J: JobPayload>(
        _ type: J.Type, timeout: Duration? = nil, _ handler: @escaping @Sendable (J, JobContext) async throws -> Void
    ) {
        registerRaw(J.jobName, timeout: timeout) { payload, context in
            try await handler(try Self.decode(J.self, payload), context)
            return ByteBuffer()
        }
    }

    /// Registers a typed job whose handler returns an encodable result (stored as JSON).
    public func register<J: JobPayload, R: Encodable & Sendable>(
        _ type: J.Type, timeout: Duration? = nil, returning: R.Type,
        _ handler: @escaping @Sendable (J, JobContext) async throws -> R
    ) {
        registerRaw(J.jobName, timeout: timeout) { payload, context in
            let result = try await handler(try Self.decode(J.self, payload), context)
            return ByteBuffer(bytes: try JSONEncoder().encode(result))
        }
    }

    /// Registers a handler for encoded payloads under `name`.
    public func registerRaw(_ name: String, timeout: Duration? = nil, _ handler: @escaping Handler) {
        entries.withLock { $0[name] = Entry(handler: handler, timeout: timeout) }
    }

    /// The registered names, sorted.
    public var names: [String] { entries.withLock { $0.keys.sorted() } }

    func entry(_ name: String) -> Entry? { entries.withLock { $0[name] } }

    static func decode<J: Decodable>(_ type: J.Type, _ payload: ByteBuffer) throws -> J {
        do {
            return try JSONDecoder().decode(J.self, from: Data(payload.readableBytesView))
        } catch let error as DecodingError {
            throw JobPayloadError(description: "payload: \(Self.describe(error))")
        } catch {
            throw JobPayloadError(description: "payload: \(error)")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ c: [any CodingKey]) -> String { c.map(\.stringValue).joined(separator: ".") }
        switch error {
        case .keyNotFound(let key, let ctx):
            let p = path(ctx.codingPath + [key])
            return "missing key '\(p)'"
        case .typeMismatch(let type, let ctx): return "wrong type at '\(path(ctx.codingPath))', expected \(type)"
        case .valueNotFound(let type, let ctx): return "null at '\(path(ctx.codingPath))', expected \(type)"
        case .dataCorrupted(let ctx): return "not valid JSON (\(ctx.debugDescription))"
        @unknown default: return "\(error)"
        }
    }
}

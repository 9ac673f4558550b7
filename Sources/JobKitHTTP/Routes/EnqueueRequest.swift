import Foundation
import JobKit
import NIOCore

/// The body of `POST /v1/jobs` (and each element of `jobs` in `POST /v1/jobs:batch`).
///
/// `name` is required; everything else has the engine's default. Unknown fields are refused (400
/// `unknown_field`), so that a misspelt option never passes silently.
public struct EnqueueRequest: Sendable, Decodable {
    public var name: String
    /// Any JSON value; stored as its compact encoding (default `{}`).
    public var payload: JSONValue
    public var queue: String?
    public var priority: Int?
    public var delaySeconds: Double?
    /// When to run: RFC 3339 (`2026-01-02T03:04:05Z`) or milliseconds since the Unix epoch.
    public var runAt: RunAt?
    public var maxAttempts: Int?
    public var timeoutSeconds: Double?
    public var idempotencyKey: String?
    public var tenant: String?
    public var correlationId: String?

    static let fields: Set<String> = [
        "name", "payload", "queue", "priority", "delaySeconds", "runAt", "maxAttempts", "timeoutSeconds",
        "idempotencyKey", "tenant", "correlationId",
    ]

    /// One request's body: ``JSONScanner`` and ``init(fast:)``, else `JSONDecoder` (whose errors name the field).
    static func decode(_ body: ByteBuffer) throws -> EnqueueRequest {
        if case .object(let o)? = JSONScanner.parse(body), let request = EnqueueRequest(fast: o) { return request }
        return try RequestBody.decode(EnqueueRequest.self, from: body)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        try c.refuseUnknownKeys(Self.fields)
        name = try c.decode(String.self, forKey: AnyKey("name"))
        payload = try c.optional(JSONValue.self, "payload") ?? .object([:])
        queue = try c.optional(String.self, "queue")
        priority = try c.optional(Int.self, "priority")
        delaySeconds = try c.optional(Double.self, "delaySeconds")
        runAt = try c.optional(RunAt.self, "runAt")
        maxAttempts = try c.optional(Int.self, "maxAttempts")
        timeoutSeconds = try c.optional(Double.self, "timeoutSeconds")
        idempotencyKey = try c.optional(String.self, "idempotencyKey")
        tenant = try c.optional(String.self, "tenant")
        correlationId = try c.optional(String.self, "correlationId")
    }

    /// The fast path's mapping from a parsed object (``JSONScanner``): nil for anything it does not take as is
    /// (an unknown or missing field, a wrong type, a non-integral number for an integer, a `runAt` text that does
    /// not parse), so that the caller decodes with `JSONDecoder` and answers with the field's error.
    init?(fast o: [String: JSONValue]) {
        guard o.count <= Self.fields.count, o.keys.allSatisfy(Self.fields.contains), case .string(let name)? = o["name"] else { return nil }
        func text(_ key: String) -> String?? {
            switch o[key] {
            case nil, .null?: return .some(nil)
            case .string(let v)?: return .some(v)
            default: return nil
            }
        }
        func integer(_ key: String) -> Int?? {
            switch o[key] {
            case nil, .null?: return .some(nil)
            case .integer(let v)?: return Int(exactly: v).map { .some($0) } ?? nil
            default: return nil
            }
        }
        func double(_ key: String) -> Double?? {
            switch o[key] {
            case nil, .null?: return .some(nil)
            case .integer(let v)?: return .some(Double(v))
            case .number(let v)?: return .some(v)
            default: return nil
            }
        }
        guard let queue = text("queue"), let priority = integer("priority"), let delaySeconds = double("delaySeconds"),
            let maxAttempts = integer("maxAttempts"), let timeoutSeconds = double("timeoutSeconds"),
            let idempotencyKey = text("idempotencyKey"), let tenant = text("tenant"), let correlationId = text("correlationId")
        else { return nil }
        switch o["runAt"] {
        case nil, .null?: runAt = nil
        case .integer(let ms)?: runAt = RunAt(milliseconds: ms)
        case .string(let t)?:
            guard let ms = RunAt.parse(t) else { return nil }
            runAt = RunAt(milliseconds: ms)
        default: return nil
        }
        self.name = name
        self.payload = o["payload"].flatMap { $0 == .null ? nil : $0 } ?? .object([:])
        self.queue = queue
        self.priority = priority
        self.delaySeconds = delaySeconds
        self.maxAttempts = maxAttempts
        self.timeoutSeconds = timeoutSeconds
        self.idempotencyKey = idempotencyKey
        self.tenant = tenant
        self.correlationId = correlationId
    }

    /// `runAt` as a timestamp string or a number of milliseconds.
    public struct RunAt: Sendable, Decodable {
        public var milliseconds: Int64

        init(milliseconds: Int64) { self.milliseconds = milliseconds }

        /// An RFC 3339 time (fractional seconds allowed) in ms since the epoch.
        static func parse(_ text: String) -> Int64? {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            guard let date = formatter.date(from: text) ?? ISO8601DateFormatter().date(from: text) else { return nil }
            return Int64((date.timeIntervalSince1970 * 1000).rounded())
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let ms = try? c.decode(Int64.self) {
                milliseconds = ms
                return
            }
            guard let text = try? c.decode(String.self) else {
                throw APIError.invalidField(RequestBody.path(c.codingPath), "expected an RFC 3339 time or milliseconds since the epoch")
            }
            guard let ms = Self.parse(text) else {
                throw APIError.invalidField(RequestBody.path(c.codingPath), "'\(text)' is not an RFC 3339 time")
            }
            milliseconds = ms
        }
    }

    /// The engine's job: options checked here for what the engine can't name (the JSON field), the rest by
    /// `JobQueue`'s own validation.
    ///
    /// - Parameters:
    ///   - field: the JSON path of this request (`""` for a single job, `jobs[3]` in a batch).
    ///   - requestID: the correlation id when the body gives none.
    /// - Throws: ``APIError`` `invalid_field`.
    func job(field: String, requestID: String) throws -> JobQueue.Job {
        func name(_ f: String) -> String { field.isEmpty ? f : "\(field).\(f)" }
        var options = EnqueueOptions()
        if let queue { options.queue = queue }
        if let priority { options.priority = priority }
        if let maxAttempts { options.maxAttempts = maxAttempts }
        if delaySeconds != nil && runAt != nil {
            throw APIError.invalidField(name("runAt"), "give delaySeconds or runAt, not both")
        }
        if let delaySeconds {
            guard delaySeconds.isFinite, delaySeconds >= 0, delaySeconds <= 1e10 else {
                throw APIError.invalidField(name("delaySeconds"), "must be a number of seconds, 0 or more")
            }
            options.delay = .milliseconds(Int64((delaySeconds * 1000).rounded()))
        }
        if let runAt {
            guard runAt.milliseconds >= 0 else { throw APIError.invalidField(name("runAt"), "is before 1970") }
            options.runAtMilliseconds = runAt.milliseconds
        }
        if let timeoutSeconds {
            guard timeoutSeconds.isFinite, timeoutSeconds >= 0.001, timeoutSeconds <= 1e9 else {
                throw APIError.invalidField(name("timeoutSeconds"), "must be a number of seconds, at least 0.001")
            }
            options.timeout = .milliseconds(Int64((timeoutSeconds * 1000).rounded()))
        }
        if let idempotencyKey {
            guard !idempotencyKey.isEmpty else { throw APIError.invalidField(name("idempotencyKey"), "is empty") }
            options.idempotencyKey = idempotencyKey
        }
        if let tenant, !tenant.isEmpty { options.tenantID = tenant }
        options.correlationID = correlationId.flatMap { $0.isEmpty ? nil : $0 } ?? requestID
        guard !self.name.isEmpty else { throw APIError.invalidField(name("name"), "is empty") }
        // The payload is stored as its JSON text, whatever its type (a string payload keeps its quotes); written
        // directly unless it holds a non-integral number, whose text JSONEncoder decides.
        var payload = ByteBuffer()
        if !self.payload.writeCompact(into: &payload) { payload = try JSONOutput.encode(self.payload) }
        return JobQueue.Job(name: self.name, payload: payload, options: options)
    }
}

/// The body of `POST /v1/jobs:batch`: `{"jobs": [...]}`, 1 to 1,000 jobs.
struct EnqueueBatchRequest: Decodable {
    var jobs: [EnqueueRequest]

    init(jobs: [EnqueueRequest]) { self.jobs = jobs }

    /// The body parsed by ``JSONScanner`` and mapped without `JSONDecoder`, else decoded by it (whose errors
    /// name the field).
    static func decode(_ body: ByteBuffer) throws -> EnqueueBatchRequest {
        if case .object(let o)? = JSONScanner.parse(body), o.count == 1, case .array(let items)? = o["jobs"] {
            var jobs: [EnqueueRequest] = []
            jobs.reserveCapacity(items.count)
            for item in items {
                guard case .object(let fields) = item, let job = EnqueueRequest(fast: fields) else { break }
                jobs.append(job)
            }
            if jobs.count == items.count { return EnqueueBatchRequest(jobs: jobs) }
        }
        return try RequestBody.decode(EnqueueBatchRequest.self, from: body)
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        try c.refuseUnknownKeys(["jobs"])
        jobs = try c.decode([EnqueueRequest].self, forKey: AnyKey("jobs"))
    }
}

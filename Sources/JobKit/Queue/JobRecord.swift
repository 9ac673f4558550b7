import NIOCore

/// A job's stored record, as `jobnode jobs show --json` prints it.
public struct JobRecord: Sendable, Codable, Equatable {
    public var id: String
    public var name: String
    public var queue: String
    public var state: JobState
    public var priority: Int
    public var attempts: Int
    public var maxAttempts: Int
    public var enqueuedAtMs: Int64?
    public var startedAtMs: Int64?
    public var finishedAtMs: Int64?
    public var runAtMs: Int64?
    /// The node that ran (or runs) the job's latest attempt.
    public var node: String?
    public var lastError: String?
    public var tenant: String?
    public var correlation: String?
    /// The payload as text (JSON by convention).
    public var payload: String
    /// The encoded result of a completed job.
    public var result: String?
    /// One entry per failed attempt, newest last (at most 25).
    public var history: [Attempt]

    /// One failed attempt.
    public struct Attempt: Sendable, Codable, Equatable {
        public var attempt: Int
        public var at: Int64
        public var node: String
        public var error: String
        public var kind: String
    }

    enum CodingKeys: String, CodingKey {
        case id, name, queue, state, priority, attempts, maxAttempts, enqueuedAtMs, startedAtMs, finishedAtMs, runAtMs,
            node, lastError, tenant, correlation, payload, result, history
    }

    /// Encodes every key, with `null` for absent values, so that scripts can rely on the keys.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(name, forKey: .name)
        try c.encode(queue, forKey: .queue)
        try c.encode(state, forKey: .state)
        try c.encode(priority, forKey: .priority)
        try c.encode(attempts, forKey: .attempts)
        try c.encode(maxAttempts, forKey: .maxAttempts)
        try c.encode(enqueuedAtMs, forKey: .enqueuedAtMs)
        try c.encode(startedAtMs, forKey: .startedAtMs)
        try c.encode(finishedAtMs, forKey: .finishedAtMs)
        try c.encode(runAtMs, forKey: .runAtMs)
        try c.encode(node, forKey: .node)
        try c.encode(lastError, forKey: .lastError)
        try c.encode(tenant, forKey: .tenant)
        try c.encode(correlation, forKey: .correlation)
        try c.encode(payload, forKey: .payload)
        try c.encode(result, forKey: .result)
        try c.encode(history, forKey: .history)
    }

    /// Builds a record from `HGETALL` output; `nil` when the hash is empty.
    init?(id: String, queue: String, hash: RESPValue) {
        let f = hash.fields
        guard let state = f["state"]?.string.flatMap(JobState.init(rawValue:)) else { return nil }
        self.id = id
        self.queue = queue
        self.state = state
        self.name = f["name"]?.string ?? ""
        self.priority = f["priority"]?.int ?? 0
        self.attempts = f["attempts"]?.int ?? 0
        self.maxAttempts = f["maxAttempts"]?.int ?? 1
        self.enqueuedAtMs = f["enqueuedAt"]?.int.map(Int64.init)
        self.startedAtMs = f["startedAt"]?.int.map(Int64.init)
        self.finishedAtMs = f["finishedAt"]?.int.map(Int64.init)
        self.runAtMs = f["runAt"]?.int.map(Int64.init)
        self.node = f["node"]?.string
        self.lastError = f["lastError"]?.string
        self.tenant = f["tenant"]?.string
        self.correlation = f["correlation"]?.string
        self.payload = f["payload"]?.string ?? ""
        self.result = f["result"]?.string
        if let h = f["history"]?.string, let data = h.data(using: .utf8),
            let attempts = try? JSONDecoder().decode([Attempt].self, from: data)
        {
            self.history = attempts
        } else {
            self.history = []
        }
    }
}

import Foundation

import NIOCore

/// A job this node holds under a lease.
struct ClaimedJob: Sendable {
    var id: String
    var token: String
    var name: String
    var payload: ByteBuffer
    var attempt: Int
    var maxAttempts: Int
    var timeoutMs: Int
    var tenant: String?
    var correlation: String?
    var enqueuedAt: Int64
    /// The due time of a delayed job (Redis ms), `nil` when it was ready at once.
    var runAt: Int64?
    /// The producer's trace context (the injected carrier as a JSON object), `nil` when none was carried.
    var trace: String?
    /// Redis time of the claim (ms).
    var claimedAt: Int64
    var queue: String

    /// Values per job in the claim script's reply.
    static let fieldsPerJob = 13

    /// How long the job waited to start, by Redis time: from enqueue (or its due time, when delayed) to
    /// this claim. `nil` for a retry, which waited on purpose.
    var waitMs: Int64? {
        guard attempt == 1 else { return nil }
        return max(0, claimedAt - max(enqueuedAt, runAt ?? 0))
    }

    /// Parses the claim script's reply: `[status, nextDueMs, (fieldsPerJob values) × n]`.
    static func parse(_ reply: RESPValue, queue: String) throws -> (paused: Bool, nextDueMs: Int, jobs: [ClaimedJob]) {
        let w = fieldsPerJob
        guard let v = reply.array, v.count >= 2, (v.count - 2) % w == 0 else {
            throw RedisError(.unexpectedReply, "claim reply malformed")
        }
        var jobs: [ClaimedJob] = []
        jobs.reserveCapacity((v.count - 2) / w)
        var i = 2
        while i < v.count {
            let tenant = v[i + 7].string ?? ""
            let correlation = v[i + 8].string ?? ""
            let runAt = v[i + 10].string.flatMap { Int64($0) }
            let trace = v[i + 11].string ?? ""
            jobs.append(
                ClaimedJob(
                    id: v[i].string ?? "", token: v[i + 1].string ?? "0", name: v[i + 2].string ?? "",
                    payload: v[i + 3].buffer ?? ByteBuffer(), attempt: v[i + 4].int ?? 1, maxAttempts: v[i + 5].int ?? 1,
                    timeoutMs: v[i + 6].int ?? 0, tenant: tenant.isEmpty ? nil : tenant,
                    correlation: correlation.isEmpty ? nil : correlation, enqueuedAt: Int64(v[i + 9].int ?? 0),
                    runAt: runAt, trace: trace.isEmpty ? nil : trace, claimedAt: Int64(v[i + 12].int ?? 0),
                    queue: queue))
            i += w
        }
        return (v[0].int == 0, v[1].int ?? -1, jobs)
    }
}

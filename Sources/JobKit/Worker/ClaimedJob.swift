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
    var queue: String

    /// Parses the claim script's reply: `[status, nextDueMs, (10 fields) × n]`.
    static func parse(_ reply: RESPValue, queue: String) throws -> (paused: Bool, nextDueMs: Int, jobs: [ClaimedJob]) {
        guard let v = reply.array, v.count >= 2, (v.count - 2) % 10 == 0 else {
            throw RedisError(.unexpectedReply, "claim reply malformed")
        }
        var jobs: [ClaimedJob] = []
        jobs.reserveCapacity((v.count - 2) / 10)
        var i = 2
        while i < v.count {
            let tenant = v[i + 7].string ?? ""
            let correlation = v[i + 8].string ?? ""
            jobs.append(
                ClaimedJob(
                    id: v[i].string ?? "", token: v[i + 1].string ?? "0", name: v[i + 2].string ?? "",
                    payload: v[i + 3].buffer ?? ByteBuffer(), attempt: v[i + 4].int ?? 1, maxAttempts: v[i + 5].int ?? 1,
                    timeoutMs: v[i + 6].int ?? 0, tenant: tenant.isEmpty ? nil : tenant,
                    correlation: correlation.isEmpty ? nil : correlation, enqueuedAt: Int64(v[i + 9].int ?? 0),
                    queue: queue))
            i += 10
        }
        return (v[0].int == 0, v[1].int ?? -1, jobs)
    }
}

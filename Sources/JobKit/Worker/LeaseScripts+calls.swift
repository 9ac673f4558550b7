import NIOCore

/// The typed contracts of the lease scripts: each builds its call (keys and arguments in the order its Lua
/// reads them) and parses its reply, so that no caller counts positions.
extension LeaseScripts {
    /// How an attempt failed, for ``fail(_:id:token:kind:error:delay:jitter:node:)``.
    enum FailKind: String, Sendable {
        /// The handler threw or timed out: retry with backoff while attempts remain.
        case error
        /// The job can never run (unknown name, bad payload): dead at once.
        case poison
        /// ``JobRetryLater``: reschedule without using an attempt.
        case later
        /// Canceled by request.
        case canceled
    }

    /// What the fail script did.
    enum FailOutcome: String, Sendable {
        case retrying, scheduled, dead, canceled
        /// The token no longer matches: the lease was taken over.
        case refused
    }

    /// Counts from the reap and reclaim scripts.
    struct Moved: Sendable, Equatable {
        var requeued: Int
        var dead: Int

        init(_ reply: RESPValue) throws {
            let counts = (reply.array ?? []).compactMap(\.int)
            guard counts.count == 2 else { throw RedisError(.unexpectedReply, "reap reply malformed") }
            self.requeued = counts[0]
            self.dead = counts[1]
        }
    }

    static func claim(_ keys: QueueKeys, count: Int, lease: Duration, node: String) -> RedisScriptCall {
        RedisScriptCall(claim, keys: [keys.prefix], arguments: [count, Int(lease.milliseconds), node])
    }

    /// One call for up to a few hundred completions of one queue.
    static func complete(_ keys: QueueKeys, _ completions: ArraySlice<Acker.Completion>) -> RedisScriptCall {
        var args: [any RESPArgument] = []
        args.reserveCapacity(completions.count * 3)
        for c in completions {
            args.append(c.id)
            args.append(c.token)
            args.append(c.result)
        }
        return RedisScriptCall(complete, keys: [keys.prefix], arguments: args)
    }

    static func fail(
        _ keys: QueueKeys, id: String, token: String, kind: FailKind, error: String, delay: Duration, jitter: Double,
        node: String
    ) -> RedisScriptCall {
        RedisScriptCall(
            fail, keys: [keys.prefix],
            arguments: [id, token, kind.rawValue, error, Int(delay.milliseconds), jitter, node])
    }

    static func failOutcome(_ reply: RESPValue) throws -> FailOutcome {
        guard let text = reply.array?.first?.string, let outcome = FailOutcome(rawValue: text) else {
            throw RedisError(.unexpectedReply, "fail reply malformed")
        }
        return outcome
    }

    static func release(_ keys: QueueKeys, _ jobs: [ClaimedJob]) -> RedisScriptCall {
        var args: [any RESPArgument] = []
        for job in jobs {
            args.append(job.id)
            args.append(job.token)
        }
        return RedisScriptCall(release, keys: [keys.prefix], arguments: args)
    }

    static func renew(
        _ keys: QueueKeys, lease: Duration, node: String, pauseThresholdMs: Int, unheldAfterMs: Int, held: [ClaimedJob]
    ) -> RedisScriptCall {
        var args: [any RESPArgument] = [Int(lease.milliseconds), node, pauseThresholdMs, unheldAfterMs]
        args.reserveCapacity(4 + held.count * 2)
        for job in held {
            args.append(job.id)
            args.append(job.token)
        }
        return RedisScriptCall(renew, keys: [keys.prefix], arguments: args)
    }

    static func reap(_ keys: QueueKeys, limit: Int, pauseThresholdMs: Int, maxExpiries: Int) -> RedisScriptCall {
        RedisScriptCall(reap, keys: [keys.prefix], arguments: [limit, pauseThresholdMs, maxExpiries])
    }

    static func reclaimNode(_ keys: QueueKeys, node: String, cutoffMs: Int64, maxExpiries: Int) -> RedisScriptCall {
        RedisScriptCall(reclaimNode, keys: [keys.prefix], arguments: [node, Int(cutoffMs), maxExpiries])
    }
}

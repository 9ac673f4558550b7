import NIOCore

/// The typed contracts of the queue scripts (all but `enqueue`, whose call ``JobQueue`` builds as it
/// validates the jobs): each builds its call (keys `[prefix]`, arguments in the order its Lua reads them)
/// and parses its reply, so that no caller counts positions.
extension QueueScripts {
    // MARK: watch

    /// A job's state when ``watch(_:id:)`` marked it as awaited.
    struct Watched: Sendable {
        /// Its state; nil for a state this version does not know.
        var state: JobState?
        /// Its stored result (empty when none).
        var result: ByteBuffer
        /// Its last error (empty when none).
        var error: String

        /// Parses the watch script's reply: nil when the job does not exist (an empty array).
        static func parse(_ reply: RESPValue) -> Watched? {
            guard let fields = reply.array, fields.count == 3 else { return nil }
            return Watched(
                state: fields[0].string.flatMap(JobState.init(rawValue:)), result: fields[1].buffer ?? ByteBuffer(),
                error: fields[2].string ?? "")
        }
    }

    /// Marks job `id` as awaited (its terminal event then carries its result) and reads its state; parse the
    /// reply with ``Watched/parse(_:)``.
    static func watch(_ keys: QueueKeys, id: String) -> RedisScriptCall {
        RedisScriptCall(watch, keys: [keys.prefix], arguments: [id])
    }

    // MARK: by id

    /// Moves the given dead or canceled jobs back to `ready` (at most 1,000 ids per call); the reply is the
    /// number moved (``count(_:of:)``).
    static func requeue(_ keys: QueueKeys, ids: ArraySlice<String>) -> RedisScriptCall {
        RedisScriptCall(requeue, keys: [keys.prefix], arguments: Array(ids))
    }

    /// Deletes the given jobs wherever they are (at most 1,000 ids per call); the reply is the number that
    /// existed (``count(_:of:)``).
    static func delete(_ keys: QueueKeys, ids: ArraySlice<String>) -> RedisScriptCall {
        RedisScriptCall(delete, keys: [keys.prefix], arguments: Array(ids))
    }

    /// Deletes the given jobs unless they run (at most 1,000 ids per call); the reply is the number deleted.
    static func deleteIdle(_ keys: QueueKeys, ids: ArraySlice<String>) -> RedisScriptCall {
        RedisScriptCall(deleteIdle, keys: [keys.prefix], arguments: Array(ids))
    }

    /// Moves the given waiting jobs to dead (at most 1,000 ids per call); the reply is the number moved.
    static func bury(_ keys: QueueKeys, ids: ArraySlice<String>) -> RedisScriptCall {
        RedisScriptCall(bury, keys: [keys.prefix], arguments: Array(ids))
    }

    /// The integer reply of ``requeue(_:ids:)`` and ``delete(_:ids:)``.
    ///
    /// - Throws: `RedisError` `unexpectedReply` when the reply is not an integer.
    static func count(_ reply: RESPValue, of script: String) throws -> Int {
        guard let n = reply.int else { throw RedisError(.unexpectedReply, "\(script) reply is not a count") }
        return n
    }

    /// What the cancel script did with one id.
    enum CancelStatus: Sendable, Equatable {
        /// The job was waiting and is now `canceled`.
        case canceled
        /// The job is running on `node` (empty when unknown) and is now marked `cancelRequested`.
        case requested(node: String)
        /// The job had already finished (`state`): nothing to do.
        case finished(state: String)
        /// No such job in this queue.
        case missing

        /// Parses the cancel script's reply: one status per id, in the order of the ids.
        ///
        /// - Throws: `RedisError` `unexpectedReply` for an entry that is not `[status, node or state]`.
        static func parse(_ reply: RESPValue) throws -> [CancelStatus] {
            try (reply.array ?? []).map { entry in
                guard let parts = entry.array, parts.count == 2, let status = parts[0].string else {
                    throw RedisError(.unexpectedReply, "cancel reply entry malformed")
                }
                let detail = parts[1].string ?? ""
                switch status {
                case "canceled": return .canceled
                case "requested": return .requested(node: detail)
                case "finished": return .finished(state: detail)
                case "missing": return .missing
                default: throw RedisError(.unexpectedReply, "cancel reply status '\(status)' unknown")
                }
            }
        }
    }

    /// Cancels the given jobs (a waiting one at once, a running one by request); parse the reply with
    /// ``CancelStatus/parse(_:)``.
    static func cancel(_ keys: QueueKeys, ids: [String]) -> RedisScriptCall {
        RedisScriptCall(cancel, keys: [keys.prefix], arguments: ids)
    }

    // MARK: chunked walks

    /// Where a chunked walk (``walkFunction``) resumes: the index of the set (1-based, 0 = done), the last
    /// member visited and its score as Redis printed it.
    struct WalkCursor: Sendable, Equatable {
        var setIndex: Int
        var member: String
        var score: String

        /// Before the first call.
        static let start = WalkCursor(setIndex: 1, member: "", score: "")

        /// True once every set was walked to its end.
        var isDone: Bool { setIndex == 0 }

        var arguments: [any RESPArgument] { [setIndex, member, score] }
    }

    /// One chunk's reply: what the script did (`body`, its leading values), the next cursor, and how many
    /// entries it visited.
    struct Chunk<Body: Sendable>: Sendable {
        var body: Body
        var next: WalkCursor
        var visited: Int

        /// Parses a reply `[leading values…, next set index, member, score, visited]` with exactly `leading`
        /// leading values, handed to `body`.
        ///
        /// - Throws: `RedisError` `unexpectedReply` when the reply is not of that shape.
        static func parse(
            _ reply: RESPValue, of script: String, leading: Int, _ body: ([RESPValue]) throws -> Body
        ) throws -> Chunk {
            guard let parts = reply.array, parts.count == leading + 4, let setIndex = parts[leading].int,
                let visited = parts[leading + 3].int
            else { throw RedisError(.unexpectedReply, "\(script) reply lacks its cursor") }
            return Chunk(
                body: try body(Array(parts.prefix(leading))),
                next: WalkCursor(
                    setIndex: setIndex, member: parts[leading + 1].string ?? "", score: parts[leading + 2].string ?? ""),
                visited: visited)
        }
    }

    /// Parses the reply of ``requeueDead(_:chunk:from:)`` or ``purge(_:chunk:from:)``: the number moved or
    /// deleted, then the cursor.
    static func countChunk(_ reply: RESPValue, of script: String) throws -> Chunk<Int> {
        try Chunk.parse(reply, of: script, leading: 1) { leading in
            guard let n = leading[0].int else { throw RedisError(.unexpectedReply, "\(script) reply lacks its count") }
            return n
        }
    }

    /// Moves up to `chunk` dead jobs back to `ready`, from `cursor`; parse the reply with
    /// ``countChunk(_:of:)``.
    static func requeueDead(_ keys: QueueKeys, chunk: Int, from cursor: WalkCursor) -> RedisScriptCall {
        RedisScriptCall(requeueDead, keys: [keys.prefix], arguments: [chunk] + cursor.arguments)
    }

    /// Deletes up to `chunk` waiting jobs, from `cursor`; parse the reply with ``countChunk(_:of:)``.
    static func purge(_ keys: QueueKeys, chunk: Int, from cursor: WalkCursor) -> RedisScriptCall {
        RedisScriptCall(purge, keys: [keys.prefix], arguments: [chunk] + cursor.arguments)
    }

    /// What one chunk of ``cancelMany(_:tenant:chunk:from:)`` did.
    struct CanceledChunk: Sendable {
        /// Waiting jobs now `canceled`.
        var canceled: Int
        /// Running jobs (of the tenant) now marked `cancelRequested`, with their nodes, to be told.
        var running: [(id: String, node: String)]

        /// Parses the cancelMany script's reply.
        ///
        /// - Throws: `RedisError` `unexpectedReply` when the reply is not
        ///   `[canceled, [id, node, …], cursor…]`.
        static func parse(_ reply: RESPValue) throws -> Chunk<CanceledChunk> {
            try Chunk.parse(reply, of: "cancelMany", leading: 2) { leading in
                guard let canceled = leading[0].int else {
                    throw RedisError(.unexpectedReply, "cancelMany reply lacks its count")
                }
                return CanceledChunk(
                    canceled: canceled, running: leading[1].pairs.map { (id: $0.key, node: $0.value.string ?? "") })
            }
        }
    }

    /// Cancels up to `chunk` entries' worth of the waiting jobs of the queue (`tenant` nil), or of one
    /// tenant's jobs, waiting and running, from `cursor`; parse the reply with ``CanceledChunk/parse(_:)``.
    static func cancelMany(_ keys: QueueKeys, tenant: String?, chunk: Int, from cursor: WalkCursor) -> RedisScriptCall {
        RedisScriptCall(cancelMany, keys: [keys.prefix], arguments: [tenant ?? "", chunk] + cursor.arguments)
    }

    // MARK: trim

    /// What one call of ``trimTerminal(_:chunk:)`` did.
    struct Trimmed: Sendable, Equatable {
        /// Finished ids removed (with their records).
        var removed: Int
        /// True when the chunk was used up: call again.
        var more: Bool

        /// Parses the trimTerminal script's reply `[removed, more]`.
        ///
        /// - Throws: `RedisError` `unexpectedReply` for any other shape.
        init(_ reply: RESPValue) throws {
            guard let parts = reply.array, parts.count == 2, let n = parts[0].int, let more = parts[1].int else {
                throw RedisError(.unexpectedReply, "trimTerminal reply is not [removed, more]")
            }
            self.removed = n
            self.more = more != 0
        }
    }

    /// Removes up to `chunk` finished ids older than their state's retention age; parse the reply with
    /// ``Trimmed/init(_:)``.
    static func trimTerminal(_ keys: QueueKeys, chunk: Int) -> RedisScriptCall {
        RedisScriptCall(trimTerminal, keys: [keys.prefix], arguments: [chunk])
    }
}

/// The typed contracts of the registry scripts: each builds its call (keys `[prefix]`, arguments in the order
/// its Lua reads them) and parses its reply, so that no caller counts positions.
extension NodeScripts {
    /// One beat of node `node`: writes its record `fields` (name/value pairs) with a TTL of `ttl`,
    /// acknowledges the first `commandAcks` commands and the cancel ids `cancelAcks` delivered on the
    /// previous beat, and declares dead the nodes silent for longer than `timeout` (after absorbing a
    /// registry-clock gap over `pauseThreshold`); parse the reply with ``HeartbeatReply/init(_:)``.
    static func heartbeat(
        _ keys: NodeKeys, node: String, ttl: Duration, timeout: Duration, pauseThreshold: Duration, commandAcks: Int,
        cancelAcks: [String], fields: [(name: String, value: String)]
    ) -> RedisScriptCall {
        var args: [any RESPArgument] = [
            node, Int(ttl.milliseconds), Int(timeout.milliseconds), Int(pauseThreshold.milliseconds), commandAcks,
            cancelAcks.count,
        ]
        args.reserveCapacity(args.count + cancelAcks.count + fields.count * 2)
        for id in cancelAcks { args.append(id) }
        for field in fields {
            args.append(field.name)
            args.append(field.value)
        }
        return RedisScriptCall(heartbeat, keys: [keys.prefix], arguments: args)
    }

    /// The heartbeat script's reply.
    struct HeartbeatReply: Sendable {
        /// Redis time of the beat (ms).
        var nowMs: Int64
        /// Job ids this node must cancel (to acknowledge on the next beat).
        var cancels: [String]
        /// Control messages for this node, oldest first (their count is acknowledged on the next beat).
        var commands: [String]
        /// The nodes this beat declared dead, with their last beat (Redis ms).
        var dead: [(node: String, lastBeatMs: Int64)]
        /// True when this node itself had been declared dead while it was silent.
        var declaredDead: Bool
        /// The registry-clock gap this beat absorbed (ms; 0 when none).
        var gapMs: Int

        /// Parses `[nowMs, [cancel ids], [commands], [dead node id, last beat ms, …], declaredDead, gapMs]`.
        ///
        /// - Throws: `RedisError` `serverError` for an error reply; `unexpectedReply` for any other shape.
        init(_ reply: RESPValue) throws {
            if case .error(let text) = reply { throw RedisError.server(text) }
            guard let parts = reply.array, parts.count == 6 else {
                throw RedisError(.unexpectedReply, "heartbeat reply malformed")
            }
            self.nowMs = Int64(parts[0].int ?? 0)
            self.cancels = (parts[1].array ?? []).compactMap(\.string)
            self.commands = (parts[2].array ?? []).compactMap(\.string)
            self.dead = parts[3].pairs.map { (node: $0.key, lastBeatMs: Int64($0.value.int ?? 0)) }
            self.declaredDead = parts[4].int == 1
            self.gapMs = parts[5].int ?? 0
        }
    }

    /// Removes node `node` from the registry (clean exit).
    static func deregister(_ keys: NodeKeys, node: String) -> RedisScriptCall {
        RedisScriptCall(deregister, keys: [keys.prefix], arguments: [node])
    }
}

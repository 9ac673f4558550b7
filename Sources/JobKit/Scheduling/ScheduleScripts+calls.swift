/// The typed contracts of the schedule scripts: each builds its call (keys `[prefix]`, arguments in the order
/// its Lua reads them) and parses its reply, so that no caller counts positions.
extension ScheduleScripts {
    // MARK: tick

    /// One job a tick enqueues: the tick it belongs to, when it runs (the tick plus its jitter) and its id.
    struct TickJob: Sendable, Equatable {
        var tick: Int64
        var runAtMs: Int64
        var id: String
    }

    /// What the tick script did.
    enum TickStatus: Int, Sendable {
        /// The due score was no longer the expected tick: another node claimed it.
        case claimedElsewhere = 0
        /// The tick is not due yet by Redis time.
        case notDue = -1
        /// The tick was claimed and its jobs enqueued (or it advanced with nothing to fire).
        case fired = 1
        /// The tick was claimed but skipped: the previous run is still going (overlap `skip`).
        case skipped = 2
    }

    /// The tick script's reply.
    struct TickReply: Sendable {
        var status: TickStatus
        /// Ids of the jobs enqueued (a tick whose idempotency key already existed enqueues none).
        var ids: [String]
        /// The previous run, still running, that overlap `replace` marked `cancelRequested`, with its node
        /// (empty when unknown), to be told.
        var replaced: (id: String, node: String)?

        /// Parses `[status]` or `[status, ids, canceled id, its node]`.
        ///
        /// - Throws: `RedisError` `unexpectedReply` for a missing or unknown status.
        init(_ reply: RESPValue) throws {
            let parts = reply.array ?? []
            guard let raw = parts.first?.int, let status = TickStatus(rawValue: raw) else {
                throw RedisError(.unexpectedReply, "tick reply lacks a known status")
            }
            self.status = status
            self.ids = (parts.count > 1 ? parts[1].array ?? [] : []).compactMap(\.string)
            if parts.count == 4, let id = parts[2].string, !id.isEmpty, let node = parts[3].string {
                self.replaced = (id, node)
            } else {
                self.replaced = nil
            }
        }
    }

    /// Claims the due tick `expectedTick` of the schedule stored as `name` (a compare-and-set of its due
    /// score), advances it to `nextTick` (nil: the schedule has no further tick) and enqueues `jobs` with the
    /// job, payload, priority, attempts, timeout and overlap policy of its definition `schedule`; parse the
    /// reply with ``TickReply/init(_:)``.
    static func tick(
        _ keys: QueueKeys, name: String, schedule: Schedule, expectedTick: Int64, nextTick: Int64?, jobs: [TickJob]
    ) -> RedisScriptCall {
        var args: [any RESPArgument] = [
            name, expectedTick, nextTick ?? -1, schedule.overlap.rawValue, schedule.job, schedule.payload,
            schedule.priority, schedule.maxAttempts, schedule.timeoutMs ?? 0, jobs.count,
        ]
        args.reserveCapacity(args.count + jobs.count * 3)
        for job in jobs {
            args.append(job.tick)
            args.append(job.runAtMs)
            args.append(job.id)
        }
        return RedisScriptCall(tick, keys: [keys.prefix], arguments: args)
    }

    // MARK: upsert and remove

    /// What the upsert script did with a definition.
    enum UpsertOutcome: String, Sendable {
        /// There was no schedule of that name.
        case added
        /// The stored definition differed.
        case updated
        /// The stored definition was the same.
        case unchanged
        /// An operator's version is stored (the code's sync leaves it alone).
        case kept

        /// Parses the upsert script's reply.
        ///
        /// - Throws: `RedisError` `unexpectedReply` for any other reply.
        init(_ reply: RESPValue) throws {
            guard let text = reply.string, let outcome = UpsertOutcome(rawValue: text) else {
                throw RedisError(.unexpectedReply, "upsert reply malformed")
            }
            self = outcome
        }
    }

    /// Stores `schedule`'s definition and, when what decides its ticks changed (or it had no due score),
    /// sets its next tick to `nextTick` (nil: none); parse the reply with ``UpsertOutcome/init(_:)``.
    static func upsert(_ keys: QueueKeys, schedule: Schedule, nextTick: Int64?, byOperator: Bool = true) -> RedisScriptCall {
        RedisScriptCall(
            upsert, keys: [keys.prefix],
            arguments: [
                schedule.name, schedule.encoded, schedule.triggerFingerprint, nextTick ?? -1,
                schedule.enabled ? "1" : "0", byOperator ? "1" : "0",
            ])
    }

    /// Removes the schedule `name` from the queue's keys; the reply is whether it existed
    /// (``removed(_:)``).
    static func remove(_ keys: QueueKeys, name: String) -> RedisScriptCall {
        RedisScriptCall(remove, keys: [keys.prefix], arguments: [name])
    }

    /// The remove script's reply: true when the schedule existed.
    static func removed(_ reply: RESPValue) -> Bool { reply.int == 1 }
}

import NIOCore

/// A Lua script that runs by `EVALSHA` and loads itself when the server doesn't know it.
///
/// The SHA1 is computed locally when the script is created. If the server answers `NOSCRIPT` (after a
/// restart, a failover or `SCRIPT FLUSH`), the script is sent once with `EVAL`, which also caches it,
/// and the call goes on transparently.
///
/// Every script starts with ``slotGuard``: on a Redis Cluster whose slot of `KEYS[1]` is being migrated, the
/// script does nothing and answers `TRYAGAIN`, which the cluster client retries until the migration ends.
public struct RedisScript: Sendable, Hashable {
    /// The Lua source, ``slotGuard`` included.
    public let source: String
    /// The lowercase hex SHA1 of ``source``, as Redis computes it.
    public let sha1: String

    /// - Parameter body: the script's Lua; ``slotGuard`` is put in front of it.
    public init(_ body: String) {
        self.source = Self.slotGuard + body
        self.sha1 = SHA1.hex(Array(source.utf8))
    }

    /// The first lines of every script: refuse to run while the slot of `KEYS[1]` is migrating.
    ///
    /// A script builds key names inside its slot (job hashes named by ids it reads), so Redis's own check of the
    /// declared keys cannot tell whether every key it will touch is on this node. During a migration
    /// (`CLUSTER SETSLOT … MIGRATING/IMPORTING` and `MIGRATE`), a queue's keys are split between two nodes: a
    /// script on the target would read the keys still on the source as empty and create keys that `MIGRATE`
    /// then refuses (`BUSYKEY`); one on the source would fail at the first moved key with its earlier writes
    /// kept. So before any other command, the script asks about two keys of its slot in one `EXISTS`: the
    /// first key and a key that never exists (the first key up to its hash tag, then `~slot-guard`, so that
    /// an ACL key pattern on the namespace covers it). On a stable slot that is an ordinary read. On a slot
    /// that is `MIGRATING` or `IMPORTING`, Redis refuses a multi-key command with a missing key (`TRYAGAIN` or
    /// `ASK`), and the script answers `TRYAGAIN` having done nothing; any other error (`NOPERM`) is returned as
    /// it is. On one server the check costs one `EXISTS`. Keyless scripts, an empty first key, and first keys
    /// whose slot the probe key could not share (a `}` without a hash tag) skip it.
    public static let slotGuard = """
        do
          local k = KEYS[1]
          if k and k ~= '' then
            local probe
            local o = string.find(k, '{', 1, true)
            local c = o and string.find(k, '}', o + 1, true)
            if c and c > o + 1 then
              probe = string.sub(k, 1, c) .. '~slot-guard'
            elseif not string.find(k, '}', 1, true) then
              probe = '{' .. k .. '}~slot-guard'
            end
            if probe then
              local r = redis.pcall('EXISTS', k, probe)
              if type(r) == 'table' and r.err then
                local e = r.err
                if string.find(e, '^ASK') or string.find(e, '^TRYAGAIN') or string.find(e, '^MOVED') or string.find(e, 'non local key', 1, true) then
                  return redis.error_reply('TRYAGAIN the slot of ' .. k .. ' is migrating; the script did nothing')
                end
                return r
              end
            end
          end
        end

        """

    /// The `EVALSHA` command for these keys and arguments.
    public func evalsha(keys: [String], arguments: [any RESPArgument]) -> RedisCommand {
        var args: [any RESPArgument] = [sha1, keys.count]
        args.append(contentsOf: keys as [any RESPArgument])
        args.append(contentsOf: arguments)
        return RedisCommand("EVALSHA", arguments: args)
    }

    /// The `EVAL` command for these keys and arguments.
    public func eval(keys: [String], arguments: [any RESPArgument]) -> RedisCommand {
        var args: [any RESPArgument] = [source, keys.count]
        args.append(contentsOf: keys as [any RESPArgument])
        args.append(contentsOf: arguments)
        return RedisCommand("EVAL", arguments: args)
    }
}

extension RedisCommandable {
    /// Runs `script` with `keys` and `arguments`, loading it on `NOSCRIPT`.
    ///
    /// - Throws: `RedisError` (`serverError` carries the script's own error text).
    public func run(_ script: RedisScript, keys: [String], arguments: [any RESPArgument] = []) async throws -> RESPValue {
        // The one NOSCRIPT path: `pipeline(_:loading:)` loads the script and sends the call again.
        let reply = try await pipeline([script.evalsha(keys: keys, arguments: arguments)], loading: [script])[0]
        if case .error(let text) = reply { throw RedisError.server(text) }
        return reply
    }

    /// Runs a script many times in one pipeline; any `NOSCRIPT` replies are retried after `SCRIPT LOAD`.
    ///
    /// Error replies come back in place as `.error` values.
    public func runBatch(_ script: RedisScript, calls: [(keys: [String], arguments: [any RESPArgument])]) async throws
        -> [RESPValue]
    {
        try await pipeline(calls.map { script.evalsha(keys: $0.keys, arguments: $0.arguments) }, loading: [script])
    }

    /// Sends one script call; on `NOSCRIPT` it loads `script` and sends the call once more (the one-command
    /// form of ``pipeline(_:loading:)``, without a pipeline's bookkeeping). An error reply comes back as `.error`.
    public func send(_ command: RedisCommand, loading script: RedisScript) async throws -> RESPValue {
        do {
            return try await send(command)
        } catch let error as RedisError where error.code == .serverError {
            guard error.serverErrorPrefix == "NOSCRIPT" else { return .error(ByteBuffer(string: error.message)) }
            return try await pipeline([command], loading: [script])[0]
        }
    }

    /// Sends `commands` as one pipeline; the commands the server answered `NOSCRIPT` (after a restart,
    /// failover or `SCRIPT FLUSH`) are sent once more, and only they, after `SCRIPT LOAD` of `scripts`.
    ///
    /// Commands that succeeded are never repeated, so scripts with side effects run once. Error replies
    /// come back in place as `.error` values.
    public func pipeline(_ commands: [RedisCommand], loading scripts: [RedisScript]) async throws -> [RESPValue] {
        var replies = try await pipeline(commands)
        let missing = replies.indices.filter { replies[$0].isNoScriptError }
        guard !missing.isEmpty else { return replies }
        _ = try await pipeline(scripts.map { RedisCommand("SCRIPT", strings: ["LOAD", $0.source]) })
        let retried = try await pipeline(missing.map { commands[$0] })
        for (i, reply) in zip(missing, retried) { replies[i] = reply }
        return replies
    }
}

extension RESPValue {
    /// True for the server's `NOSCRIPT` error reply.
    var isNoScriptError: Bool {
        if case .error(let text) = self { return text.readableBytesView.starts(with: "NOSCRIPT".utf8) }
        return false
    }
}

import NIOCore

/// A Lua script that runs by `EVALSHA` and loads itself when the server doesn't know it.
///
/// The SHA1 is computed locally when the script is created. If the server answers `NOSCRIPT` (after a
/// restart, a failover or `SCRIPT FLUSH`), the script is sent once with `EVAL`, which also caches it,
/// and the call goes on transparently.
public struct RedisScript: Sendable, Hashable {
    /// The Lua source.
    public let source: String
    /// The lowercase hex SHA1 of ``source``, as Redis computes it.
    public let sha1: String

    public init(_ source: String) {
        self.source = source
        self.sha1 = SHA1.hex(Array(source.utf8))
    }

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

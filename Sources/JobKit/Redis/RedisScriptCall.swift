/// One call of a script: the script, its keys and its arguments, as built by the script's typed contract.
///
/// Every key the script reads or writes is derived from `keys` (Redis's script contract, and what Cluster
/// needs: all keys of one call in one hash slot).
public struct RedisScriptCall: Sendable {
    public let script: RedisScript
    public let keys: [String]
    public let arguments: [any RESPArgument]

    public init(_ script: RedisScript, keys: [String], arguments: [any RESPArgument]) {
        self.script = script
        self.keys = keys
        self.arguments = arguments
    }

    /// The `EVALSHA` command of this call.
    public var command: RedisCommand { script.evalsha(keys: keys, arguments: arguments) }
}

extension RedisCommandable {
    /// Runs one script call, loading the script on `NOSCRIPT`.
    ///
    /// - Throws: `RedisError` (`serverError` carries the script's own error text).
    public func run(_ call: RedisScriptCall) async throws -> RESPValue {
        try await run(call.script, keys: call.keys, arguments: call.arguments)
    }

    /// Runs script calls in one pipeline; calls answered `NOSCRIPT` are sent once more after loading
    /// their scripts. Error replies come back in place as `.error` values.
    public func run(_ calls: [RedisScriptCall]) async throws -> [RESPValue] {
        var scripts: [RedisScript] = []
        for call in calls where !scripts.contains(call.script) { scripts.append(call.script) }
        return try await pipeline(calls.map(\.command), loading: scripts)
    }
}

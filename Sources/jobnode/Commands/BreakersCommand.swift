import ArgumentParser
import JobKit

/// `jobnode breakers [--json]`: every live node's circuit breakers.
struct BreakersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "breakers", abstract: "Show the circuit breakers of every live node (published every few seconds and on each transition).")
    @OptionGroup var connection: ConnectionOptions
    @Flag(name: .long, help: "Print JSON.") var json = false

    /// One row of `breakers --json` (the field names are a contract; `node` is extra).
    struct Row: Encodable {
        var service: String
        var state: String
        var failureRate: Double
        var calls: Int
        var openedAtMs: Int64?
        var nextAttemptAtMs: Int64?
        var node: String

        enum CodingKeys: String, CodingKey { case service, state, failureRate, calls, openedAtMs, nextAttemptAtMs, node }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(service, forKey: .service)
            try c.encode(state, forKey: .state)
            try c.encode(failureRate, forKey: .failureRate)
            try c.encode(calls, forKey: .calls)
            try c.encode(openedAtMs, forKey: .openedAtMs)
            try c.encode(nextAttemptAtMs, forKey: .nextAttemptAtMs)
            try c.encode(node, forKey: .node)
        }
    }

    func run() async throws {
        await CLI.guarded {
            let pool = try await connection.makeCheckedPool()
            let rows = try await BreakerBoard.read(redis: pool, namespace: connection.namespace).map {
                Row(
                    service: $0.snapshot.service, state: $0.snapshot.state.rawValue, failureRate: $0.snapshot.failureRate,
                    calls: $0.snapshot.calls, openedAtMs: $0.snapshot.openedAtMs, nextAttemptAtMs: $0.snapshot.nextAttemptAtMs,
                    node: $0.node)
            }
            if json {
                try CLI.printJSON(rows)
                return
            }
            if rows.isEmpty { print("no breakers") }
            for r in rows {
                print("\(r.service)  \(r.state)  failureRate=\(r.failureRate)  calls=\(r.calls)  node=\(r.node)")
            }
        }
    }
}

import ArgumentParser
import JobKit

/// `jobnode limits set|list|remove`: limits attached to queues and job names, checked inside the claim.
struct LimitsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "limits", abstract: "Set, list and remove rate limits and concurrency caps on queues and job names.",
        subcommands: [List.self, Set.self, Remove.self], defaultSubcommand: List.self)

    /// One row of `limits list --json` (the field names are a contract).
    struct Row: Encodable {
        var name: String
        var queue: String
        var job: String?
        var key: String?
        var strategy: String?
        var rate: Int?
        var periodMs: Int64?
        var burst: Int?
        var concurrency: Int?
        var deniedTotal: Int

        init(_ entry: LimitStore.Entry) {
            let l = entry.limit
            name = l.name
            queue = l.queue
            job = l.job
            key = l.key
            strategy = l.rate?.strategy.rawValue
            rate = l.rate?.limit
            periodMs = l.rate?.periodMs
            burst = l.rate?.burst
            concurrency = l.concurrency
            deniedTotal = entry.deniedTotal
        }

        enum CodingKeys: String, CodingKey { case name, queue, job, key, strategy, rate, periodMs, burst, concurrency, deniedTotal }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name)
            try c.encode(queue, forKey: .queue)
            try c.encode(job, forKey: .job)
            try c.encode(key, forKey: .key)
            try c.encode(strategy, forKey: .strategy)
            try c.encode(rate, forKey: .rate)
            try c.encode(periodMs, forKey: .periodMs)
            try c.encode(burst, forKey: .burst)
            try c.encode(concurrency, forKey: .concurrency)
            try c.encode(deniedTotal, forKey: .deniedTotal)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Show every limit and its denials.")
        @OptionGroup var connection: ConnectionOptions
        @Flag(name: .long, help: "Print JSON.") var json = false

        func run() async throws {
            await CLI.guarded {
                let store = LimitStore(redis: try await connection.makeCheckedPool(), namespace: connection.namespace)
                let rows = try await store.list().map(Row.init)
                if json {
                    try CLI.printJSON(rows)
                    return
                }
                if rows.isEmpty { print("no limits") }
                for r in rows {
                    var parts = ["\(r.name)", "queue=\(r.queue)"]
                    if let job = r.job { parts.append("job=\(job)") }
                    if let key = r.key { parts.append("key=\(key)") }
                    if let s = r.strategy, let rate = r.rate, let p = r.periodMs {
                        parts.append("\(s) \(rate)/\(p)ms" + (r.burst.map { " burst \($0)" } ?? ""))
                    }
                    if let c = r.concurrency { parts.append("concurrency=\(c)") }
                    parts.append("denied=\(r.deniedTotal)")
                    print(parts.joined(separator: "  "))
                }
            }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add or replace a limit. Every node applies it from its next claim.",
            discussion: """
                Examples:
                  jobnode limits set plaid-sync-item --queue medium_priority --job plaid.transactions.sync --key '{item}' \\
                      --strategy sliding-window --rate 50/1m --concurrency 1
                  jobnode limits set reports --queue reports --strategy token-bucket --rate 10/1s --burst 20
                """)
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The limit's name.") var name: String
        @Option(name: .long, help: "The queue (with --job: the queue that runs the job; default 'default').") var queue: String?
        @Option(name: .long, help: "Only jobs of this name.") var job: String?
        @Option(name: .long, help: "Key template over the job: {tenant}, {field} of the payload, literal text.") var key: String?
        @Option(name: .long, help: "fixed-window, sliding-window or token-bucket.") var strategy: String?
        @Option(name: .long, help: "N/DURATION, e.g. 50/1m, 5/60s, 100/1s.") var rate: String?
        @Option(name: .long, help: "Token bucket size (default: N).") var burst: Int?
        @Option(name: .long, help: "At most N jobs running at once per key.") var concurrency: Int?

        func validate() throws {
            guard queue != nil || job != nil else { throw ValidationError("give --queue, --job, or both") }
            if rate == nil && concurrency == nil { throw ValidationError("give --rate (with --strategy), --concurrency, or both") }
            if rate != nil && strategy == nil { throw ValidationError("--rate needs --strategy fixed-window|sliding-window|token-bucket") }
            if let strategy, RateLimit.Strategy(rawValue: strategy) == nil {
                throw ValidationError("--strategy is fixed-window, sliding-window or token-bucket, not '\(strategy)'")
            }
            if burst != nil && strategy != RateLimit.Strategy.tokenBucket.rawValue { throw ValidationError("--burst is for token-bucket") }
            if let rate { _ = try CLI.rate(rate, flag: "--rate") }
            try makeLimit().validate()
        }

        func makeLimit() throws -> QueueLimit {
            var rateLimit: RateLimit?
            if let rate, let strategy, let s = RateLimit.Strategy(rawValue: strategy) {
                let (n, period) = try CLI.rate(rate, flag: "--rate")
                rateLimit = RateLimit(s, limit: n, per: period, burst: burst)
            }
            return QueueLimit(name: name, queue: queue ?? "default", job: job, key: key, rate: rateLimit, concurrency: concurrency)
        }

        func run() async throws {
            await CLI.guarded {
                let store = LimitStore(redis: try await connection.makeCheckedPool(), namespace: connection.namespace)
                try await store.set(try makeLimit())
                print("set \(name)")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a limit (jobs waiting for one of its permits run as the running ones finish).")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The limit's name.") var name: String

        func run() async throws {
            await CLI.guarded {
                let store = LimitStore(redis: try await connection.makeCheckedPool(), namespace: connection.namespace)
                guard try await store.remove(name) else { throw ValidationError("no limit named '\(name)'") }
                print("removed \(name)")
            }
        }
    }
}

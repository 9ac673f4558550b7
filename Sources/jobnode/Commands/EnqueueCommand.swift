import ArgumentParser
import Foundation
import JobKit
import NIOCore

struct EnqueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enqueue", abstract: "Enqueue a job by name; prints the job id(s), one per line.")

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The job name, e.g. jobkit.noop.")
    var name: String

    @Option(name: .long, help: "Queue.") var queue: String = "default"
    @Option(name: .long, help: "JSON payload.") var json: String = "{}"
    @Option(name: .long, help: "Priority, -999...999 (higher runs first).") var priority: Int = 0
    @Option(name: .long, help: "Run after this delay (e.g. 10s).") var delay: String?
    @Option(name: .long, help: "Run at this time (ISO 8601).") var at: String?
    @Option(name: .customLong("max-attempts"), help: "Attempts in total.") var maxAttempts: Int = 5
    @Option(name: .long, help: "Execution timeout (e.g. 30s).") var timeout: String?
    @Option(name: .long, help: "Idempotency key.") var key: String?
    @Option(name: .long, help: "Tenant id.") var tenant: String?
    @Option(name: .long, help: "Enqueue N copies in bulk.") var count: Int = 1
    @Flag(name: .long, help: "Wait for the result; exit non-zero if the job ends dead or canceled.") var wait = false
    @Option(name: .customLong("wait-timeout"), help: "How long --wait waits.") var waitTimeout: String = "5m"

    func validate() throws {
        if delay != nil && at != nil { throw ValidationError("--delay and --at exclude each other") }
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        guard (try? JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed])) != nil else {
            throw ValidationError("--json is not valid JSON: \(json)")
        }
    }

    func run() async throws {
        await CLI.guarded {
            var options = EnqueueOptions(queue: queue, priority: priority, maxAttempts: maxAttempts)
            if let delay { options.delay = try CLI.duration(delay) }
            if let at {
                guard let date = ISO8601DateFormatter().date(from: at) else {
                    throw ValidationError("--at is not an ISO 8601 time: \(at)")
                }
                options.runAtMilliseconds = Int64(date.timeIntervalSince1970 * 1000)
            }
            if let timeout { options.timeout = try CLI.duration(timeout) }
            options.idempotencyKey = key
            options.tenantID = tenant
            let jobQueue = try await connection.makeCheckedQueue()
            let payload = ByteBuffer(string: json)
            let handles = try await jobQueue.enqueueBulk(
                (0..<count).map { _ in JobQueue.Job(name: name, payload: payload, options: options) })
            for handle in handles { print(handle.id) }
            guard wait else { return }
            let limit = try CLI.duration(waitTimeout)
            var failed = false
            for handle in handles {
                do {
                    let result = try await handle.result(timeout: limit)
                    if result.readableBytes > 0 { FileHandle.standardError.write(Data("\(handle.id): \(String(buffer: result))\n".utf8)) }
                } catch let error as QueueError where error.code == .jobFailed || error.code == .jobCanceled {
                    FileHandle.standardError.write(Data("jobnode: \(error.message)\n".utf8))
                    failed = true
                }
            }
            if failed { throw ExitCode(2) }
        }
    }
}

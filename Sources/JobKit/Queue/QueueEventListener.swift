import Logging
import NIOCore
import Synchronization

/// A value that one task sets and another awaits.
final class OneShot<Value: Sendable>: Sendable {
    private enum State {
        case empty
        case waiting(CheckedContinuation<Value, any Error>)
        case done(Result<Value, any Error>)
    }
    private let state = Mutex<State>(.empty)

    func resolve(_ result: Result<Value, any Error>) {
        let continuation: CheckedContinuation<Value, any Error>? = state.withLock { s in
            switch s {
            case .empty:
                s = .done(result)
                return nil
            case .waiting(let c):
                s = .done(result)
                return c
            case .done:
                return nil
            }
        }
        continuation?.resume(with: result)
    }

    func value() async throws -> Value {
        try await withCheckedThrowingContinuation { c in
            let ready: Result<Value, any Error>? = state.withLock { s in
                if case .done(let r) = s { return r }
                s = .waiting(c)
                return nil
            }
            if let ready { c.resume(with: ready) }
        }
    }
}

/// Follows the events streams of queues that have waiting ``JobHandle``s and hands each terminal event
/// to its waiters. One reader task (and one dedicated connection) per queue while anyone waits on it.
final class QueueEventListener: Sendable {
    private struct Reader {
        var waiters: [String: [OneShot<TerminalOutcome>]] = [:]
        var started: OneShot<Void>
        var task: Task<Void, Never>?
    }

    private let redis: RedisPool
    private let namespace: String
    private let logger: Logger
    private let readers = Mutex<[String: Reader]>([:])

    init(redis: RedisPool, namespace: String, logger: Logger) {
        self.redis = redis
        self.namespace = namespace
        self.logger = logger
    }

    func awaitTerminal(queue: String, id: String, timeout: Duration) async throws -> TerminalOutcome {
        let keys = QueueKeys(namespace: namespace, queue: queue)
        let waiter = OneShot<TerminalOutcome>()
        let started = register(queue: queue, id: id, waiter: waiter)
        defer { unregister(queue: queue, id: id, waiter: waiter) }
        // The reader has its start position before we look at the job, so no terminal event is missed.
        try await started.value()
        guard let watched = QueueScripts.Watched.parse(try await redis.run(QueueScripts.watch(keys, id: id))) else {
            throw QueueError(.jobNotFound, "job \(id) not found in queue '\(queue)' (never enqueued, or removed by retention)")
        }
        if let state = watched.state, state.isTerminal {
            return TerminalOutcome(state: state, result: watched.result, error: watched.error)
        }
        return try await withThrowingTaskGroup(of: TerminalOutcome.self) { group in
            group.addTask { try await waiter.value() }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw QueueError(.timeout, "job \(id) did not finish within \(timeout)")
            }
            defer { group.cancelAll() }
            let outcome = try await group.next()!
            return outcome
        }
    }

    private func register(queue: String, id: String, waiter: OneShot<TerminalOutcome>) -> OneShot<Void> {
        readers.withLock { readers in
            if var reader = readers[queue] {
                reader.waiters[id, default: []].append(waiter)
                readers[queue] = reader
                return reader.started
            }
            let started = OneShot<Void>()
            var reader = Reader(started: started)
            reader.waiters[id] = [waiter]
            reader.task = Task { await self.read(queue: queue, started: started) }
            readers[queue] = reader
            return started
        }
    }

    private func unregister(queue: String, id: String, waiter: OneShot<TerminalOutcome>) {
        readers.withLock { readers in
            guard var reader = readers[queue] else { return }
            reader.waiters[id]?.removeAll { $0 === waiter }
            if reader.waiters[id]?.isEmpty == true { reader.waiters[id] = nil }
            readers[queue] = reader
        }
    }

    private func read(queue: String, started: OneShot<Void>) async {
        let keys = QueueKeys(namespace: namespace, queue: queue)
        let connection = redis.makeBlockingClient()
        defer { Task { await connection.close() } }
        var lastID = "0-0"
        do {
            let last = try await connection.send(RedisCommand("XREVRANGE", strings: [keys.events, "+", "-", "COUNT", "1"]))
            if let entry = last.array?.first?.array, let id = entry.first?.string { lastID = id }
            started.resolve(.success(()))
        } catch {
            started.resolve(.failure(error))
            stop(queue: queue, failing: error)
            return
        }
        while true {
            let stillWanted = readers.withLock { !($0[queue]?.waiters.isEmpty ?? true) }
            if !stillWanted {
                // Stop unless a waiter slipped in since the check (it then reuses this reader's start).
                let stopped = readers.withLock { readers -> Bool in
                    if readers[queue]?.waiters.isEmpty ?? true {
                        readers[queue] = nil
                        return true
                    }
                    return false
                }
                if stopped { return }
            }
            do {
                let reply = try await connection.sendBlocking(
                    RedisCommand("XREAD", strings: ["COUNT", "1000", "BLOCK", "1000", "STREAMS", keys.events, lastID]),
                    timeout: .seconds(10))
                guard let streams = reply.array, let entries = streams.first?.array?.last?.array else { continue }
                for entry in entries {
                    guard let parts = entry.array, parts.count == 2, let entryID = parts[0].string else { continue }
                    lastID = entryID
                    let fields = parts[1].fields
                    guard let type = fields["type"]?.string, let state = JobState(rawValue: type), state.isTerminal,
                        let id = fields["id"]?.string
                    else { continue }
                    let outcome = TerminalOutcome(
                        state: state, result: fields["result"]?.buffer ?? ByteBuffer(), error: fields["error"]?.string ?? "")
                    let waiting = readers.withLock { $0[queue]?.waiters[id] ?? [] }
                    for w in waiting { w.resolve(.success(outcome)) }
                }
            } catch {
                logger.debug("Event stream read failed", metadata: ["queue": "\(queue)", "error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    private func stop(queue: String, failing error: any Error) {
        let waiters = readers.withLock { readers -> [OneShot<TerminalOutcome>] in
            let all = readers[queue]?.waiters.values.flatMap { $0 } ?? []
            readers[queue] = nil
            return all
        }
        for w in waiters { w.resolve(.failure(error)) }
    }
}

import Foundation
import Logging
import NIOCore
import Tracing
import Synchronization

/// The producer's and operator's view of JobKit's queues: enqueue typed jobs, await their results,
/// inspect and change them.
///
/// A `JobQueue` is cheap to share: it holds a ``RedisPool`` and a namespace. Jobs are encoded as JSON.
public final class JobQueue: Sendable {
    /// The pool every command goes through.
    public let redis: RedisPool
    /// The key namespace (default `jobkit`).
    public let namespace: String
    /// The largest encoded payload accepted (default 512 KiB).
    public let maxPayloadBytes: Int
    /// Job-name → queue overrides applied to every enqueue (default: `JOBKIT_ROUTES`, see ``QueueRoutes``).
    public let routes: QueueRoutes
    /// When set, an enqueue returns only after this many replicas have the job (`WAIT`), else fails with
    /// `notReplicated`: with Redis Sentinel, a job the old primary accepted just before a failover is otherwise lost.
    public let replicaAcknowledgement: ReplicaAcknowledgement?
    let logger: Logger
    private let knownQueues = Mutex<Set<String>>([])
    let listener: QueueEventListener

    /// - Parameters:
    ///   - redis: the pool to use.
    ///   - namespace: prefix of every key (default `jobkit`).
    ///   - maxPayloadBytes: larger payloads are refused at enqueue (default 512 KiB).
    ///   - routes: job-name → queue overrides (default: this process's `JOBKIT_ROUTES`).
    ///   - replicaAcknowledgement: replicas that must confirm each enqueue (default none, as Redis).
    public init(
        redis: RedisPool, namespace: String = "jobkit", maxPayloadBytes: Int = 512 * 1024, routes: QueueRoutes = .environment,
        replicaAcknowledgement: ReplicaAcknowledgement? = nil, logger: Logger = Logger(label: "jobkit.queue")
    ) {
        self.redis = redis
        self.replicaAcknowledgement = replicaAcknowledgement
        self.routes = routes
        self.namespace = namespace
        self.maxPayloadBytes = maxPayloadBytes
        self.logger = logger
        self.listener = QueueEventListener(redis: redis, namespace: namespace, logger: logger)
    }

    /// The keys of `queue`.
    public func keys(_ queue: String) -> QueueKeys { QueueKeys(namespace: namespace, queue: queue) }

    // MARK: Enqueue

    /// One job to enqueue: a name, its encoded payload and options.
    public struct Job: Sendable {
        public var name: String
        public var payload: ByteBuffer
        public var options: EnqueueOptions
        public init(name: String, payload: ByteBuffer, options: EnqueueOptions = .init()) {
            self.name = name
            self.payload = payload
            self.options = options
        }

        /// A typed job, encoded now (each job of a bulk enqueue with options of its own, say an idempotency key).
        ///
        /// - Throws: `QueueError` `encodingFailed`.
        public init<J: JobPayload>(_ job: J, options: EnqueueOptions = .init()) throws {
            self.init(name: J.jobName, payload: try JobQueue.encode(job), options: options)
        }
    }

    /// Enqueues a typed job.
    ///
    /// - Returns: a handle with the job's id (the existing job's id when the idempotency key matched).
    /// - Throws: `QueueError` (`payloadTooLarge`, `invalidOptions`, `encodingFailed`) or `RedisError`.
    @discardableResult
    public func enqueue<J: JobPayload>(_ job: J, options: EnqueueOptions = .init()) async throws -> JobHandle {
        try await enqueue(Job(name: J.jobName, payload: try Self.encode(job), options: options))
    }

    /// Enqueues a job by name with an already-encoded payload (JSON by convention).
    @discardableResult
    public func enqueue(_ job: Job) async throws -> JobHandle {
        let job = routes.apply(job)
        return try await traced(name: job.name, queue: job.options.queue, count: 1) { trace in
            try await self.enqueueOne(job, trace: trace)
        }
    }

    /// Runs `body` with the trace context to store in the jobs: with a tracer bootstrapped, inside a
    /// `jobkit.enqueue` producer span (a child of the caller's span), whose context the jobs carry; else
    /// with `""`, creating nothing.
    func traced<T>(name: String, queue: String, count: Int, _ body: (String) async throws -> T) async throws -> T {
        guard JobTrace.isActive else { return try await body("") }
        return try await withSpan("jobkit.enqueue", ofKind: .producer) { span in
            span.attributes["job.name"] = name
            span.attributes["queue"] = queue
            span.attributes["jobkit.count"] = count
            return try await body(JobTrace.inject(span.context))
        }
    }

    private func enqueueOne(_ job: Job, trace: String) async throws -> JobHandle {
        // One job, one script call, no grouping by queue: the path every producer takes most.
        try check(job)
        try await registerQueue(job.options.queue)
        let id = JobID.make()
        var args: [any RESPArgument] = [1]
        args.reserveCapacity(1 + QueueScripts.enqueueArgumentsPerJob)
        Self.appendArguments(of: job, id: id, trace: trace, to: &args)
        let command = QueueScripts.enqueue.evalsha(keys: [keys(job.options.queue).prefix], arguments: args)
        let values: [RESPValue]
        if let acknowledgement = replicaAcknowledgement {
            // The write and its WAIT on one connection: WAIT counts the replicas that have this client's writes.
            values = try await onPrimary(of: keys(job.options.queue).prefix) { connection in
                let values = try Self.enqueueReply(try await connection.send(command, loading: QueueScripts.enqueue))
                try await acknowledgement.await(on: connection, jobs: 1)
                return values
            }
        } else {
            values = try Self.enqueueReply(try await redis.send(command, loading: QueueScripts.enqueue))
        }
        return JobHandle(
            id: values.first?.string ?? id, queue: job.options.queue, created: values.count < 2 || values[1].int != 0,
            owner: self)
    }

    /// Enqueues many typed jobs with the same options in as few round trips as possible.
    @discardableResult
    public func enqueueBulk<J: JobPayload>(_ jobs: [J], options: EnqueueOptions = .init()) async throws -> [JobHandle] {
        try await enqueueBulk(try jobs.map { Job(name: J.jobName, payload: try Self.encode($0), options: options) })
    }

    /// Enqueues many jobs: one script call per queue and chunk of 1,000 jobs. Chunks go out on one connection
    /// in order (so FIFO holds across chunks), and the next chunk is encoded while Redis runs the previous one.
    ///
    /// Every job is checked before the first chunk is sent: an invalid option anywhere refuses the whole
    /// call and enqueues nothing. Each job keeps its own options, idempotency TTL included.
    ///
    /// - Throws: `QueueError` (`payloadTooLarge`, `invalidOptions`) before anything is sent, or `RedisError`
    ///   (chunks before the failing one stay enqueued).
    @discardableResult
    public func enqueueBulk(_ jobs: [Job]) async throws -> [JobHandle] {
        let jobs = routes.queues.isEmpty ? jobs : jobs.map(routes.apply)
        for job in jobs { try check(job) }
        guard let first = jobs.first else { return [] }
        return try await traced(name: first.name, queue: first.options.queue, count: jobs.count) { trace in
            try await self.enqueueChunks(jobs, trace: trace)
        }
    }

    private func enqueueChunks(_ jobs: [Job], trace: String) async throws -> [JobHandle] {
        try await registerQueues(jobs.map(\.options.queue))
        var handles: [JobHandle] = []
        handles.reserveCapacity(jobs.count)
        if redis.isCluster {
            // A cluster splits each chunk's pipeline per primary (and follows redirects); chunks go one by one.
            var start = 0
            while start < jobs.count {
                let end = min(jobs.count, start + 1000)
                let prepared = try prepare(jobs[start..<end], trace: trace)
                if let acknowledgement = replicaAcknowledgement {
                    // Each queue's call and its WAIT on one connection to the queue's primary.
                    var replies: [RESPValue] = []
                    for (queue, command) in zip(prepared.order, prepared.commands) {
                        replies.append(
                            try await onPrimary(of: keys(queue).prefix) { connection in
                                let reply = try await connection.send(command, loading: QueueScripts.enqueue)
                                try await acknowledgement.await(on: connection, jobs: prepared.byQueue[queue]?.count ?? 0)
                                return reply
                            })
                    }
                    handles += try await interpret(prepared, replies: replies, on: redis)
                } else {
                    handles += try await interpret(prepared, replies: try await redis.pipeline(prepared.commands), on: redis)
                }
                start = end
            }
            return handles
        }
        let connection = redis.pick()
        var inFlight: (Prepared, EventLoopFuture<[RESPValue]>)?
        var start = 0
        while start < jobs.count {
            let end = min(jobs.count, start + 1000)
            let prepared = try prepare(jobs[start..<end], trace: trace)
            let future = try await connection.submit(prepared.commands)
            if let (previous, replies) = inFlight {
                handles += try await interpret(previous, replies: try await replies.get(), on: connection)
            }
            inFlight = (prepared, future)
            start = end
        }
        if let (previous, replies) = inFlight {
            handles += try await interpret(previous, replies: try await replies.get(), on: connection)
        }
        try await replicaAcknowledgement?.await(on: connection, jobs: handles.count)
        return handles
    }

    /// Enqueues one job and reads its record in the same round trip (the HTTP API answers with the record).
    ///
    /// - Returns: the handle, and the record of the job the handle names — the new job's, or the existing one's
    ///   when the idempotency key matched; `nil` when retention already removed it.
    /// - Throws: as ``enqueue(_:)-(Job)``.
    public func enqueueReturningRecord(_ job: Job) async throws -> (handle: JobHandle, record: JobRecord?) {
        let job = routes.apply(job)
        return try await traced(name: job.name, queue: job.options.queue, count: 1) { trace in
            try await self.enqueueOneReturningRecord(job, trace: trace)
        }
    }

    private func enqueueOneReturningRecord(_ job: Job, trace: String) async throws -> (handle: JobHandle, record: JobRecord?) {
        try check(job)
        try await registerQueues([job.options.queue])
        let prepared = try prepare([job][...], trace: trace)
        let queue = job.options.queue
        let read = RedisCommand("HGETALL", keys(queue).job(prepared.ids[0]))
        // With a replica acknowledgement, the write and its WAIT go on one connection.
        let commands = prepared.commands + [read]
        let (replies, handle): ([RESPValue], JobHandle)
        if let acknowledgement = replicaAcknowledgement {
            (replies, handle) = try await onPrimary(of: keys(queue).prefix) { connection in
                let replies = try await connection.pipeline(commands, loading: [QueueScripts.enqueue])
                let handle = try await interpret(prepared, replies: Array(replies.prefix(prepared.commands.count)), on: connection)[0]
                try await acknowledgement.await(on: connection, jobs: 1)
                return (replies, handle)
            }
        } else {
            replies = try await redis.pipeline(commands, loading: [QueueScripts.enqueue])
            handle = try await interpret(prepared, replies: Array(replies.prefix(prepared.commands.count)), on: redis)[0]
        }
        if handle.created, let record = JobRecord(id: handle.id, queue: queue, hash: replies[prepared.commands.count]) {
            return (handle, record)
        }
        return (handle, try await self.job(handle.id, queue: queue))
    }

    /// One batch of jobs, encoded: one enqueue script call per queue.
    struct Prepared {
        var jobs: ArraySlice<Job>
        var ids: [String]
        var order: [String]
        var byQueue: [String: [Int]]
        var commands: [RedisCommand]
    }

    /// Encodes `jobs`, which the caller has passed through ``check(_:)``.
    func prepare(_ jobs: ArraySlice<Job>, trace: String = "") throws -> Prepared {
        // Group by queue, preserving order within each queue.
        var order: [String] = []
        var byQueue: [String: [Int]] = [:]
        for (i, job) in zip(0..., jobs) {
            if byQueue[job.options.queue] == nil { order.append(job.options.queue) }
            byQueue[job.options.queue, default: []].append(i)
        }
        let list = Array(jobs)
        let ids = list.map { _ in JobID.make() }
        var commands: [RedisCommand] = []
        for queue in order {
            let indices = byQueue[queue]!
            let keys = self.keys(queue)
            var args: [any RESPArgument] = [indices.count]
            args.reserveCapacity(1 + indices.count * QueueScripts.enqueueArgumentsPerJob)
            for i in indices { Self.appendArguments(of: list[i], id: ids[i], trace: trace, to: &args) }
            commands.append(QueueScripts.enqueue.evalsha(keys: [keys.prefix], arguments: args))
        }
        return Prepared(jobs: jobs, ids: ids, order: order, byQueue: byQueue, commands: commands)
    }

    /// Appends one job's arguments to an enqueue script call, in the script's order.
    static func appendArguments(of job: Job, id: String, trace: String, to args: inout [any RESPArgument]) {
        let o = job.options
        args.append(id)
        args.append(job.name)
        args.append(job.payload)
        args.append(o.priority)
        args.append(Int(o.delay?.milliseconds ?? 0))
        args.append(Int(o.runAtMilliseconds ?? 0))
        args.append(o.maxAttempts)
        args.append(o.backoff.encoded)
        args.append(Int(o.timeout?.milliseconds ?? 0))
        args.append(o.tenantID ?? "")
        args.append(o.correlationID ?? "")
        args.append(o.idempotencyKey ?? "")
        args.append(Int(o.idempotencyKey == nil ? 0 : o.idempotencyTTL.milliseconds))
        args.append(trace)
    }

    /// The flattened `[id, created, ...]` of an enqueue reply, or the error it carries.
    static func enqueueReply(_ reply: RESPValue) throws -> [RESPValue] {
        if case .error(let text) = reply {
            // The script refused the call before writing anything (options that passed `check` here but
            // not the script's own check, e.g. from a producer with other limits).
            let message = String(buffer: text)
            if message.hasPrefix("ERR invalid enqueue") { throw QueueError(.invalidOptions, message) }
            throw RedisError.server(text)
        }
        guard let values = reply.array else { throw RedisError(.unexpectedReply, "enqueue reply is not an array") }
        return values
    }

    /// Checks one job before anything is sent: its options, name and payload size.
    func check(_ job: Job) throws {
        try job.options.validate()
        guard job.payload.readableBytes <= maxPayloadBytes else {
            throw QueueError(
                .payloadTooLarge,
                "payload of '\(job.name)' is \(job.payload.readableBytes) bytes, over the \(maxPayloadBytes)-byte limit; not enqueued")
        }
        guard !job.name.isEmpty else { throw QueueError(.invalidOptions, "job name is empty") }
    }

    /// Reads the enqueue replies (loading the script and sending a call again where the server answered
    /// NOSCRIPT; calls that did run are never repeated).
    func interpret(_ prepared: Prepared, replies: [RESPValue], on client: some RedisCommandable) async throws -> [JobHandle] {
        var ids = prepared.ids
        var created = [Bool](repeating: true, count: ids.count)
        for (n, (queue, reply)) in zip(prepared.order, replies).enumerated() {
            var reply = reply
            if reply.isNoScriptError {
                reply = try await client.pipeline([prepared.commands[n]], loading: [QueueScripts.enqueue])[0]
            }
            let values = try Self.enqueueReply(reply)
            for (k, i) in prepared.byQueue[queue]!.enumerated() where 2 * k < values.count {
                if let id = values[2 * k].string { ids[i] = id }
                if 2 * k + 1 < values.count { created[i] = values[2 * k + 1].int != 0 }
            }
        }
        return zip(prepared.jobs, zip(ids, created)).map {
            JobHandle(id: $1.0, queue: $0.options.queue, created: $1.1, owner: self)
        }
    }

    /// Runs `body` on one connection to the server that holds `key`: the pool's own, or on a cluster the key's
    /// primary's. These calls bypass the cluster client's redirects and retries, so on a cluster a failure that
    /// says the map may be stale (a lost or refused connection, a timeout, `MOVED`, `ASK`, `TRYAGAIN`,
    /// `CLUSTERDOWN`, `READONLY`: a failover or a resharding) re-reads the map before it is rethrown, and the
    /// caller's retry goes to the slot's primary of now.
    private func onPrimary<T>(of key: String, _ body: (RedisConnection) async throws -> T) async throws -> T {
        guard let cluster = redis.cluster else { return try await body(redis.pick()) }
        do {
            return try await body(try cluster.pool(try await cluster.primary(forSlot: HashSlot.of(key))).pick())
        } catch let error as RedisError where error.suggestsStaleClusterMap {
            _ = try? await cluster.refreshTopology()
            throw error
        }
    }

    /// Adds one queue name to the namespace's queue set once per process.
    private func registerQueue(_ queue: String) async throws {
        guard knownQueues.withLock({ $0.insert(queue).inserted }) else { return }
        _ = try await redis.send(RedisCommand("SADD", strings: [QueueKeys.queueSet(namespace: namespace), queue]))
    }

    /// Adds queue names to the namespace's queue set once per process.
    private func registerQueues(_ queues: [String]) async throws {
        let new = knownQueues.withLock { known -> [String] in
            let n = queues.filter { !known.contains($0) }
            known.formUnion(n)
            return n
        }
        if !new.isEmpty {
            _ = try await redis.send(RedisCommand("SADD", strings: [QueueKeys.queueSet(namespace: namespace)] + new))
        }
    }

    static func encode<J: Encodable>(_ value: J) throws -> ByteBuffer {
        do {
            return ByteBuffer(bytes: try JSONEncoder().encode(value))
        } catch {
            throw QueueError(.encodingFailed, "cannot encode payload: \(error)", underlying: error)
        }
    }
}

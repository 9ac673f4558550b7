import JobKit

extension JobNode.Configuration {
    /// A node that a test runs in its own process: worker id `<name>-node`, on `namespace`, serving `queues`, with no
    /// signal handlers (the test stops it with `triggerGracefulShutdown()`); `worker` and `node` set its timings.
    public static func inProcessTest(
        redis: RedisConfiguration, namespace: String, name: String, queues: [String], concurrency: Int,
        worker configureWorker: (inout WorkerOptions) -> Void = { _ in },
        node configureNode: (inout NodeAgent.Options) -> Void = { _ in }
    ) -> JobNode.Configuration {
        var worker = WorkerOptions(queues: queues.map { .init($0) }, concurrency: concurrency, nodeID: "\(name)-node")
        configureWorker(&worker)
        var node = NodeAgent.Options(name: name, host: "h", pid: 1)
        configureNode(&node)
        var configuration = JobNode.Configuration(redis: redis, worker: worker, node: node)
        configuration.namespace = namespace
        configuration.shutdownSignals = []
        return configuration
    }

    /// A node for the failover tests: 4 slots on `default`, with short timings (a 3 s lease reaped every 200 ms,
    /// heartbeats every 500 ms, 2 s of shutdown grace), so that a job whose record or completion was refused
    /// during the failover goes back to ready when its lease expires, and runs again.
    public static func failoverTest(
        redis: RedisConfiguration, namespace: String, name: String, deadNodeTimeout: Duration
    ) -> JobNode.Configuration {
        inProcessTest(
            redis: redis, namespace: namespace, name: name, queues: ["default"], concurrency: 4,
            worker: {
                $0.leaseDuration = .seconds(3)
                $0.reapInterval = .milliseconds(200)
                $0.shutdownGrace = .seconds(2)
            },
            node: {
                $0.heartbeatInterval = .milliseconds(500)
                $0.deadNodeTimeout = deadNodeTimeout
            })
    }
}

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
}

import Foundation
import JobKit
#if canImport(Glibc)
import Glibc
#endif

/// A private Redis Cluster of `primaries` `redis-server --cluster-enabled yes` processes (and `replicas` more per
/// primary) on free loopback ports, joined by `redis-cli --cluster create … --cluster-yes` and stopped by their PIDs.
public final class RedisClusterProcess: @unchecked Sendable {
    // Invariant: used by the one test that made it.
    public let ports: [Int]
    public let directory: String
    private var servers: [ChildProcess] = []
    /// Each server's command line, for ``restart(port:)``.
    private var commandLines: [(String, [String])] = []

    /// Starts the servers, creates the cluster, and waits until every node says `cluster_state:ok`. Which nodes
    /// `redis-cli` made replicas is the cluster's to say (`CLUSTER SHARDS`).
    public init(primaries: Int = 3, replicas: Int = 0) async throws {
        self.directory = try TestEnvironment.makeTemporaryDirectory("cluster")
        var ports: [Int] = []
        while ports.count < primaries * (1 + replicas) {
            let port = try TestEnvironment.freePort()
            // Cluster nodes also listen on port + 10000 (the cluster bus): it must be free too, and clash with no
            // other chosen port or bus.
            let clashes = ports.contains { $0 == port || $0 == port + 10_000 || $0 + 10_000 == port }
            if !clashes, port + 10_000 < 65_536, Self.isFree(port + 10_000) { ports.append(port) }
        }
        self.ports = ports
        for port in ports {
            let dir = "\(directory)/\(port)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let commandLine = (
                try TestEnvironment.redisServerBinary(),
                [
                    "--bind", "127.0.0.1", "--port", "\(port)", "--dir", dir, "--save", "", "--appendonly", "no",
                    "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000",
                    "--logfile", "\(dir)/redis.log",
                ]
            )
            commandLines.append(commandLine)
            servers.append(try ChildProcess(commandLine.0, commandLine.1))
        }
        for (port, server) in zip(ports, servers) {
            try await Self.waitForLog("\(directory)/\(port)/redis.log", "Ready to accept connections", while: server)
        }
        let create = try ChildProcess(
            "/usr/bin/env", ["redis-cli", "--cluster", "create"] + ports.map { "127.0.0.1:\($0)" } + ["--cluster-replicas", "\(replicas)", "--cluster-yes"],
            outputPath: "\(directory)/create.log")
        let status = await create.wait(timeout: .seconds(30))
        guard status == 0 else {
            let log = (try? String(contentsOfFile: "\(directory)/create.log", encoding: .utf8)) ?? ""
            stop()
            throw TestEnvironment.Missing(description: "redis-cli --cluster create failed (\(String(describing: status))): \(log.suffix(800))")
        }
        for port in ports { try await Self.waitForClusterOK(port: port) }
    }

    /// `host:port` of each node.
    public var nodes: [String] { ports.map { "127.0.0.1:\($0)" } }

    /// A `redis+cluster://` URL naming every node as a seed.
    public var url: String { "redis+cluster://" + nodes.joined(separator: ",") }

    /// Every node's address, as cluster seeds.
    public var seedNodes: [ClusterTopology.Node] { ports.map { ClusterTopology.Node(host: "127.0.0.1", port: $0) } }

    /// Waits until every primary in `client`'s slot map has `count` online replicas (a new cluster's replicas
    /// are listed once they have synced), and returns that map.
    public func waitForReplicas(_ client: RedisClusterClient, perPrimary count: Int = 1) async throws -> ClusterTopology {
        try await waitUntil(timeout: .seconds(30), "every primary has \(count) online replica(s)") {
            let t = try await client.refreshTopology()
            return t.isComplete && t.primaries.allSatisfy { t.replicas(of: $0).count == count }
        }
        guard let topology = client.topology else { throw TestEnvironment.Missing(description: "the cluster client has no slot map") }
        return topology
    }

    /// Kills the node on `port` with SIGKILL (a crash: no failover handshake) and returns once it has exited.
    public func kill(port: Int) async {
        guard let i = ports.firstIndex(of: port), i < servers.count else { return }
        servers[i].signal(SIGKILL)
        _ = await servers[i].wait(timeout: .seconds(10))
    }

    /// Runs `redis-cli -p port args…` and returns its output.
    public func cli(_ port: Int, _ arguments: [String]) async throws -> String {
        let out = "\(directory)/cli-\(UUID().uuidString.prefix(8)).out"
        let process = try ChildProcess("/usr/bin/env", ["redis-cli", "-p", "\(port)"] + arguments, outputPath: out)
        _ = await process.wait(timeout: .seconds(20))
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: out)
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Starts the node on `port` again, after ``kill(port:)``, with its `nodes.conf`: it rejoins the cluster
    /// (with no data: the test servers keep none on disk). Restart a crashed primary only once its replica has
    /// been promoted, or it comes back as the empty primary of its slots.
    public func restart(port: Int) async throws {
        guard let i = ports.firstIndex(of: port), i < servers.count else { return }
        servers[i] = try ChildProcess(commandLines[i].0, commandLines[i].1)
        try await Self.waitForLog("\(directory)/\(port)/redis.log", "Ready to accept connections", while: servers[i], occurrence: 2)
    }

    /// Stops every server (by PID).
    public func stop() {
        for server in servers { server.signal(SIGKILL) }
        servers = []
    }

    /// Waits until the log at `path` says `text` (its `occurrence`-th time: a restarted server appends to its log).
    static func waitForLog(
        _ path: String, _ text: String, while process: ChildProcess, occurrence: Int = 1
    ) async throws {
        func said() -> Bool {
            guard let log = try? String(contentsOfFile: path, encoding: .utf8) else { return false }
            return log.components(separatedBy: text).count - 1 >= occurrence
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline, process.isRunning {
            if said() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        if said() { return }
        throw TestEnvironment.Missing(description: "\(path) never said '\(text)'")
    }

    static func waitForClusterOK(port: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            let out = NSTemporaryDirectory() + "cluster-info-\(port)-\(UUID().uuidString.prefix(6))"
            let p = try ChildProcess("/usr/bin/env", ["redis-cli", "-p", "\(port)", "cluster", "info"], outputPath: out)
            _ = await p.wait(timeout: .seconds(5))
            let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
            try? FileManager.default.removeItem(atPath: out)
            if text.contains("cluster_state:ok") { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestEnvironment.Missing(description: "the cluster node on \(port) never reached cluster_state:ok")
    }

    /// True when nothing listens on 127.0.0.1:`port` now.
    static func isFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    deinit {
        for server in servers { server.signal(SIGKILL) }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

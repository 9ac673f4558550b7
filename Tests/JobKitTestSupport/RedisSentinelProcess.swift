import Foundation
import JobKit
#if canImport(Glibc)
import Glibc
#endif

/// A private Redis primary, one replica and three sentinels (`redis-server --sentinel`) watching them as
/// `mymaster`, on free loopback ports, stopped by their PIDs.
public final class RedisSentinelProcess: @unchecked Sendable {
    // Invariant: used by the one test that made it.
    public static let master = "mymaster"
    public let dataPorts: [Int]
    public let sentinelPorts: [Int]
    public let directory: String
    private var processes: [ChildProcess] = []

    /// Starts the servers and waits until every sentinel knows the primary and its replica.
    public init() async throws {
        directory = try TestEnvironment.makeTemporaryDirectory("sentinel")
        var ports: Set<Int> = []
        while ports.count < 5 { ports.insert(try TestEnvironment.freePort()) }
        let all = Array(ports)
        dataPorts = Array(all.prefix(2))
        sentinelPorts = Array(all.suffix(3))
        let redis = try TestEnvironment.redisServerBinary()
        for (i, port) in dataPorts.enumerated() {
            let dir = "\(directory)/\(port)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            var args = [
                "--bind", "127.0.0.1", "--port", "\(port)", "--dir", dir, "--save", "", "--appendonly", "no",
                "--logfile", "\(dir)/redis.log",
                // A primary that has lost its replica refuses writes: the demoted primary cannot accept jobs that the
                // new one would never see. (With two replicas and `min-replicas-to-write 1`, the old primary keeps the
                // second replica until Sentinel moves it, and accepts writes that are lost: tried, about 300 jobs.)
                "--min-replicas-to-write", "1", "--min-replicas-max-lag", "5",
            ]
            if i > 0 { args += ["--replicaof", "127.0.0.1", "\(dataPorts[0])"] }
            processes.append(try ChildProcess(redis, args))
        }
        for port in sentinelPorts {
            let dir = "\(directory)/s\(port)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let conf = """
                port \(port)
                bind 127.0.0.1
                dir \(dir)
                logfile \(dir)/sentinel.log
                sentinel monitor \(Self.master) 127.0.0.1 \(dataPorts[0]) 2
                sentinel down-after-milliseconds \(Self.master) 1000
                sentinel failover-timeout \(Self.master) 10000
                sentinel parallel-syncs \(Self.master) 1

                """
            try conf.write(toFile: "\(dir)/sentinel.conf", atomically: true, encoding: .utf8)
            processes.append(try ChildProcess(redis, ["\(dir)/sentinel.conf", "--sentinel"]))
        }
        try await waitUntil(timeout: .seconds(30), "the replica in sync and known to every sentinel") {
            // (Servers still starting refuse connections: not yet.)
            await self.isReady()
        }
    }

    private func isReady() async -> Bool {
        do {
            for port in dataPorts.dropFirst() { guard try await role(of: port) == "slave" else { return false } }
            for port in sentinelPorts {
                let replicas = try await send(port, RedisCommand("SENTINEL", "REPLICAS", Self.master)).array ?? []
                let sentinels = try await send(port, RedisCommand("SENTINEL", "SENTINELS", Self.master)).array ?? []
                guard replicas.count == 1, sentinels.count == 2 else { return false }
            }
            let info = try await send(dataPorts[0], RedisCommand("INFO", "replication")).string ?? ""
            return info.contains("state=online")
        } catch {
            return false
        }
    }

    /// The `redis+sentinel://` URL of this set-up.
    public var url: String { "redis+sentinel://" + sentinelPorts.map { "127.0.0.1:\($0)" }.joined(separator: ",") + "/\(Self.master)" }

    /// One command to the server on `port`, on a connection of its own.
    public func send(_ port: Int, _ command: RedisCommand) async throws -> RESPValue {
        var config = try RedisConfiguration(url: "redis://127.0.0.1:\(port)", logger: TestEnvironment.logger)
        config.connectTimeout = .seconds(2)
        config.commandTimeout = .seconds(5)
        let connection = RedisConnection(configuration: config)
        defer { connection.closeNow() }
        return try await connection.send(command)
    }

    /// `ROLE`'s first field: `master` or `slave`.
    public func role(of port: Int) async throws -> String? {
        try await send(port, RedisCommand("ROLE")).array?.first?.string
    }

    /// The port the sentinels name as the primary now.
    public func primaryPort() async throws -> Int? {
        let reply = try await send(sentinelPorts[0], RedisCommand("SENTINEL", "GET-MASTER-ADDR-BY-NAME", Self.master))
        return reply.array.flatMap { $0.count == 2 ? $0[1].string.flatMap(Int.init) : nil }
    }

    /// Stops every process (by PID).
    public func stop() {
        for process in processes { process.signal(SIGKILL) }
        processes = []
    }

    deinit {
        for process in processes { process.signal(SIGKILL) }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

import Foundation

/// A private `redis-server` that one test starts, restarts and stops (by its PID).
///
/// Used where the shared server must not be disturbed: restarts, `SCRIPT FLUSH`, `requirepass`, TLS.
public final class RedisServerProcess: @unchecked Sendable {
    // Invariant: mutated only by the test that owns it, from one task at a time.
    public private(set) var port: Int
    public let directory: String
    public let extraArguments: [String]
    private var process: ChildProcess?

    /// Starts `redis-server` on a free loopback port with `extraArguments` (and waits until it answers).
    public init(extraArguments: [String] = [], port: Int? = nil) async throws {
        self.port = try port ?? TestEnvironment.freePort()
        self.directory = try TestEnvironment.makeTemporaryDirectory("redis")
        self.extraArguments = extraArguments
        // A port found free can be taken by a parallel test before the server binds it: try a few ports.
        var attempt = 0
        while true {
            do {
                try await start()
                return
            } catch {
                attempt += 1
                guard port == nil, attempt < 5 else { throw error }
                self.port = try TestEnvironment.freePort()
            }
        }
    }

    public var url: String { "redis://127.0.0.1:\(port)" }

    /// Starts the server (again) on the same port.
    public func start() async throws {
        let arguments = [
            "--bind", "127.0.0.1", "--port", "\(port)", "--dir", directory, "--save", "", "--appendonly", "no",
            "--logfile", "\(directory)/redis.log", "--enable-debug-command", "local",
        ] + extraArguments
        process = try ChildProcess(try TestEnvironment.redisServerBinary(), arguments)
        try await waitUntilListening()
    }

    /// Stops the server with SIGTERM and waits (bounded, 10 s) for it to exit.
    public func stop() async {
        guard let p = process else { return }
        process = nil
        await p.terminate()
        // The log file is reused by the next start; mark where this run ended.
        try? FileManager.default.removeItem(atPath: "\(directory)/redis.log")
    }

    /// Starts a private server, runs `body`, and stops the server afterwards, also when `body` throws.
    public static func with<T>(
        _ extraArguments: [String] = [], _ body: (RedisServerProcess) async throws -> T
    ) async throws -> T {
        let server = try await RedisServerProcess(extraArguments: extraArguments)
        do {
            let result = try await body(server)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }

    /// Sends `signal` to the server (SIGSTOP and SIGCONT pause and resume it, as a frozen host would).
    public func signal(_ signal: Int32) {
        process?.signal(signal)
    }

    /// Stops and starts the server on the same port.
    public func restart() async throws {
        await stop()
        try await start()
    }

    /// Waits (bounded, 10 s) until the port accepts connections.
    private func waitUntilListening() async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let log = try? String(contentsOfFile: "\(directory)/redis.log", encoding: .utf8),
                log.contains("Ready to accept connections")
            {
                return
            }
            guard process?.isRunning == true else { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        let log = (try? String(contentsOfFile: "\(directory)/redis.log", encoding: .utf8)) ?? ""
        await stop()
        throw TestEnvironment.Missing(description: "redis-server did not start on port \(port): \(log.suffix(500))")
    }

    deinit {
        process = nil  // ChildProcess's deinit kills and reaps a server still running
        try? FileManager.default.removeItem(atPath: directory)
    }
}

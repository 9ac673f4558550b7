import Foundation

/// A private PostgreSQL server that one test starts and stops, for faults the shared server must not see
/// (`SIGSTOP`). `initdb` and `postgres` run as the `postgres` user when the tests run as root (they refuse
/// root); signals go to the postmaster's PID from `postmaster.pid`.
public final class PostgresServerProcess: @unchecked Sendable {
    // Invariant: mutated only by the test that owns it, from one task at a time.
    public let port: Int
    public let directory: String
    private var process: ChildProcess?
    private var postmasterPID: pid_t = 0

    public var url: String { "postgres://postgres@127.0.0.1:\(port)/postgres" }

    /// Creates a cluster in a temporary directory and starts it on a free loopback port (bounded, 30 s).
    public init() async throws {
        self.port = try TestEnvironment.freePort()
        self.directory = try TestEnvironment.makeTemporaryDirectory("postgres")
        let bin = try Self.binDirectory()
        let asRoot = getuid() == 0
        if asRoot {
            try FileManager.default.setAttributes([.ownerAccountName: "postgres"], ofItemAtPath: directory)
        }
        func command(_ tool: String, _ arguments: [String]) -> (String, [String]) {
            asRoot ? ("/usr/sbin/runuser", ["-u", "postgres", "--", "\(bin)/\(tool)"] + arguments) : ("\(bin)/\(tool)", arguments)
        }
        let (initdb, initArguments) = command(
            "initdb", ["-D", "\(directory)/data", "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
        let setup = try ChildProcess(initdb, initArguments, outputPath: "\(directory)/initdb.log")
        guard await setup.wait(timeout: .seconds(60)) == 0 else {
            let log = (try? String(contentsOfFile: "\(directory)/initdb.log", encoding: .utf8)) ?? ""
            throw TestEnvironment.Missing(description: "initdb failed: \(log.suffix(500))")
        }
        let (postgres, arguments) = command(
            "postgres",
            ["-D", "\(directory)/data", "-p", "\(port)", "-k", directory, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
        process = try ChildProcess(postgres, arguments, outputPath: "\(directory)/server.log")
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let log = try? String(contentsOfFile: "\(directory)/server.log", encoding: .utf8),
                log.contains("ready to accept connections"),
                let pidText = try? String(contentsOfFile: "\(directory)/data/postmaster.pid", encoding: .utf8),
                let pid = pid_t(pidText.split(separator: "\n").first ?? "")
            {
                postmasterPID = pid
                return
            }
            guard process?.isRunning == true else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let log = (try? String(contentsOfFile: "\(directory)/server.log", encoding: .utf8)) ?? ""
        await stop()
        throw TestEnvironment.Missing(description: "PostgreSQL did not start on port \(port): \(log.suffix(500))")
    }

    /// `JOBKIT_PG_BINDIR` (set by `scripts/test`), else the newest `/usr/lib/postgresql/*/bin`.
    static func binDirectory() throws -> String {
        if let dir = ProcessInfo.processInfo.environment["JOBKIT_PG_BINDIR"], !dir.isEmpty { return dir }
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        if let newest = versions.compactMap(Int.init).max() { return "/usr/lib/postgresql/\(newest)/bin" }
        throw TestEnvironment.Missing(description: "PostgreSQL's initdb not found: run the tests with scripts/test")
    }

    /// Sends `signal` to the postmaster and every backend it forked (SIGSTOP and SIGCONT pause and resume the
    /// whole server, as a frozen host would: stopping the postmaster alone leaves open connections served).
    public func signal(_ signal: Int32) {
        guard postmasterPID > 0 else { return }
        kill(postmasterPID, signal)
        for child in Self.children(of: postmasterPID) { kill(child, signal) }
    }

    /// The processes whose parent is `pid` (from `/proc/<pid>/stat`).
    static func children(of pid: pid_t) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> pid_t? in
            guard let candidate = pid_t(entry),
                let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return nil }
            // After "(comm)": state, then the parent's PID.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && pid_t(fields[1]) == pid ? candidate : nil
        }
    }

    /// Fast shutdown (SIGINT to the postmaster), bounded; then SIGKILL.
    public func stop() async {
        guard let p = process else { return }
        process = nil
        if postmasterPID > 0 {
            kill(postmasterPID, SIGCONT)
            kill(postmasterPID, SIGINT)
        }
        if await p.wait(timeout: .seconds(10)) == nil {
            if postmasterPID > 0 { kill(postmasterPID, SIGKILL) }
            await p.terminate(grace: .seconds(2))
        }
    }

    /// Starts a private server, runs `body`, and stops the server afterwards, also when `body` throws.
    public static func with<T>(_ body: (PostgresServerProcess) async throws -> T) async throws -> T {
        let server = try await PostgresServerProcess()
        do {
            let result = try await body(server)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }

    deinit {
        if process != nil, postmasterPID > 0 { kill(postmasterPID, SIGKILL) }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

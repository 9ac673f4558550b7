import ArgumentParser
import Foundation
import JobKit
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `jobnode top`: a live view of queues (counts, rates, head age), nodes and running jobs, for a box without a
/// browser. On a terminal it redraws every `--interval` and takes keys (select a queue and pause or resume it,
/// select a node and drain it); piped, or with `--once`, it prints plain text frames.
struct TopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top", abstract: "A live view of queues, nodes and running jobs (keys: j/k p, tab d, q).")
    @OptionGroup var connection: ConnectionOptions
    @Option(name: .long, help: "How often to refresh (default 2s).") var interval: String = "2s"
    @Flag(name: .long, help: "Print one frame and exit.") var once = false
    @Option(name: .long, help: "Without a terminal: print this many frames, then exit (default: until stopped).") var frames: Int?

    func validate() throws {
        let d = try CLI.duration(interval)
        guard d >= .milliseconds(100) else { throw ValidationError("--interval must be at least 100ms") }
        if let frames, frames < 1 { throw ValidationError("--frames must be at least 1") }
    }

    func run() async throws {
        await CLI.guarded {
            let queue = try await connection.makeCheckedQueue()
            let registry = NodeRegistry(redis: queue.redis, namespace: connection.namespace)
            let every = try CLI.duration(interval)
            if !once, isatty(0) == 1, isatty(1) == 1 {
                try await TopTerminal(queue: queue, registry: registry, interval: every).run()
                return
            }
            // Plain frames: the same text, no escape codes, one blank line between frames.
            var previous: TopSnapshot?
            var printed = 0
            while true {
                let snapshot = try await TopSnapshot.take(queue: queue, registry: registry)
                if printed > 0 { print("") }
                print(TopView().render(snapshot, previous: previous).joined(separator: "\n"))
                fflush(nil)
                printed += 1
                if once || printed == (frames ?? .max) { return }
                previous = snapshot
                try await Task.sleep(for: every)
            }
        }
    }
}

/// The interactive side of `jobnode top`: raw keys from a thread of its own (never the cooperative pool), ticks,
/// and a redraw after each.
struct TopTerminal {
    let queue: JobQueue
    let registry: NodeRegistry
    let interval: Duration

    enum Event: Sendable {
        case tick
        case key(UInt8)
    }

    func run() async throws {
        let saved = Self.enterRawMode()
        defer {
            Self.restore(saved)
            print("\u{1B}[?25h", terminator: "")  // cursor back
            fflush(nil)
        }
        print("\u{1B}[?25l", terminator: "")  // no cursor while drawing
        let (events, continuation) = AsyncStream.makeStream(of: Event.self)
        let reader = Thread {
            var byte: UInt8 = 0
            while read(0, &byte, 1) == 1 { continuation.yield(.key(byte)) }
            continuation.yield(.key(UInt8(ascii: "q")))
        }
        reader.start()
        // At most one tick waits in the stream: a snapshot slower than the interval never queues ticks ahead of a key.
        let tickPending = Mutex(false)
        let ticker = Task {
            while !Task.isCancelled {
                if tickPending.withLock({ pending in defer { pending = true }; return !pending }) { continuation.yield(.tick) }
                try? await Task.sleep(for: interval)
            }
        }
        defer { ticker.cancel() }

        var view = TopView()
        view.selectedQueue = 0
        var snapshot: TopSnapshot?
        var previous: TopSnapshot?
        var escape: [UInt8] = []
        var pendingDrain: NodeRecord?
        for await event in events {
            switch event {
            case .tick:
                tickPending.withLock { $0 = false }
                previous = snapshot
                snapshot = try await TopSnapshot.take(queue: queue, registry: registry)
            case .key(let byte):
                // Arrow keys arrive as ESC [ A / ESC [ B; an ESC not followed by `[` was a lone Esc, and the key after
                // it counts as itself.
                if escape.count == 1, byte != UInt8(ascii: "[") { escape = [] }
                if byte == 0x1B || !escape.isEmpty {
                    escape.append(byte)
                    guard escape.count == 3 else { continue }
                    let arrow = escape[2]
                    escape = []
                    if arrow == UInt8(ascii: "A") { view.selectedQueue = max(0, (view.selectedQueue ?? 0) - 1) }
                    if arrow == UInt8(ascii: "B") { view.selectedQueue = (view.selectedQueue ?? -1) + 1 }
                } else if let confirm = pendingDrain {
                    pendingDrain = nil
                    if byte == UInt8(ascii: "y") {
                        let targets = try await registry.requestDrain(node: confirm.id)
                        view.status = targets.isEmpty ? "node \(confirm.name) is gone" : "drain requested: \(confirm.name)"
                    } else {
                        view.status = "drain of \(confirm.name) not requested"
                    }
                } else {
                    switch byte {
                    case UInt8(ascii: "q"), 3, 4: return  // q, Ctrl-C, Ctrl-D
                    case UInt8(ascii: "j"): view.selectedQueue = (view.selectedQueue ?? -1) + 1
                    case UInt8(ascii: "k"): view.selectedQueue = max(0, (view.selectedQueue ?? 0) - 1)
                    case UInt8(ascii: "\t"):
                        let count = snapshot?.nodes.count ?? 0
                        view.selectedNode = count == 0 ? nil : ((view.selectedNode ?? -1) + 1) % count
                    case UInt8(ascii: "p"):
                        if let s = snapshot, let i = view.selectedQueue, s.queues.indices.contains(i) {
                            let q = s.queues[i]
                            if q.paused { try await queue.resume(queue: q.name) } else { try await queue.pause(queue: q.name) }
                            view.status = q.paused ? "resumed \(q.name)" : "paused \(q.name)"
                            previous = snapshot
                            snapshot = try await TopSnapshot.take(queue: queue, registry: registry)
                        }
                    case UInt8(ascii: "d"):
                        if let s = snapshot, let i = view.selectedNode, s.nodes.indices.contains(i) {
                            pendingDrain = s.nodes[i]
                            view.status = "drain node \(s.nodes[i].name) (\(s.nodes[i].id))? It stops claiming and exits after its jobs. y/n"
                        } else {
                            view.status = "select a node with tab first"
                        }
                    default: continue
                    }
                }
            }
            guard let snapshot else { continue }
            if let i = view.selectedQueue { view.selectedQueue = min(i, max(0, snapshot.queues.count - 1)) }
            var lines = view.render(snapshot, previous: previous)
            lines.append("")
            lines.append("j/k or ↑/↓ queue · p pause/resume · tab node · d drain · q quit")
            print("\u{1B}[H\u{1B}[2J" + lines.joined(separator: "\n"), terminator: "")
            fflush(nil)
        }
    }

    /// Turns off line buffering, echo and signal keys (Ctrl-C arrives as a key, so the terminal is always
    /// restored); output processing stays on.
    static func enterRawMode() -> termios {
        var saved = termios()
        tcgetattr(0, &saved)
        var raw = saved
        raw.c_lflag &= ~tcflag_t(ICANON | ECHO | ISIG)
        withUnsafeMutableBytes(of: &raw.c_cc) { cc in
            cc[Int(VMIN)] = 1
            cc[Int(VTIME)] = 0
        }
        tcsetattr(0, TCSAFLUSH, &raw)
        return saved
    }

    static func restore(_ saved: termios) {
        var saved = saved
        tcsetattr(0, TCSAFLUSH, &saved)
    }
}

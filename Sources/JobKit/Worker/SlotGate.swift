import Synchronization

/// Counts a worker's free slots; the fetcher waits here until at least one is free.
final class SlotGate: Sendable {
    private struct State {
        var free: Int
        var capacity: Int
        /// Fetchers waiting for a free slot (each re-checks when woken).
        var waiters: [CheckedContinuation<Void, Never>] = []
        var closed = false
    }
    private let state: Mutex<State>

    init(capacity: Int) {
        state = Mutex(State(free: capacity, capacity: capacity))
    }

    /// Waits until a slot is free (or the gate is closed), then takes every free slot and returns how many.
    func reserveFree() async -> Int {
        while true {
            let taken: Int? = state.withLock { s in
                if s.closed { return 0 }
                if s.free > 0 {
                    let n = s.free
                    s.free = 0
                    return n
                }
                return nil
            }
            if let taken { return taken }
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.closed || s.free > 0 { return true }
                    s.waiters.append(c)
                    return false
                }
                if resumeNow { c.resume() }
            }
        }
    }

    /// Returns `n` slots (unused reservations, or finished jobs).
    func release(_ n: Int = 1) {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.free += n
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }

    /// True when a slot is free now.
    var hasFree: Bool { state.withLock { $0.free > 0 } }

    /// Jobs running now.
    var busy: Int { state.withLock { $0.capacity - $0.free } }

    /// Wakes the waiting fetcher for good (shutdown).
    func close() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.closed = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }
}

import Synchronization

/// Ends waits that outlast their deadline, with one task for all of them.
///
/// A caller confirming a change waits for an event (the broker's acknowledgement, the
/// log's echo) for at most a timeout. A timer task per wait cost each confirmed change a
/// task start, a sleep and a cancellation on the cooperative pool, two more wake-ups
/// than the wait itself needs. Here a wait costs an entry in a map under a lock, and
/// one task looks at the deadlines every `interval` while any are scheduled, so a
/// timeout is heard up to one interval late.
final class DeadlineSweeper: Sendable {
    /// What `schedule` returns, to `cancel` the expiry once the wait ended otherwise.
    struct Token: Sendable, Hashable {
        fileprivate let id: UInt64
    }

    private struct Entry {
        let deadline: ContinuousClock.Instant
        let expire: @Sendable () -> Void
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        var nextID: UInt64 = 0
        /// Whether the sweeping task runs; it ends once no entry is left.
        var sweeping = false
    }

    let interval: Duration
    private let state = Mutex(State())

    init(interval: Duration = .milliseconds(10)) {
        self.interval = interval
    }

    /// Runs `expire` once `deadline` has passed, unless the token is cancelled first.
    /// `expire` runs on the sweeping task, outside the sweeper's lock; it must tolerate
    /// a wait that has just ended otherwise.
    func schedule(at deadline: ContinuousClock.Instant, _ expire: @escaping @Sendable () -> Void) -> Token {
        let (id, start) = state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.entries[id] = Entry(deadline: deadline, expire: expire)
            let start = !state.sweeping
            state.sweeping = true
            return (id, start)
        }
        if start { Task { await sweep() } }
        return Token(id: id)
    }

    func cancel(_ token: Token) {
        state.withLock { _ = $0.entries.removeValue(forKey: token.id) }
    }

    /// Whether the sweeping task runs (it stops once nothing is scheduled).
    var isSweeping: Bool { state.withLock { $0.sweeping } }

    private func sweep() async {
        while true {
            try? await Task.sleep(for: interval)
            let now = ContinuousClock.now
            // What expired is decided under the lock and run outside it; whether to go on
            // only after that, so a sweeper seen stopped has run every expiry it took.
            let expired = state.withLock { state -> [Entry] in
                let expired = state.entries.filter { $0.value.deadline <= now }
                for id in expired.keys { state.entries[id] = nil }
                return Array(expired.values)
            }
            for entry in expired { entry.expire() }
            let goOn = state.withLock { state in
                state.sweeping = !state.entries.isEmpty
                return state.sweeping
            }
            if !goOn { return }
        }
    }
}

import HeapModule
import Synchronization

/// Ends waits that outlast their deadline, with one task for all of them.
///
/// A caller confirming a change waits for an event (the broker's acknowledgement, the
/// log's echo) for at most a timeout. A timer task per wait cost each confirmed change a
/// task start, a sleep and a cancellation on the cooperative pool, two more wake-ups
/// than the wait itself needs. Here a wait costs an entry in a map and a heap under a
/// lock, and one task looks at the deadlines every `interval` while any are scheduled,
/// so a timeout is heard up to one interval late.
package final class DeadlineSweeper: Sendable {
    /// What `schedule` returns, to `cancel` the expiry once the wait ended otherwise.
    package struct Token: Sendable, Hashable {
        fileprivate let id: UInt64
    }

    /// A deadline in the order they fall due. Cancelling leaves it in the heap (removing
    /// from the middle of a heap costs a search); the sweep drops it when it comes up.
    private struct Due: Comparable {
        let deadline: ContinuousClock.Instant
        let id: UInt64
        static func < (lhs: Due, rhs: Due) -> Bool { (lhs.deadline, lhs.id) < (rhs.deadline, rhs.id) }
    }

    private struct State {
        /// The waits still scheduled, by id: `cancel` removes one in O(1).
        var expiries: [UInt64: @Sendable () -> Void] = [:]
        /// Every deadline scheduled and not yet swept, cancelled ones included: a sweep
        /// takes only what fell due, in O(log n) each, however many are waiting (when
        /// the broker is slow, thousands a second times the timeout).
        var due = Heap<Due>()
        var nextID: UInt64 = 0
        /// Whether the sweeping task runs; it ends once no wait is left.
        var sweeping = false
    }

    package let interval: Duration
    private let state = Mutex(State())

    package init(interval: Duration = .milliseconds(10)) {
        self.interval = interval
    }

    /// Runs `expire` once `deadline` has passed, unless the token is cancelled first.
    /// `expire` runs on the sweeping task, outside the sweeper's lock; it must tolerate
    /// a wait that has just ended otherwise.
    package func schedule(at deadline: ContinuousClock.Instant, _ expire: @escaping @Sendable () -> Void) -> Token {
        let (id, start) = state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.expiries[id] = expire
            state.due.insert(Due(deadline: deadline, id: id))
            let start = !state.sweeping
            state.sweeping = true
            return (id, start)
        }
        if start { Task { await sweep() } }
        return Token(id: id)
    }

    package func cancel(_ token: Token) {
        state.withLock { _ = $0.expiries.removeValue(forKey: token.id) }
    }

    /// Whether the sweeping task runs (it stops once nothing is scheduled).
    package var isSweeping: Bool { state.withLock { $0.sweeping } }

    private func sweep() async {
        var expired: [@Sendable () -> Void] = []
        while true {
            try? await Task.sleep(for: interval)
            let now = ContinuousClock.now
            // What expired is decided under the lock and run outside it; whether to go on
            // only after that, so a sweeper seen stopped has run every expiry it took.
            state.withLock { state in
                while let first = state.due.min, first.deadline <= now {
                    state.due.removeMin()
                    if let expire = state.expiries.removeValue(forKey: first.id) { expired.append(expire) }
                }
            }
            for expire in expired { expire() }
            expired.removeAll(keepingCapacity: true)
            let goOn = state.withLock { state in
                state.sweeping = !state.expiries.isEmpty
                // Nothing scheduled: whatever the heap still holds was cancelled.
                if !state.sweeping { state.due = Heap() }
                return state.sweeping
            }
            if !goOn { return }
        }
    }
}

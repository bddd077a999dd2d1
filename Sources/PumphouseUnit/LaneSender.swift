import Foundation
import Logging
import Synchronization

/// The data pump's sending thread: hands to librdkafka what the putting threads leave in
/// the lanes (they send their own changes, ``DataPump/send(_:)``): the rest of a lane
/// when the producer's queue was full, the changes a previous run left in the spool,
/// everything resent behind a replaced producer, and ownership claims.
///
/// While it finds work, it looks at the lanes again every `lookInterval` without being
/// asked (a full producer queue drains as the broker acknowledges). After `idleAfter`
/// without work it sleeps until woken. At the on-sale's few hundred changes a second a
/// 20 ms grace kept the thread waking 3,000 times a second, a fifth of the unit's CPU,
/// to find nothing on most looks; since the putting threads send themselves, it rarely
/// wakes at all.
///
/// The thread holds the lanes and this object, not the pump: a pump dropped without
/// `close` (a unit that never ran) still stops it.
final class LaneSender: Sendable {
    static let lookInterval: Duration = .microseconds(200)
    static let idleAfter: Duration = .milliseconds(1)

    private let control: ConditionLock<Control>
    /// True while the thread sleeps until woken; `wake` wakes it only then.
    private let asleep: Atomic<Bool>

    private struct Control: Sendable {
        var woken = false
        var stopped = false
    }

    init(lanes: [DataPump.Lane], health: DataPump.ProducerHealth, logger: Logger) {
        self.control = ConditionLock(Control())
        self.asleep = Atomic(false)
        let thread = Thread { [self] in
            // At most 15 bytes: Linux refuses a longer name, and "pumphouse-sender" left
            // the thread under its creator's, so per-thread profiles counted it in the
            // cooperative pool.
            nameCurrentThread("pumphouse-send")
            run(lanes: lanes, health: health, logger: logger)
        }
        thread.start()
    }

    /// Called when changes wait that the caller did not send: wakes the thread if it
    /// sleeps without a deadline.
    func wake() {
        guard asleep.load(ordering: .sequentiallyConsistent),
            asleep.compareExchange(expected: true, desired: false, ordering: .sequentiallyConsistent).exchanged
        else { return }
        control.withLock { $0.woken = true }
        control.signal()
    }

    /// Whether the thread sleeps until woken.
    var isAsleep: Bool { asleep.load(ordering: .sequentiallyConsistent) }

    /// Stops the thread after its current pass; what it leaves queued stays in the lanes.
    func stop() {
        control.withLock { $0.stopped = true }
        control.signal()
    }

    private func run(lanes: [DataPump.Lane], health: DataPump.ProducerHealth, logger: Logger) {
        var quietSince: ContinuousClock.Instant?
        while true {
            var sent = 0
            var full = false
            for lane in lanes {
                let pass = lane.sendQueued(health: health, logger: logger)
                sent += pass.sent
                full = full || pass.full
            }
            if control.withLock({ $0.stopped }) { return }
            if sent > 0 && !full {
                quietSince = nil
                continue
            }
            let now = ContinuousClock.now
            let quiet = quietSince ?? now
            quietSince = quiet
            if full || now - quiet < Self.idleAfter {
                // A full producer queue drains as the broker acknowledges; either way,
                // look again shortly, unasked.
                var slept = false
                control.wait { state -> ConditionLock<Control>.Step<Void> in
                    if state.stopped || slept { return .proceed(()) }
                    slept = true
                    return .sleep(timeout: full ? .milliseconds(1) : Self.lookInterval)
                }
                continue
            }
            // Quiet for a while: sleep until woken. Announce it first, then look once
            // more, so a change queued in between is not left waiting. A lane another
            // thread is sending from does not count: that thread looks at the queue again
            // after it lets the role go, and wakes this one for whatever it leaves
            // (counting it would spin here for as long as puts keep the role busy).
            asleep.store(true, ordering: .sequentiallyConsistent)
            if lanes.contains(where: \.hasUnsentUnclaimed) {
                asleep.store(false, ordering: .sequentiallyConsistent)
                continue
            }
            control.wait { state -> ConditionLock<Control>.Step<Void> in
                if state.stopped || state.woken {
                    state.woken = false
                    return .proceed(())
                }
                return .sleep(timeout: nil)
            }
            asleep.store(false, ordering: .sequentiallyConsistent)
            quietSince = nil
        }
    }
}

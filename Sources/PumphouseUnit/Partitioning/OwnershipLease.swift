import PumphouseBlocking
import Synchronization

/// How long a unit may go on deciding as a partition's owner without proof that its
/// peers still count it alive: a zombie (a process paused past the member timeout, then
/// resumed) must not decide on its old ownership before its consumer has caught up with
/// the claim that deposed it, nor tell a caller that a change it decided then stands.
///
/// The proof is the unit's own heartbeat read back from the member topic: once it is in
/// the log, every peer hears it, and none counts the unit gone until a member timeout
/// after hearing it. The lease runs from when that heartbeat was sent (its record's
/// timestamp, on this unit's own clock) for three quarters of the member timeout; the
/// rest is a margin for clocks that run at slightly different rates on different
/// machines. A change confirmed as in the log (`.brokerAcknowledged`) is confirmed only
/// if the broker's acknowledgement came within the lease, so no peer can have claimed
/// the partition before it. A step of the wall clock (not its rate) shortens or
/// lengthens one lease.
///
/// A peer whose own consumer falls behind does not count this unit gone on that
/// account: it times silence in log time too (`MemberClock`).
///
/// A later heartbeat does not simply renew a lease that lapsed: if two of the unit's
/// heartbeats in the log are further apart than the lease, its peers may have counted
/// it gone in between and claimed its partitions in a part of the log it has not read
/// yet. The lease is then *broken*, and stays so until the unit has claimed every
/// partition it owned again, under the next term (`OwnershipSteward`): log order then
/// says whether its claim or a peer's came first, and either way it learns who owns
/// each partition before it decides there again.
final class OwnershipLease: Sendable {
    private let sentAt = Atomic<Int64>(.min)
    /// Gaps found, and how many of them the unit's claims have since made good: a gap
    /// found while the unit claims again for an earlier one is not made good by those.
    private let breaks = Atomic(0)
    private let repaired = Atomic(0)
    private let window: Int64

    init(memberTimeout: Duration) {
        window = memberTimeout.milliseconds * 3 / 4
    }

    /// This unit's heartbeat sent at `milliseconds` (since the epoch) is in the log.
    /// Returns whether the unit saw nothing of the log before it: the first heartbeat
    /// back, or one after a gap that broke the lease (`MemberClock` restarts every
    /// peer's silence from it).
    @discardableResult
    func renew(sentAt milliseconds: Int64) -> Bool {
        var current = sentAt.load(ordering: .relaxed)
        while current < milliseconds {
            // Broken before the later heartbeat counts, so no reader sees it renewed
            // across the gap.
            let gap = current != .min && milliseconds - current >= window
            if gap { breaks.add(1, ordering: .relaxed) }
            let (exchanged, original) = sentAt.compareExchange(expected: current, desired: milliseconds, ordering: .relaxed)
            if exchanged { return current == .min || gap }
            current = original
        }
        return false
    }

    /// When this unit's latest heartbeat back was sent (milliseconds since the epoch),
    /// once one is back.
    var echoed: Int64? {
        let sent = sentAt.load(ordering: .relaxed)
        return sent == .min ? nil : sent
    }

    /// Whether the unit may still decide as an owner at `now` (milliseconds since the epoch).
    func isValid(at now: Int64 = wallClockMilliseconds()) -> Bool {
        let sent = sentAt.load(ordering: .relaxed)
        return sent != .min && now - sent < window && broken == nil
    }

    /// Which gap broke the lease, while it is broken: pass it to `repair`.
    var broken: Int? {
        let found = breaks.load(ordering: .relaxed)
        return found > repaired.load(ordering: .relaxed) ? found : nil
    }

    /// Every partition owned when the lease broke (by gap `generation` or earlier) has
    /// been claimed again, or lost.
    func repair(through generation: Int) {
        var current = repaired.load(ordering: .relaxed)
        while current < generation {
            let (exchanged, original) = repaired.compareExchange(expected: current, desired: generation, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }
}

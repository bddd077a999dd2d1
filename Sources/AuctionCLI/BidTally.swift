import Foundation
import Synchronization

/// A bid a bidder was told was accepted (201).
struct AcceptedBid: Sendable, Hashable {
    var auction: String
    var number: Int64
    var bidder: String
    var amount: Int64
}

/// What the demo's bidders were told, counted as they go.
final class BidTally: Sendable {
    struct Snapshot: Sendable {
        var accepted: [AcceptedBid] = []
        var outbid = 0
        var retried = 0
        var failures: [String] = []
        /// From the kill to the first bid accepted in the killed owner's partition.
        var failover: Duration?
    }

    private struct State {
        var snapshot = Snapshot()
        var killedAt: ContinuousClock.Instant?
    }

    private let state = Mutex(State())

    func killed(at instant: ContinuousClock.Instant) {
        state.withLock { $0.killedAt = instant }
    }

    func accepted(_ bid: AcceptedBid, inVictimPartition: Bool) {
        let now = ContinuousClock.now
        state.withLock { state in
            state.snapshot.accepted.append(bid)
            if inVictimPartition, state.snapshot.failover == nil, let killed = state.killedAt, now > killed {
                state.snapshot.failover = now - killed
            }
        }
    }

    func outbid() { state.withLock { $0.snapshot.outbid += 1 } }

    func retried() { state.withLock { $0.snapshot.retried += 1 } }

    func failed(_ reason: String) { state.withLock { $0.snapshot.failures.append(reason) } }

    func snapshot() -> Snapshot { state.withLock { $0.snapshot } }
}

/// What a unit stopping gracefully does at one upkeep: go on handing its partitions over,
/// or stop, and why. Pure, so each way out is tested on its own; `ProcessingUnit` gathers
/// what it needs and acts on the answer.
struct LeavingHandOver: Equatable {
    /// What the unit knows at the upkeep.
    struct Facts {
        /// Partitions it still owns by its own fold in caches where a loaded peer that
        /// is not leaving itself could take over.
        var handable: Int
        /// Partitions it owns in caches no such peer holds: nobody could take them, so
        /// they are not waited for (they are claimed when a unit holding the cache comes).
        var stranded: Int
        /// Whether it has heard the members for a whole member timeout.
        var hasListened: Bool
        /// The peers that could take over but do not say they wait for a leaver's claims
        /// (an earlier version), by id.
        var earlierPeers: [String]
        /// When it began handing over (nil: not yet) and how long it may try.
        var startedAt: ContinuousClock.Instant?
        var timeout: Duration
        var now: ContinuousClock.Instant
    }

    enum Step: Equatable {
        /// Starts handing over now: say so, and leave the assignment.
        case begin
        /// Goes on: claims are on their way.
        case carryOn
        /// Stops; peers claim whatever it still owns on hearing it leave.
        case stop(Reason)
    }

    enum Reason: Equatable {
        /// It owns nothing (any more): the hand-over is done, or there was none to do.
        case ownsNothing
        /// What it still owns, no peer could take (`Facts.stranded`).
        case noSuccessor
        /// It may not know every live peer, and could hand a partition to the wrong one.
        case notListened
        /// A peer of an earlier version would hand each partition straight back.
        case earlierPeers([String])
        /// It tried for the whole timeout.
        case timedOut
    }

    static func step(_ facts: Facts) -> Step {
        // Decided per cache: one cache nobody else holds must not keep the unit waiting
        // out the timeout for another's hand-over, nor stop that hand-over.
        if facts.handable == 0 { return .stop(facts.stranded == 0 ? .ownsNothing : .noSuccessor) }
        guard facts.hasListened else { return .stop(.notListened) }
        guard let started = facts.startedAt else {
            return facts.earlierPeers.isEmpty ? .begin : .stop(.earlierPeers(facts.earlierPeers))
        }
        // Once begun, a peer of an earlier version joining does not end it: the timeout does.
        return facts.now - started < facts.timeout ? .carryOn : .stop(.timedOut)
    }
}

/// What a unit stopping gracefully does at one upkeep: go on handing its partitions over,
/// or stop, and why. Pure, so each way out is tested on its own; `ProcessingUnit` gathers
/// what it needs and acts on the answer.
struct LeavingHandOver: Equatable {
    /// What the unit knows at the upkeep.
    struct Facts {
        /// Partitions of partitioned caches it still owns by its own fold.
        var ownedPartitions: Int
        /// Whether it has heard the members for a whole member timeout.
        var hasListened: Bool
        /// Loaded peers that are not leaving themselves: who could take over.
        var successors: Int
        /// Those of them that do not say they wait for a leaver's claims (an earlier
        /// version), by id.
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
        /// It may not know every live peer, and could hand a partition to the wrong one.
        case notListened
        /// No peer could take over.
        case noSuccessor
        /// A peer of an earlier version would hand each partition straight back.
        case earlierPeers([String])
        /// It tried for the whole timeout.
        case timedOut
    }

    static func step(_ facts: Facts) -> Step {
        if facts.ownedPartitions == 0 { return .stop(.ownsNothing) }
        guard facts.hasListened else { return .stop(.notListened) }
        guard facts.successors > 0 else { return .stop(.noSuccessor) }
        guard let started = facts.startedAt else {
            return facts.earlierPeers.isEmpty ? .begin : .stop(.earlierPeers(facts.earlierPeers))
        }
        // Once begun, a peer of an earlier version joining does not end it: the timeout does.
        return facts.now - started < facts.timeout ? .carryOn : .stop(.timedOut)
    }
}

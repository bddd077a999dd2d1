import Logging
import PumphouseContracts
import PumphousePipeline

/// What the unit's ownership upkeep needs of a partitioned cache.
protocol PartitionOwning: Sendable {
    var cacheConfiguration: CacheConfiguration { get }
    /// Each partition's ownership as this unit's replica has folded it from the log.
    var ownership: [PartitionOwnership] { get }
    /// Stops deciding in `partition`; false if this unit does not own it.
    func beginHandOff(_ partition: Int32) -> Bool
    /// Decides in `partition` again, unless the hand-off claim is already queued.
    func endHandOff(_ partition: Int32)
    /// Whether everything this unit decided in `partition` is in the log.
    func isDrained(_ partition: Int32) -> Bool
    /// Whether this unit holds the partition's entities up to date (not dropped, not
    /// rebuilding from the log): only then may it claim the partition.
    func isWarm(_ partition: Int32) -> Bool
    /// Writes `claim` into its partition, behind this unit's changes there.
    func publish(_ claim: OwnershipClaim) throws
    /// Records what an upkeep saw and did: the claims made (by why), and this unit's
    /// role in each partition as it began.
    func recordOwnership(_ upkeep: OwnershipSteward.Upkeep)
    /// Keeps the entities of the partitions `wanted`, lets the others go; says which
    /// partitions to read again, and how many it let go.
    func keep(_ wanted: Set<Int32>) -> PartitionsKept
    /// Takes up a dropped partition with the rows a reverse-pump answer holds for it.
    func reload(_ partition: Int32, with answer: PartitionReload.Rows) -> Bool
    /// The partition of the cache's topic that `key` belongs in.
    func partition(ofKey key: String) -> Int32
    /// A partition read again has caught up with the log.
    func finishRebuild(_ partition: Int32)
    /// The partitions this unit owns by its own fold, with their terms: what its
    /// heartbeats say.
    var ownedHere: [Int32: Int64] { get }
    /// Notes the partitions a member's heartbeat says it owns (`ownership` of a
    /// partition this unit does not read comes from these).
    func hearOwnership(_ owns: [Int32: Int64], of member: String)
}

/// Moves a unit's partitions towards what its member list says they should be, by
/// writing ownership claims; the log, not this type, decides whether a claim counts.
///
/// - A partition the assignment gives this unit is claimed (the next ownership term)
///   when nobody owns it or its owner is no longer a live, loaded member: a failover.
///   While its owner is alive, this unit waits for that owner to hand it over. A unit
///   claims nothing before it has listened to the members for a whole member timeout:
///   until then it may not have heard every live peer, and would depose owners that
///   are alive, or race its peers for partitions nobody owns yet.
/// - A partition this unit owns that the assignment gives another unit is handed over:
///   the unit stops deciding there, waits until every change it decided there is
///   acknowledged by the broker, then writes the claim that names the new owner. The
///   claim lands behind those changes, so a planned move loses and doubles nothing.
/// - A unit that stops gracefully is `leaving`: left out of the assignment but alive, so
///   it hands each of its partitions to the unit the assignment over the others names,
///   as above, while that unit waits for the claim instead of claiming.
///
/// A claim made and not yet seen in the log is not made again for `retryAfter`, so a
/// slow broker does not fill the partition with claims.
struct OwnershipSteward {
    let unit: String
    /// How long a member may be silent and still count as alive: also how long a claim
    /// waits for the log before it is made again.
    let memberTimeout: Duration
    /// When this unit began to hear the members. The unit runs its steward in log time
    /// (`MemberClock`), so this is its first heartbeat read back, and a member timeout
    /// of listening is one of the log, however far behind the unit reads it.
    let listeningSince: ContinuousClock.Instant
    private var outstanding: [Outstanding: ContinuousClock.Instant] = [:]
    /// While the unit's lease is broken: each partition it owned then, with the term it
    /// owned it under, until a later claim (its own or a peer's) is in its fold.
    private var reclaims: [PartitionOfCache: Int64] = [:]
    /// The caches whose owned partitions were listed in `reclaims` since the lease broke.
    private var reclaimed: Set<ContractName> = []
    /// The break (`OwnershipLease.broken`) that `reclaims` answers: a later one lists
    /// what the unit owns anew.
    private var reclaiming: Int?
    /// Caches whose live units are too few for their declared backups, with how many
    /// backups each partition has instead: told once when it starts and once when it ends.
    private var shortOfBackups: [ContractName: Int] = [:]

    /// Why a claim was made, for the unit's metrics and log.
    enum Move: String, Sendable, CaseIterable {
        /// Nobody owned the partition yet.
        case first
        /// Its owner is not a live, loaded member any more, and did not say it leaves.
        case failover
        /// Its owner announced that it leaves (a planned stop, a scale-in).
        case leave
        /// This unit hands the partition to the unit the assignment names.
        case handOver = "hand-over"
        /// This unit claims again what it owned when its lease broke (it was paused or
        /// cut off for longer than the lease): whichever claim the log has first wins.
        case reclaim
    }

    /// What one upkeep of a cache did, and what it found.
    struct Upkeep {
        /// The claims written, with why each was made.
        var claims: [(claim: OwnershipClaim, move: Move)] = []
        /// By partition, this unit's role as the upkeep began: owner as its replica
        /// folded the claims, backup as the assignment over the live members names it.
        var roles: [Role] = []
        /// The partitions whose entities this unit keeps: those it owns, and those the
        /// assignment makes it owner or backup of. nil until the unit has listened to the
        /// members for a member timeout (until then it may not know them all, and keeps
        /// everything).
        var wanted: Set<Int32>?
        /// How many backups each partition has, once the unit has listened: the declared
        /// number, or fewer while fewer units than `backups + 1` hold the cache.
        var backups: Int?
    }

    /// A unit's part in one partition.
    enum Role: Equatable {
        case owner
        case backup
        case none
    }

    private struct Outstanding: Hashable {
        var cache: ContractName
        var partition: Int32
        var term: Int64
    }

    private struct PartitionOfCache: Hashable {
        var cache: ContractName
        var partition: Int32
    }

    init(unit: String, memberTimeout: Duration, listeningSince: ContinuousClock.Instant) {
        self.unit = unit
        self.memberTimeout = memberTimeout
        self.listeningSince = listeningSince
    }

    /// The assignment's name: co-partitioned caches share one, so each of their
    /// partitions has the same owner.
    static func group(of cache: CacheConfiguration) -> String {
        ([cache.contract] + cache.coPartitioned).map(\.rawValue).min() ?? cache.contract.rawValue
    }

    /// Whether this unit has heard the members for a whole member timeout by `now`:
    /// before that it may not know every live peer.
    func hasListened(at now: ContinuousClock.Instant) -> Bool { now - listeningSince >= memberTimeout }

    /// Whether every cache tended since the lease broke (`caches` of them) has its owned
    /// partitions claimed again or lost: the lease can be repaired.
    func reclaimsDone(caches: Int) -> Bool { reclaimed.count >= caches && reclaims.isEmpty }

    /// Makes the claims that move `cache` towards the assignment over `members`, and
    /// returns them with why each was made. `leaving` are the members stopping
    /// (`MemberList.Member.leaving`), this unit among them when it stops: alive, so
    /// nobody claims what they own, but left out of the assignment, so they hand it
    /// over. With the unit's lease broken (`brokenLease`,
    /// the break as `OwnershipLease.broken` names it), it makes only the claims that
    /// take back what the unit owned (`reclaim`): its view of the members and of the
    /// partitions may be a pause old, so it deposes nobody and hands nothing over until
    /// those have landed.
    @discardableResult
    mutating func tend(
        _ cache: any PartitionOwning, live members: [String], leaving: Set<ExactKey> = [], departed: Set<ExactKey> = [], now: ContinuousClock.Instant,
        brokenLease: Int? = nil, logger: Logger
    ) -> Upkeep {
        let configuration = cache.cacheConfiguration
        if brokenLease != reclaiming {
            reclaiming = brokenLease
            reclaimed = []
            reclaims = [:]
        }
        if brokenLease != nil { return reclaim(cache, now: now, logger: logger) }
        let staying = members.filter { !leaving.contains(ExactKey($0)) }
        let assignment = PartitionAssignment(
            group: Self.group(of: configuration), partitions: configuration.partitions, backups: configuration.mode.backups ?? 0, members: staying
        )
        let live = Set(members.map { ExactKey($0) })
        var upkeep = Upkeep()
        let listened = hasListened(at: now)
        if listened {
            upkeep.wanted = Set(assignment.held(by: unit))
            upkeep.backups = noteBackups(of: configuration, units: staying.count, logger: logger)
        }
        for (index, owned) in cache.ownership.enumerated() {
            let partition = Int32(index)
            let ownedHere = owned.owner?.isSameBytes(as: unit) == true
            if ownedHere { upkeep.wanted?.insert(partition) }
            let backsUp = assignment.backups(of: partition).contains { $0.isSameBytes(as: unit) }
            upkeep.roles.append(ownedHere ? .owner : backsUp ? .backup : .none)
            guard let target = assignment.owner(of: partition) else { continue }
            let claim: OwnershipClaim
            let move: Move
            if target.isSameBytes(as: unit) {
                guard !ownedHere else {
                    // The assignment gave it back before the hand-off claim was queued.
                    cache.endHandOff(partition)
                    continue
                }
                // Every live unit is heard only after a member timeout; an owner that is
                // alive hands the partition over itself, after its last change. An owner
                // that said it leaves is known gone, not guessed gone from its silence, so
                // its partitions are claimed before that: a member list still incomplete
                // can then only name the wrong successor, which hands the partition on
                // once it has heard everyone, and cannot depose a live owner. A unit
                // still rebuilding the partition decides there only once it is warm.
                let leaving = owned.owner.map { departed.contains(ExactKey($0)) } ?? false
                if !(listened || leaving) || !cache.isWarm(partition) { continue }
                if let owner = owned.owner, live.contains(ExactKey(owner)) { continue }
                move = leaving ? .leave : owned.owner == nil ? .first : .failover
                claim = OwnershipClaim(cache: configuration.contract, partition: partition, term: owned.term + 1, owner: unit, claimedAt: wallClockMilliseconds(), partitioner: configuration.partitioner.description)
            } else {
                // A joiner handed a partition may not have heard every member yet: by its
                // partial list another unit should own it, by the others' it should, and
                // the partition went back and forth under term after term (seen in the
                // rebalancing benchmark) until it had heard them all.
                guard listened, ownedHere, cache.beginHandOff(partition), cache.isDrained(partition) else { continue }
                move = .handOver
                claim = OwnershipClaim(cache: configuration.contract, partition: partition, term: owned.term + 1, owner: target, claimedAt: wallClockMilliseconds(), partitioner: configuration.partitioner.description)
            }
            if make(claim, move, on: cache, now: now, logger: logger) { upkeep.claims.append((claim, move)) }
        }
        forgetAnswered(cache)
        return upkeep
    }

    /// The backups each partition of `cache` can have among `units` live units, telling
    /// the operator when that falls short of the declared number and when it is whole
    /// again: more backups than units is a deployment to fix, not an error to refuse, since
    /// units come and go.
    private mutating func noteBackups(of cache: CacheConfiguration, units: Int, logger: Logger) -> Int {
        let declared = cache.mode.backups ?? 0
        let available = min(declared, max(0, units - 1))
        let name = cache.contract
        if available < declared {
            if shortOfBackups[name] != available {
                logger.warning(
                    "\(name) declares \(declared) backup(s) per partition, but \(units) unit(s) hold it, so each partition has \(available): start \(declared + 1 - units) more unit(s), or lower `backups`; until then a lost owner's partitions fail over to a warm backup only where one exists, and are otherwise read again by their new owner"
                )
            }
            shortOfBackups[name] = available
        } else if shortOfBackups.removeValue(forKey: name) != nil {
            logger.notice("\(name): every partition has its \(declared) backup(s) again (\(units) units hold the cache)")
        }
        return available
    }

    /// Writes `claim` unless the same claim is still on its way (made less than a member
    /// timeout ago); whether it was written.
    private mutating func make(_ claim: OwnershipClaim, _ move: Move, on cache: any PartitionOwning, now: ContinuousClock.Instant, logger: Logger) -> Bool {
        let pending = Outstanding(cache: claim.cache, partition: claim.partition, term: claim.term)
        if let made = outstanding[pending], now - made < memberTimeout { return false }
        do {
            try cache.publish(claim)
        } catch {
            logger.warning("\(claim.cache): could not write the \(claim): \(error); trying again at the next upkeep")
            return false
        }
        outstanding[pending] = now
        switch move {
        case .handOver: logger.info("\(claim.cache): handing partition \(claim.partition) over: \(claim)")
        case .reclaim: logger.notice("\(claim.cache): claiming partition \(claim.partition) again after a gap in this unit's heartbeats (it may have been paused): \(claim)")
        case .first, .failover, .leave: logger.info("\(claim.cache): claiming partition \(claim.partition) (\(move.rawValue)): \(claim)")
        }
        return true
    }

    /// The upkeep of a cache while the lease is broken: each partition this unit owned
    /// when it broke is claimed again under the next term once its lane is drained (a
    /// claim behind the unit's own last changes there, as a hand-over's), until a later
    /// claim is in the fold.
    private mutating func reclaim(_ cache: any PartitionOwning, now: ContinuousClock.Instant, logger: Logger) -> Upkeep {
        let configuration = cache.cacheConfiguration
        let ownership = cache.ownership
        if !reclaimed.contains(configuration.contract) {
            reclaimed.insert(configuration.contract)
            for (index, owned) in ownership.enumerated() where owned.owner?.isSameBytes(as: unit) == true {
                reclaims[PartitionOfCache(cache: configuration.contract, partition: Int32(index))] = owned.term
            }
        }
        var upkeep = Upkeep()
        upkeep.roles = ownership.map { $0.owner?.isSameBytes(as: unit) == true ? .owner : .none }
        for (key, term) in reclaims where key.cache == configuration.contract {
            let partition = key.partition
            guard ownership.indices.contains(Int(partition)), ownership[Int(partition)].term <= term else {
                reclaims[key] = nil
                continue
            }
            guard cache.isDrained(partition) else { continue }
            let claim = OwnershipClaim(cache: configuration.contract, partition: partition, term: term + 1, owner: unit, claimedAt: wallClockMilliseconds(), partitioner: configuration.partitioner.description)
            if make(claim, .reclaim, on: cache, now: now, logger: logger) { upkeep.claims.append((claim, .reclaim)) }
        }
        forgetAnswered(cache)
        return upkeep
    }

    /// Claims the log has answered (adopted or outdone) need no memory.
    private mutating func forgetAnswered(_ cache: any PartitionOwning) {
        let configuration = cache.cacheConfiguration
        let terms = cache.ownership
        outstanding = outstanding.filter { key, _ in key.cache != configuration.contract || terms.indices.contains(Int(key.partition)) && terms[Int(key.partition)].term < key.term }
    }
}

import Logging
import PumphouseContracts
import PumphousePipeline
import PumphouseTestSupport
import Synchronization
import Testing

@testable import PumphouseUnit

/// The steward's decisions against a stand-in for a partitioned cache (the decisions are
/// pure; the claims' effect in the log is tested with real units in
/// `PartitionedCacheSoloTests`).
@Suite("Ownership steward: which claims a unit makes, and when")
struct OwnershipStewardTests {
    final class Cache: PartitionOwning, @unchecked Sendable {
        let cacheConfiguration: CacheConfiguration
        var ownership: [PartitionOwnership]
        var drained = true
        var handingOff: Set<Int32> = []
        var published: [OwnershipClaim] = []

        init(_ configuration: CacheConfiguration) {
            cacheConfiguration = configuration
            ownership = Array(repeating: PartitionOwnership(), count: configuration.partitions)
        }

        func beginHandOff(_ partition: Int32) -> Bool {
            handingOff.insert(partition)
            return true
        }

        func endHandOff(_ partition: Int32) { handingOff.remove(partition) }
        func isDrained(_ partition: Int32) -> Bool { drained }
        func publish(_ claim: OwnershipClaim) throws { published.append(claim) }
        func recordOwnership(_ upkeep: OwnershipSteward.Upkeep) {}
        var cold: Set<Int32> = []
        func isWarm(_ partition: Int32) -> Bool { !cold.contains(partition) }
        func keep(_ wanted: Set<Int32>) -> PartitionsKept { PartitionsKept() }
        func reload(_ partition: Int32, with answer: PartitionReload.Rows) -> Bool { false }
        func partition(ofKey key: String) -> Int32 { 0 }
        func finishRebuild(_ partition: Int32) {}
        var ownedHere: [Int32: Int64] { [:] }
        func hearOwnership(_ owns: [Int32: Int64], of member: String) {}

        /// The log adopts every claim published so far.
        func adopt() {
            for claim in published where claim.term > ownership[Int(claim.partition)].term {
                ownership[Int(claim.partition)] = PartitionOwnership(term: claim.term, owner: claim.owner)
            }
            published = []
        }
    }

    static let logger = Logger(label: "tests.steward")
    let configuration: CacheConfiguration

    init() throws {
        configuration = try offlinePartitionedCache(partitions: 6)
    }

    func assignment(_ members: [String]) -> PartitionAssignment {
        PartitionAssignment(group: OwnershipSteward.group(of: configuration), partitions: 6, backups: 1, members: members)
    }

    @Test("a unit alone claims every unowned partition once it has listened for a member timeout, and not again while the claims are on their way")
    func claimsUnowned() {
        let cache = Cache(configuration)
        let start = ContinuousClock.now
        var steward = OwnershipSteward(unit: "a", memberTimeout: .seconds(2), listeningSince: start)
        let early = steward.tend(cache, live: ["a"], now: start.advanced(by: .seconds(1)), logger: Self.logger)
        #expect(cache.published.isEmpty, "peers may not have been heard yet")
        #expect(early.wanted == nil, "nor does it let any partition go before it has heard them")
        let first = steward.tend(cache, live: ["a"], now: start.advanced(by: .seconds(2)), logger: Self.logger)
        #expect(cache.published.map(\.partition) == Array(0..<6))
        #expect(first.claims.map(\.move) == Array(repeating: .first, count: 6), "nobody owned them: first claims")
        #expect(cache.published.allSatisfy { $0.term == 1 && $0.owner == "a" })
        cache.published = []
        steward.tend(cache, live: ["a"], now: start.advanced(by: .milliseconds(2500)), logger: Self.logger)
        #expect(cache.published.isEmpty, "no second claim within the member timeout")
        steward.tend(cache, live: ["a"], now: start.advanced(by: .seconds(5)), logger: Self.logger)
        #expect(cache.published.count == 6, "made again once the log has not answered for a member timeout")
    }

    @Test("more declared backups than live units: one warning naming the numbers and the fix, fewer backups meanwhile, one notice when whole again")
    func tooFewUnitsForTheBackups() {
        let cache = Cache(configuration)
        let events = Mutex<[(Logger.Level, String)]>([])
        let logger = Logger(label: "tests.steward") { _ in RecordingLogHandler { event in events.withLock { $0.append((event.level, "\(event.message)")) } } }
        let start = ContinuousClock.now
        var steward = OwnershipSteward(unit: "a", memberTimeout: .seconds(2), listeningSince: start)
        #expect(steward.tend(cache, live: ["a"], now: start.advanced(by: .seconds(1)), logger: logger).backups == nil, "not judged before the members are heard")
        #expect(steward.tend(cache, live: ["a"], now: start.advanced(by: .seconds(2)), logger: logger).backups == 0)
        #expect(steward.tend(cache, live: ["a"], now: start.advanced(by: .seconds(3)), logger: logger).backups == 0)
        let warnings = events.withLock { $0.filter { $0.0 == .warning }.map(\.1) }
        #expect(warnings.count == 1, "told once, not at every upkeep: \(warnings)")
        #expect(warnings.first?.contains("bench.Account declares 1 backup(s) per partition, but 1 unit(s) hold it, so each partition has 0: start 1 more unit(s), or lower `backups`") == true, "\(warnings)")
        #expect(steward.tend(cache, live: ["a", "b"], now: start.advanced(by: .seconds(4)), logger: logger).backups == 1)
        #expect(events.withLock { $0.filter { $0.0 == .notice }.map(\.1) }.contains { $0.contains("every partition has its 1 backup(s) again (2 units hold the cache)") })
    }

    @Test("a live owner is never deposed; one not heard of is deposed only after a member timeout of listening")
    func failoverWaitsForTheMembers() {
        let cache = Cache(configuration)
        for partition in 0..<6 { cache.ownership[partition] = PartitionOwnership(term: 3, owner: "z") }
        let start = ContinuousClock.now
        var steward = OwnershipSteward(unit: "a", memberTimeout: .seconds(2), listeningSince: start)
        steward.tend(cache, live: ["a", "z"], now: start.advanced(by: .seconds(5)), logger: Self.logger)
        #expect(cache.published.isEmpty, "z is alive: it hands over what the assignment gives a")
        steward.tend(cache, live: ["a"], now: start.advanced(by: .seconds(1)), logger: Self.logger)
        #expect(cache.published.isEmpty, "z may be alive and not yet heard from")
        // A partition a still reads again from its beginning is claimed once it is warm.
        cache.cold = [5]
        var made = steward.tend(cache, live: ["a"], now: start.advanced(by: .seconds(2)), logger: Self.logger)
        #expect(cache.published.map(\.partition) == Array(0..<5), "not the cold partition")
        #expect(made.wanted == Set(0..<6), "alone, a keeps every partition")
        cache.cold = []
        made.claims += steward.tend(cache, live: ["a"], now: start.advanced(by: .seconds(2)), logger: Self.logger).claims
        #expect(cache.published.count == 6 && cache.published.allSatisfy { $0.term == 4 && $0.owner == "a" })
        #expect(made.claims.allSatisfy { $0.move == .failover }, "z owned them and is gone: failovers")
    }

    @Test("a partition whose owner announced it leaves is claimed as a `leave`, not a failover")
    func claimAfterALeave() {
        let cache = Cache(configuration)
        for partition in 0..<3 { cache.ownership[partition] = PartitionOwnership(term: 3, owner: "z") }
        for partition in 3..<6 { cache.ownership[partition] = PartitionOwnership(term: 3, owner: "y") }
        let start = ContinuousClock.now
        var steward = OwnershipSteward(unit: "a", memberTimeout: .seconds(2), listeningSince: start)
        let made = steward.tend(cache, live: ["a"], departed: [ExactKey("z")], now: start.advanced(by: .seconds(2)), logger: Self.logger)
        #expect(made.claims.map(\.claim.partition) == Array(0..<6))
        #expect(made.claims.map(\.move) == Array(repeating: .leave, count: 3) + Array(repeating: .failover, count: 3), "z said it leaves, y went silent")
    }

    @Test("a unit stopping gracefully hands each partition it owns to the unit the assignment over the others names, once drained; that unit waits for the claim while the leaver lives, and claims as a `leave` once it has left")
    func leaverHandsOver() throws {
        let members = ["a", "b", "c"]
        let leaver = "b"
        let others = assignment(["a", "c"])
        let start = ContinuousClock.now
        let listened = start.advanced(by: .seconds(2))
        // b owns what the assignment over all three gives it.
        let owned = (0..<6).filter { assignment(members).owner(of: Int32($0)) == leaver }
        try #require(!owned.isEmpty, "the assignment gives b something to hand over")
        func owning() -> Cache {
            let cache = Cache(configuration)
            for partition in 0..<6 { cache.ownership[partition] = PartitionOwnership(term: 2, owner: assignment(members).owner(of: Int32(partition))) }
            return cache
        }

        // The leaver: nothing until its lane is drained, then one hand-over per partition.
        let leaving = owning()
        leaving.drained = false
        var steward = OwnershipSteward(unit: leaver, memberTimeout: .seconds(2), listeningSince: start)
        let waiting = steward.tend(leaving, live: members, leaving: [ExactKey(leaver)], now: listened, logger: Self.logger)
        #expect(waiting.claims.isEmpty, "its changes there are not all in the log yet")
        #expect(leaving.handingOff == Set(owned.map { Int32($0) }), "it stops deciding where it hands over")
        leaving.drained = true
        let handed = steward.tend(leaving, live: members, leaving: [ExactKey(leaver)], now: listened, logger: Self.logger)
        #expect(handed.claims.map(\.claim.partition) == owned.map { Int32($0) })
        #expect(handed.claims.allSatisfy { $0.move == .handOver && $0.claim.term == 3 && $0.claim.owner == others.owner(of: $0.claim.partition) })
        #expect(handed.wanted == Set(owned.map { Int32($0) }), "it keeps only what it still owns")

        // Its successor, hearing b leave but alive, claims nothing; with b gone, it claims.
        for successor in ["a", "c"] {
            let theirs = owned.filter { others.owner(of: Int32($0)) == successor }.map { Int32($0) }
            var peer = OwnershipSteward(unit: successor, memberTimeout: .seconds(2), listeningSince: start)
            let cache = owning()
            let alive = peer.tend(cache, live: members, leaving: [ExactKey(leaver)], now: listened, logger: Self.logger)
            #expect(alive.claims.isEmpty, "\(successor) waits for b's own claim")
            #expect(alive.roles.indices.filter { alive.roles[$0] == .owner }.allSatisfy { !theirs.contains(Int32($0)) })
            let gone = peer.tend(cache, live: ["a", "c"], departed: [ExactKey(leaver)], now: listened, logger: Self.logger)
            #expect(gone.claims.map(\.claim.partition) == theirs && gone.claims.allSatisfy { $0.move == .leave }, "\(successor): \(gone.claims.map(\.claim))")
        }
    }

    @Test("a unit that has not yet listened for a member timeout (a joiner) claims at once what a departed owner left it, and nothing of an owner merely silent")
    func leaveClaimedBeforeListening() {
        let cache = Cache(configuration)
        for partition in 0..<3 { cache.ownership[partition] = PartitionOwnership(term: 3, owner: "z") }
        for partition in 3..<6 { cache.ownership[partition] = PartitionOwnership(term: 3, owner: "y") }
        cache.cold = [2]
        let start = ContinuousClock.now
        var steward = OwnershipSteward(unit: "a", memberTimeout: .seconds(2), listeningSince: start)
        let early = steward.tend(cache, live: ["a"], departed: [ExactKey("z")], now: start.advanced(by: .milliseconds(500)), logger: Self.logger)
        #expect(early.claims.map(\.claim.partition) == [0, 1], "z said it leaves: its warm partitions at once; y may be alive and unheard")
        #expect(early.claims.allSatisfy { $0.move == .leave && $0.claim.term == 4 && $0.claim.owner == "a" })
        #expect(early.wanted == nil, "what it keeps is still decided only once it has heard everyone")
        cache.adopt()
        cache.cold = []
        let later = steward.tend(cache, live: ["a"], departed: [ExactKey("z")], now: start.advanced(by: .seconds(1)), logger: Self.logger)
        #expect(later.claims.map(\.claim.partition) == [2], "the cold one once warm, and still none of y's")
        let listened = steward.tend(cache, live: ["a"], departed: [ExactKey("z")], now: start.advanced(by: .seconds(2)), logger: Self.logger)
        #expect(listened.claims.map(\.claim.partition) == [3, 4, 5] && listened.claims.allSatisfy { $0.move == .failover }, "y's after a member timeout of listening")
    }

    @Test("a joiner handed partitions keeps them until it has listened for a member timeout, then hands on what the assignment gives another")
    func joinerHandsOverOnlyOnceListened() {
        let cache = Cache(configuration)
        for partition in 0..<6 { cache.ownership[partition] = PartitionOwnership(term: 2, owner: "a") }
        let start = ContinuousClock.now
        var steward = OwnershipSteward(unit: "a", memberTimeout: .seconds(2), listeningSince: start)
        // Having heard only b so far, a would give b some of them.
        let others = Set(assignment(["a", "b"]).owned(by: "b"))
        #expect(!others.isEmpty)
        let early = steward.tend(cache, live: ["a", "b"], now: start.advanced(by: .seconds(1)), logger: Self.logger)
        #expect(early.claims.isEmpty && cache.handingOff.isEmpty, "its member list may be partial: it keeps deciding where it was handed partitions")
        let listened = steward.tend(cache, live: ["a", "b"], now: start.advanced(by: .seconds(2)), logger: Self.logger)
        #expect(Set(listened.claims.map(\.claim.partition)) == others && listened.claims.allSatisfy { $0.move == .handOver })
    }

    @Test("after a gap in its heartbeats (its lease broken) a unit claims again, behind its own last changes, only what it owned, deposes nobody meanwhile, and is done once a later claim, its own or a peer's, is in its fold")
    func reclaimAfterAPause() {
        let cache = Cache(configuration)
        for partition in 0..<3 { cache.ownership[partition] = PartitionOwnership(term: 2, owner: "a") }
        for partition in 3..<6 { cache.ownership[partition] = PartitionOwnership(term: 5, owner: "z") }
        let start = ContinuousClock.now
        var steward = OwnershipSteward(unit: "a", memberTimeout: .seconds(2), listeningSince: start)
        cache.drained = false
        let waiting = steward.tend(cache, live: ["a"], now: start.advanced(by: .seconds(3)), brokenLease: 1, logger: Self.logger)
        #expect(waiting.claims.isEmpty && cache.published.isEmpty, "its own changes still on their way: no claim yet, and z is not deposed though it looks gone")
        #expect(!steward.reclaimsDone(caches: 1))
        cache.drained = true
        let made = steward.tend(cache, live: ["a"], now: start.advanced(by: .seconds(3)), brokenLease: 1, logger: Self.logger)
        #expect(made.claims.map(\.move) == Array(repeating: .reclaim, count: 3))
        #expect(Set(cache.published.map(\.partition)) == [0, 1, 2] && cache.published.allSatisfy { $0.owner == "a" && $0.term == 3 })
        // A peer's failover claim for partition 0 landed first; a's claims for 1 and 2 land.
        cache.ownership[0] = PartitionOwnership(term: 3, owner: "b")
        cache.ownership[1] = PartitionOwnership(term: 3, owner: "a")
        #expect(!steward.reclaimsDone(caches: 1), "partition 2 is not answered yet")
        cache.published = []
        steward.tend(cache, live: ["a"], now: start.advanced(by: .milliseconds(3500)), brokenLease: 1, logger: Self.logger)
        #expect(cache.published.isEmpty, "not made again while on its way")
        cache.ownership[2] = PartitionOwnership(term: 3, owner: "a")
        steward.tend(cache, live: ["a"], now: start.advanced(by: .seconds(4)), brokenLease: 1, logger: Self.logger)
        #expect(steward.reclaimsDone(caches: 1))
    }

    @Test("an owner hands over what the assignment gives a joiner only once its lane is drained, naming the joiner under the next term, and keeps the rest")
    func handOver() {
        let cache = Cache(configuration)
        let start = ContinuousClock.now
        var steward = OwnershipSteward(unit: "a", memberTimeout: .seconds(2), listeningSince: start)
        steward.tend(cache, live: ["a"], now: start.advanced(by: .seconds(2)), logger: Self.logger)
        cache.adopt()
        let joined = assignment(["a", "b"])
        let moving = Set(joined.owned(by: "b"))
        #expect(!moving.isEmpty && moving.count < 6)
        cache.drained = false
        steward.tend(cache, live: ["a", "b"], now: start.advanced(by: .seconds(3)), logger: Self.logger)
        #expect(cache.published.isEmpty, "changes still on their way: no claim yet")
        #expect(cache.handingOff == moving, "but it stops deciding there at once")
        cache.drained = true
        let handed = steward.tend(cache, live: ["a", "b"], now: start.advanced(by: .seconds(3)), logger: Self.logger)
        #expect(Set(cache.published.map(\.partition)) == moving)
        #expect(handed.claims.count == moving.count && handed.claims.allSatisfy { $0.move == .handOver })
        #expect(cache.published.allSatisfy { $0.owner == "b" && $0.term == 2 })
        #expect(handed.roles == Array(repeating: .owner, count: 6), "a still owned every partition as this upkeep began")
        // Once the log has the claims, a backs up what it handed over (two members,
        // one backup each).
        let published = cache.published
        cache.adopt()
        let after = steward.tend(cache, live: ["a", "b"], now: start.advanced(by: .seconds(4)), logger: Self.logger)
        #expect(after.roles == (0..<6).map { moving.contains(Int32($0)) ? .backup : .owner }, "\(after.roles)")
        #expect(after.wanted == Set(0..<6), "two units, one backup each: a keeps everything")
        let three = steward.tend(cache, live: ["a", "b", "c"], now: start.advanced(by: .seconds(4)), logger: Self.logger)
        #expect(three.wanted == Set(PartitionAssignment(group: OwnershipSteward.group(of: configuration), partitions: 6, backups: 1, members: ["a", "b", "c"]).held(by: "a")).union((0..<6).filter { !moving.contains(Int32($0)) }.map(Int32.init)), "what a owns or is assigned, and what it still owns")
        cache.published = []
        cache.handingOff = []
        cache.published = published
        for claim in published { cache.ownership[Int(claim.partition)] = PartitionOwnership(term: 1, owner: "a") }
        // The joiner leaves before the claims land: the assignment gives them back, and
        // a hand-off whose claim was not queued is called off.
        let stillHandingOff = cache.handingOff
        cache.published = []
        steward.tend(cache, live: ["a"], now: start.advanced(by: .seconds(3)), logger: Self.logger)
        #expect(cache.published.isEmpty)
        #expect(cache.handingOff.isEmpty, "called off (the real cache keeps refusing while its hand-off claim is queued): \(stillHandingOff)")
    }
}

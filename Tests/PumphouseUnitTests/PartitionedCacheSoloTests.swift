import CRDKafka
import Foundation
import Logging
import PumphouseContracts
import PumphouseKafka
import PumphouseLoad
import PumphousePipeline
import PumphousePostgres
import PumphouseTestSupport
import Synchronization
import Testing

@testable import PumphouseUnit

/// Units running a partitioned cache on the local broker: ownership settles from the
/// member lists through claims in the log, each unit decides only its own keys, and
/// partitions move on a join (handed over behind the last change) and on a leave
/// (claimed by the survivor). The database, read in plain SQL, is the oracle.
@Suite("Partitioned caches against the local broker", .localStack, .removingWhatItMakes, .serialized, .timeLimit(.minutes(4)))
struct PartitionedCacheSoloTests {
    static let partitions = 4

    /// Waits until every cache's fold names the owners `members` are assigned, each
    /// under a claim (term above 0), and each owner decides in its partitions (its own
    /// heartbeat is back, nothing is being handed over); returns that assignment.
    /// `caches` are the members' caches, in the order of `members`.
    func awaitOwners(_ caches: [ReplicatedCache<BenchAccount>], members: [String], backups: Int = 1, _ what: String) async throws -> PartitionAssignment {
        let assignment = PartitionAssignment(group: "bench.Account", partitions: Self.partitions, backups: backups, members: members)
        func settled() -> Bool {
            let folded = caches.allSatisfy { cache in
                cache.ownership.enumerated().allSatisfy { partition, owned in
                    owned.term > 0 && owned.owner.map { $0.isSameBytes(as: assignment.owner(of: Int32(partition)) ?? "") } == true
                }
            }
            return folded
                && (0..<Int32(Self.partitions)).allSatisfy { partition in
                    zip(members, caches).contains { member, cache in
                        member.isSameBytes(as: assignment.owner(of: partition) ?? "") && cache.decides(partition: partition)
                    }
                }
        }
        do {
            _ = try await waitFor(what, timeout: .seconds(60)) { () -> Bool? in
                try await Task.sleep(for: .milliseconds(20))
                return settled() ? true : nil
            }
        } catch let timeout as WaitTimeout {
            throw WaitTimeout(description: "\(timeout.description); expected owners \(assignment.placements.map(\.owner)); \(caches.map(Self.ownershipNow).joined(separator: "; "))")
        }
        return assignment
    }

    /// A cache's fold of the claims and the partitions it decides in now, for a failure.
    static func ownershipNow(_ cache: ReplicatedCache<BenchAccount>) -> String {
        let deciding = (0..<Int32(partitions)).filter { cache.decides(partition: $0) }
        return "folded \(cache.ownership.map { "\($0.owner ?? "none")@\($0.term)" }), deciding in \(deciding)"
    }

    /// Changes made while units come and go: what each key should hold, and when to stop.
    final class Load: Sendable {
        let counted = Mutex<[ExactKey: Int64]>([:])
        let stop = Atomic(false)
        /// Why the traffic stopped before it was told to, so that a wait for changes
        /// fails naming it instead of timing out.
        let failure = Mutex<String?>(nil)

        struct TrafficFailed: Error, CustomStringConvertible {
            var description: String
        }

        /// Runs `rounds` until told to stop, keeping the error that ends it early.
        func traffic(_ rounds: @escaping @Sendable () async throws -> Void) -> Task<Void, any Error> {
            Task {
                do {
                    try await rounds()
                } catch {
                    failure.withLock { $0 = "\(error)" }
                    throw error
                }
            }
        }

        /// Waits until `more` changes beyond what is counted now have been made.
        func flow(_ more: Int64, _ what: String) async throws {
            let from = counted.withLock { $0.values.reduce(0, +) }
            _ = try await waitFor("\(more) changes \(what)", timeout: .seconds(30)) { () async throws -> Bool? in
                try await Task.sleep(for: .milliseconds(5))
                if let failure = failure.withLock({ $0 }) {
                    throw TrafficFailed(description: "the traffic stopped \(what): \(failure)")
                }
                return counted.withLock { $0.values.reduce(0, +) } >= from + more ? true : nil
            }
        }
    }

    /// Accounts as `BenchAccount(id:balance:)` makes them, by key.
    func accounts(_ balances: [ExactKey: Int64]) -> [ExactKey: BenchAccount] {
        balances.reduce(into: [:]) { $0[$1.key] = BenchAccount(id: $1.key.text, balance: $1.value) }
    }

    /// Changes `key` through whichever unit owns it, following `notOwner` to the owner
    /// the refusal names (and retrying while ownership moves), as a router would.
    func routed(_ caches: [String: ReplicatedCache<BenchAccount>], first: String, _ change: (ReplicatedCache<BenchAccount>) throws -> Void) async throws {
        var target = first
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while true {
            do {
                return try change(caches[target]!)
            } catch CacheError.notOwner(_, let key, let partition, let owner) {
                guard ContinuousClock.now < deadline else { throw CacheError.notOwner(cache: BenchAccount.contract, key: key, partition: partition, owner: owner) }
                if let owner { target = owner } else { try await Task.sleep(for: .milliseconds(5)) }
            } catch CacheError.closed where target != first {
                // The unit it went to has stopped: back to the first, once ownership moved.
                target = first
                try await Task.sleep(for: .milliseconds(5))
            }
        }
    }

    @Test("two units split the partitions: each decides its keys (create answers at once), refuses the other's naming the owner; when one stops the other claims its partitions and the database ends at every change")
    func ownershipAndFailover() async throws {
        let fixture = try await UnitFixture(partitions: Self.partitions, mode: "partitioned")
        try await fixture.prepare()
        let units = try ["a", "b"].map { try fixture.unit($0) }
        let caches = try units.map { try $0.cache(BenchAccount.self) }
        let byID = Dictionary(uniqueKeysWithValues: zip(units.map(\.id), caches))
        var expected: [ExactKey: Int64] = [:]
        let keys = (0..<40).map { "acct-\($0)" }
        let partitioner = fixture.pipeline.caches[0].partitioner
        try await running(units) {
            let assignment = try await awaitOwners(caches, members: units.map(\.id), "both units to own their share")
            #expect(Set(assignment.placements.map(\.owner)).count == 2, "each unit owns a share")
            for (index, key) in keys.enumerated() {
                let owner = assignment.owner(of: partitioner.partition(ofKey: key))!
                let other = units.map(\.id).first { !$0.isSameBytes(as: owner) }!
                // The owner decides a create at once; the other unit is told who decides.
                #expect(try await byID[owner]!.create(BenchAccount(id: key, balance: Int64(index))))
                #expect(try await !byID[owner]!.create(BenchAccount(id: key, balance: 999)), "a second create of the key loses at once")
                do {
                    try byID[other]!.increment(key, "balance", by: 1)
                    Issue.record("\(other) changed \(key), which \(owner) owns")
                } catch CacheError.notOwner(_, _, _, let named) {
                    #expect(named.map { $0.isSameBytes(as: owner) } == true, "the refusal names the owner")
                }
                try byID[owner]!.increment(key, "balance", by: 2)
                expected[ExactKey(key)] = Int64(index) + 2
            }
            try await awaitState(caches, accounts(expected), "both replicas at every change")
            // While both live, their heartbeats keep each in the other's member list: no
            // partition changes hands over three member timeouts (2 s each here). (A
            // unit starved of CPU for most of a member timeout may claim its own
            // partitions again, which bumps a term but moves nothing.)
            func owners() -> [[String]] { caches.map { $0.ownership.map { $0.owner ?? "-" } } }
            let before = owners()
            let watched = ContinuousClock.now + .seconds(6)
            while ContinuousClock.now < watched, owners() == before {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(owners() == before, "ownership moved between two live units: owners \(before) became \(owners())")
        }
        // a runs alone: b's partitions have no live owner, so a claims them.
        let survivor = try fixture.unit("a")
        let cache = try survivor.cache(BenchAccount.self)
        try await running([survivor]) {
            _ = try await awaitOwners([cache], members: [survivor.id], "the survivor to claim every partition")
            for key in keys {
                try cache.increment(key, "balance", by: 10)
                expected[ExactKey(key)]! += 10
            }
        }
        try await fixture.awaitWritten(expected)
    }

    /// Waits until each unit's cache holds exactly the accounts of `expected` whose keys
    /// fall in the partitions `assignment` gives it as owner or backup.
    func awaitHolding(_ units: [(id: String, cache: ReplicatedCache<BenchAccount>)], _ assignment: PartitionAssignment, _ expected: [ExactKey: Int64], _ what: String) async throws {
        let partitioner = KafkaKeyPartitioner(partitionCount: Int32(Self.partitions), scheme: .murmur2)
        func differences() -> [String] {
            units.compactMap { id, cache in
                let kept = Set(assignment.held(by: id))
                let wanted = accounts(expected.filter { kept.contains(partitioner.partition(ofKey: $0.key.text)) })
                let held = Dictionary(uniqueKeysWithValues: cache.values.map { (ExactKey($0.id), $0) })
                return held == wanted ? nil : "\(id) holds \(held.count) entities, should hold the \(wanted.count) of partitions \(kept.sorted())"
            }
        }
        try await awaitNone(what, timeout: .seconds(60), differences)
    }

    /// Waits until `differences` finds none, naming those it last found if it times out.
    func awaitNone(_ what: String, timeout: Duration, _ differences: () -> [String]) async throws {
        do {
            _ = try await waitFor(what, timeout: timeout) { () -> Bool? in
                try await Task.sleep(for: .milliseconds(20))
                return differences().isEmpty ? true : nil
            }
        } catch let timeout as WaitTimeout {
            throw WaitTimeout(description: "\(timeout.description): \(differences().joined(separator: "; "))")
        }
    }

    /// Waits until each unit reads exactly the partitions `assignment` has it own or back
    /// up, as its consumer's assignment stands.
    func awaitReading(_ units: [(unit: ProcessingUnit, id: String)], _ assignment: PartitionAssignment, _ topic: String, _ what: String) async throws {
        func differences() -> [String] {
            units.compactMap { unit, id in
                let notRead = unit.partitionsNotRead(of: topic)
                let expected = Set(0..<Int32(Self.partitions)).subtracting(assignment.held(by: id))
                return notRead == expected ? nil : "\(id) does not read \(notRead.sorted()), should not read \(expected.sorted())"
            }
        }
        try await awaitNone(what, timeout: .seconds(30), differences)
    }

    /// After a unit left: the `survivors` come to own every partition, an increment of
    /// each of `keys` goes through its owner, and both survivors end at every change,
    /// the partitions they took up again included.
    func survivorsTakeOver(_ survivors: [(id: String, cache: ReplicatedCache<BenchAccount>)], keys: [String], expected: inout [ExactKey: Int64]) async throws {
        let byID = Dictionary(uniqueKeysWithValues: survivors.map { ($0.id, $0.cache) })
        _ = try await awaitOwners(survivors.map(\.cache), members: survivors.map(\.id), "the survivors to own every partition")
        for key in keys {
            try await routed(byID, first: survivors[0].id) { try $0.increment(key, "balance", by: 1) }
            expected[ExactKey(key)]! += 1
        }
        try await awaitState(survivors.map(\.cache), accounts(expected), "both survivors at every change, partitions taken up again included")
    }

    @Test("three units with one backup each keep only the partitions they own or back up, and a read says whether it came from the owner, a backup or a unit without the partition; when one leaves, the others read its partitions again from the log and decide there once warm, and no change is lost")
    func heldShare() async throws {
        let fixture = try await UnitFixture(partitions: Self.partitions, mode: "partitioned")
        try await fixture.prepare()
        let units = try ["a", "b", "c"].map { try fixture.unit($0) }
        let caches = try units.map { try $0.cache(BenchAccount.self) }
        let ids = units.map(\.id)
        let keys = (0..<60).map { "acct-\($0)" }
        var expected: [ExactKey: Int64] = [:]
        try await running(Array(units[0..<2])) {
            try await running([units[2]]) {
                let assignment = try await awaitOwners(caches, members: ids, "the three units to own their share")
                let all = Dictionary(uniqueKeysWithValues: zip(ids, caches))
                for (index, key) in keys.enumerated() {
                    try await routed(all, first: ids[0]) { try $0.put(BenchAccount(id: key, balance: Int64(index))) }
                    expected[ExactKey(key)] = Int64(index)
                }
                try await awaitHolding(Array(zip(ids, caches)), assignment, expected, "each unit to keep only what it owns or backs up")
                #expect(caches.map(\.count).reduce(0, +) == 2 * keys.count, "each entity on its owner and one backup, not on all three: \(caches.map(\.count))")
                // Once each unit keeps only its share, it stops reading the partitions it
                // does not keep; it still names their owners (the reads below).
                for (index, key) in keys.enumerated() {
                    try await routed(all, first: ids[0]) { try $0.put(BenchAccount(id: key, balance: Int64(100 + index))) }
                    expected[ExactKey(key)] = Int64(100 + index)
                }
                try await awaitHolding(Array(zip(ids, caches)), assignment, expected, "each unit to keep its share at the second round of changes")
                // (A unit that owns two partitions and backs up the other two keeps all.)
                let keepsLess = zip(units, ids).filter { _, id in
                    assignment.placements.contains { !$0.owner.isSameBytes(as: id) && !$0.backups.contains { $0.isSameBytes(as: id) } }
                }.map(\.0)
                #expect(!keepsLess.isEmpty, "three units with one backup over \(Self.partitions) partitions: one of them keeps less than all")
                try await awaitReading(Array(zip(units, ids)), assignment, fixture.topic, "each unit keeping less than all to stop reading the partitions it does not keep")
                // Reads say where they stand: the owner's is current, a backup's may be
                // stale, a unit without the partition has nothing and names the owner.
                let partitioner = fixture.pipeline.caches[0].partitioner
                for key in keys {
                    let placement = assignment.placements[Int(partitioner.partition(ofKey: key))]
                    for (id, cache) in zip(ids, caches) {
                        let read = cache.read(key)
                        let role: CacheRead<BenchAccount>.Source = placement.owner.isSameBytes(as: id) ? .owner : placement.backups.contains { $0.isSameBytes(as: id) } ? .backup : .notHeld
                        #expect(read.source == role && read.mayBeStale == (role != .owner), "\(id) reading \(key): \(read.source), expected \(role)")
                        #expect(read.value?.balance == (role == .notHeld ? nil : expected[ExactKey(key)]), "\(id) reading \(key)")
                        #expect(read.owner.map { $0.isSameBytes(as: placement.owner) } == true, "\(id) names \(key)'s owner")
                        if role != .backup { #expect(read.behind == nil, "\(id) reading \(key) as \(role) reports no lag") }
                    }
                }
                // A backup's answer says how far behind the log it is: nothing, once it
                // has applied every change (KIP-535's offset lag).
                _ = try await waitFor("every backup read to report it is not behind", timeout: .seconds(30)) { () -> Bool? in
                    try await Task.sleep(for: .milliseconds(20))
                    let lags = keys.flatMap { key in
                        zip(ids, caches).compactMap { _, cache in cache.read(key).source == .backup ? cache.read(key).behind : nil }
                    }
                    return lags.count == keys.count && lags.allSatisfy { $0 == 0 } ? true : nil
                }
            }
            // c has left: a and b own and back up everything between them.
            try await survivorsTakeOver(Array(zip(ids, caches).prefix(2)), keys: keys, expected: &expected)
        }
        try await fixture.awaitWritten(expected)
    }

    @Test("with no backups, three units each read only the partitions they own; when one leaves, the survivors take its partitions up from the log, and each names the owner of partitions it does not read as the owners' heartbeats say it, with every change kept")
    func ownersOnly() async throws {
        let fixture = try await UnitFixture(partitions: Self.partitions, mode: "partitioned", backups: 0)
        try await fixture.prepare()
        let units = try ["a", "b", "c"].map { try fixture.unit($0) }
        let caches = try units.map { try $0.cache(BenchAccount.self) }
        let ids = units.map(\.id)
        let keys = (0..<40).map { "acct-\($0)" }
        var expected: [ExactKey: Int64] = [:]
        try await running(Array(units[0..<2])) {
            try await running([units[2]]) {
                let assignment = try await awaitOwners(caches, members: ids, backups: 0, "the three units to own their share")
                let all = Dictionary(uniqueKeysWithValues: zip(ids, caches))
                for (index, key) in keys.enumerated() {
                    try await routed(all, first: ids[0]) { try $0.put(BenchAccount(id: key, balance: Int64(index))) }
                    expected[ExactKey(key)] = Int64(index)
                }
                try await awaitHolding(Array(zip(ids, caches)), assignment, expected, "each unit to keep only what it owns")
                try await awaitReading(Array(zip(units, ids)), assignment, fixture.topic, "each unit to read only the partitions it owns")
            }
            // c has left. Each survivor folds the claims of the partitions it takes up;
            // of those its peer takes up, it reads nothing, and knows the new owner from
            // the peer's heartbeats alone (awaitOwners checks every partition's owner
            // as each survivor knows it).
            let survivors = Array(zip(ids, caches).prefix(2))
            let assignment = try await awaitOwners(survivors.map(\.1), members: Array(ids.prefix(2)), backups: 0, "the survivors to own every partition")
            #expect(assignment.placements.allSatisfy { !$0.owner.isSameBytes(as: ids[2]) })
            try await awaitReading(Array(zip(units, ids).prefix(2)), assignment, fixture.topic, "each survivor to read only the partitions it owns")
            for route in try #require(units[0].routingTable(of: BenchAccount.contract)).partitions {
                #expect(route.owner.map { $0.isSameBytes(as: assignment.owner(of: route.partition) ?? "") } == true, "a's route of partition \(route.partition): \(route)")
                #expect(route.address != nil, "a knows where partition \(route.partition)'s owner serves")
            }
            let byID = Dictionary(uniqueKeysWithValues: survivors)
            for key in keys {
                try await routed(byID, first: ids[0]) { try $0.increment(key, "balance", by: 1) }
                expected[ExactKey(key)]! += 1
            }
            try await awaitHolding(survivors, assignment, expected, "each survivor to hold its partitions at every change, those taken up from the log included")
        }
        try await fixture.awaitWritten(expected)
    }

    /// A stand-in for a unit of an earlier version: its heartbeats, every 200 ms (the
    /// fixture's member timeout is 2 s), name no partitions it owns.
    final class EarlierUnit: Sendable {
        let id = "earlier-unit"
        private let control: KafkaProducer
        private let memberTopic: String
        private let since = Int64(Date().timeIntervalSince1970 * 1_000)
        /// Loaded, it takes part in the assignment; not, it only counts as a member.
        private let loaded: Bool
        private let heartbeats = Mutex<Task<Void, any Error>?>(nil)

        init(_ fixture: UnitFixture, loaded: Bool) throws {
            control = try KafkaProducer(configuration: KafkaProducerConfiguration(connection: fixture.pipeline.kafka), logger: UnitFixture.logger)
            memberTopic = fixture.pipeline.memberTopic
            self.loaded = loaded
        }

        private func announce(_ event: MemberAnnouncement.Event) throws {
            let announcement = MemberAnnouncement(event: event, cache: BenchAccount.contract.rawValue, member: id, address: "127.0.0.1:1", since: since, loaded: loaded)
            try control.send(KafkaProducerMessage(topic: memberTopic, key: Array(BenchAccount.contract.rawValue.utf8), value: announcement.encoded()))
        }

        func join() throws {
            try announce(.join)
            let task = Task { [self] in
                while !Task.isCancelled {
                    try announce(.heartbeat)
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
            heartbeats.withLock { $0 = task }
        }

        func leave() async throws {
            let task = heartbeats.withLock { $0.take() }
            task?.cancel()
            _ = await task?.result
            try announce(.leave)
        }

        func shutdown() async throws {
            heartbeats.withLock { $0.take() }?.cancel()
            try await control.shutdown()
        }
    }

    /// Once the earlier unit has left: each unit reads only what `assignment` gives it,
    /// and holds its share at an increment of every key made through the owners.
    func afterEarlierLeft(
        _ units: [ProcessingUnit], _ caches: [ReplicatedCache<BenchAccount>], _ assignment: PartitionAssignment, topic: String,
        keys: [String], expected: inout [ExactKey: Int64]
    ) async throws {
        let ids = units.map(\.id)
        try await awaitReading(Array(zip(units, ids)), assignment, topic, "each unit to read only the partitions it owns once the earlier unit left")
        let all = Dictionary(uniqueKeysWithValues: zip(ids, caches))
        for key in keys {
            try await routed(all, first: ids[0]) { try $0.increment(key, "balance", by: 1) }
            expected[ExactKey(key)]! += 1
        }
        try await awaitHolding(Array(zip(ids, caches)), assignment, expected, "each unit at every change after the earlier unit left")
    }

    @Test("while a unit of an earlier version (its heartbeats name no partitions it owns) holds the cache, units keep only their share but go on reading every partition; once it leaves, each reads only its own, and every change is kept")
    func earlierVersionPeer() async throws {
        let fixture = try await UnitFixture(partitions: Self.partitions, mode: "partitioned", backups: 0)
        try await fixture.prepare()
        let units = try ["a", "b"].map { try fixture.unit($0) }
        let caches = try units.map { try $0.cache(BenchAccount.self) }
        let ids = units.map(\.id)
        let all = Dictionary(uniqueKeysWithValues: zip(ids, caches))
        // Not loaded, so it takes no part in the assignment.
        let earlier = try EarlierUnit(fixture, loaded: false)
        try earlier.join()
        var expected: [ExactKey: Int64] = [:]
        let keys = (0..<40).map { "acct-\($0)" }
        try await running(units) {
            let assignment = try await awaitOwners(caches, members: ids, backups: 0, "the two units to own their share")
            for (index, key) in keys.enumerated() {
                try await routed(all, first: ids[0]) { try $0.put(BenchAccount(id: key, balance: Int64(index))) }
                expected[ExactKey(key)] = Int64(index)
            }
            try await awaitHolding(Array(zip(ids, caches)), assignment, expected, "each unit to keep only what it owns")
            // Changes after the share settled reach each unit only through polls, and a
            // unit stops reading the partitions it let go between two polls: had it
            // stopped, it would show here.
            for key in keys {
                try await routed(all, first: ids[0]) { try $0.increment(key, "balance", by: 1) }
                expected[ExactKey(key)]! += 1
            }
            try await awaitHolding(Array(zip(ids, caches)), assignment, expected, "each unit at every change of its share")
            for (unit, id) in zip(units, ids) {
                #expect(unit.partitionsNotRead(of: fixture.topic).isEmpty, "\(id) reads every partition while the earlier unit holds the cache")
            }
            try await earlier.leave()
            try await afterEarlierLeft(units, caches, assignment, topic: fixture.topic, keys: keys, expected: &expected)
        }
        try await earlier.shutdown()
        try await fixture.awaitWritten(expected)
    }

    @Test("a unit of an earlier version that joins once units have let partitions go: they read those again from where they stopped, so the claims made there reach their routing tables; once it leaves, each reads only its own again, and every change is kept")
    func earlierVersionJoinsLater() async throws {
        let fixture = try await UnitFixture(partitions: Self.partitions, mode: "partitioned", backups: 0)
        try await fixture.prepare()
        let units = try ["a", "b"].map { try fixture.unit($0) }
        let caches = try units.map { try $0.cache(BenchAccount.self) }
        let ids = units.map(\.id)
        // Loaded (so the assignment gives it partitions, which their owners hand over to
        // it) but naming none it owns: the hand-off claims are in the log alone.
        let earlier = try EarlierUnit(fixture, loaded: true)
        var expected: [ExactKey: Int64] = [:]
        let keys = (0..<40).map { "acct-\($0)" }
        // a alone first, holding every change; then b, to which a hands half the
        // partitions over and lets them go, having read every record there.
        try await running([units[0]]) {
            _ = try await awaitOwners([caches[0]], members: [ids[0]], backups: 0, "a to own every partition")
            for (index, key) in keys.enumerated() {
                try caches[0].put(BenchAccount(id: key, balance: Int64(index)))
                expected[ExactKey(key)] = Int64(index)
            }
            try await awaitState([caches[0]], accounts(expected), "a at every change")
            try await running([units[1]]) {
                let assignment = try await awaitOwners(caches, members: ids, backups: 0, "the two units to own their share")
                try await awaitHolding(Array(zip(ids, caches)), assignment, expected, "each unit to keep only what it owns")
                try await awaitReading(Array(zip(units, ids)), assignment, fixture.topic, "each unit to read only the partitions it owns before the earlier unit comes")
                let passedBefore = units.map(\.recordsPassedOver)

                try earlier.join()
                let withEarlier = PartitionAssignment(group: "bench.Account", partitions: Self.partitions, backups: 0, members: ids + [earlier.id])
                let handedOver = (0..<Int32(Self.partitions)).filter { withEarlier.owner(of: $0)?.isSameBytes(as: earlier.id) == true }
                #expect(!handedOver.isEmpty, "the assignment with the earlier unit gives it some partition")
                // Each partition handed to the earlier unit was owned by one of the two,
                // so the other learns of its hand-off claim only by reading the partition
                // again.
                try await awaitNone("every unit's routing table to name the earlier unit as the owner of \(handedOver)", timeout: .seconds(30)) {
                    zip(ids, units).flatMap { id, unit -> [String] in
                        let routes = unit.routingTable(of: BenchAccount.contract)?.partitions ?? []
                        return handedOver.compactMap { partition in
                            let owner = routes.first { $0.partition == partition }?.owner
                            return owner?.isSameBytes(as: earlier.id) == true ? nil : "\(id) routes partition \(partition) to \(owner ?? "nobody")"
                        }
                    }
                }
                for (unit, id) in zip(units, ids) {
                    #expect(unit.partitionsNotRead(of: fixture.topic).isEmpty, "\(id) reads every partition while the earlier unit holds the cache")
                }
                // Read again from where they stopped, not from their beginning: every
                // record there came before the stop, and none is passed over again.
                #expect(units.map(\.recordsPassedOver) == passedBefore, "records passed over again: before \(passedBefore), now \(units.map(\.recordsPassedOver))")

                try await earlier.leave()
                let back = try await awaitOwners(caches, members: ids, backups: 0, "the two units to own every partition again once the earlier unit left")
                try await afterEarlierLeft(units, caches, back, topic: fixture.topic, keys: keys, expected: &expected)
            }
        }
        try await earlier.shutdown()
        try await fixture.awaitWritten(expected)
    }

    @Test("a cache loaded from the database keeps only its share too: three units with one backup, over rows only PostgreSQL has, hold only what they own or back up; when one leaves, the others take its partitions up again with their rows from the answer they loaded and the topic after it, and no row or change is lost")
    func heldShareLoadedFromDatabase() async throws {
        let fixture = try await UnitFixture(partitions: Self.partitions, load: "reverse_pump", mode: "partitioned")
        try await fixture.prepare()
        // Rows the pipeline never carried: a unit can only have them from the database.
        let keys = (0..<80).map { "acct-\($0)" }
        let db = try await PostgresConnection.connect(configuration: fixture.pipeline.postgres, logger: UnitFixture.logger)
        try await db.execute(script: """
            INSERT INTO \(fixture.table) (id, owner, balance_cents, currency, status, updated_at)
            SELECT 'acct-' || g, 'owner-acct-' || g, g * 10, 'EUR', 'open', to_timestamp(1763700000) FROM generate_series(0, \(keys.count - 1)) g
            """)
        await db.close()
        var expected = Dictionary(uniqueKeysWithValues: keys.enumerated().map { (ExactKey($1), Int64($0 * 10)) })
        try await withReader(fixture) { reader in
            let units = try ["a", "b", "c"].map { try fixture.unit($0) }
            let caches = try units.map { try $0.cache(BenchAccount.self) }
            let ids = units.map(\.id)
            let all = Dictionary(uniqueKeysWithValues: zip(ids, caches))
            try await running(Array(units[0..<2])) {
                try await running([units[2]]) {
                    let assignment = try await awaitOwners(caches, members: ids, "the three units to own their share")
                    try await awaitHolding(Array(zip(ids, caches)), assignment, expected, "each unit to keep only its share of the rows loaded")
                    #expect(caches.map(\.count).reduce(0, +) == 2 * keys.count, "each row on its owner and one backup: \(caches.map(\.count))")
                    for key in keys {
                        try await routed(all, first: ids[0]) { try $0.increment(key, "balance", by: 1) }
                        expected[ExactKey(key)]! += 1
                    }
                    try await awaitHolding(Array(zip(ids, caches)), assignment, expected, "each unit to keep its share at the changes after the load")
                }
                // c has left: a and b own and back up everything between them, so each
                // takes up again what it had let go.
                try await survivorsTakeOver(Array(zip(ids, caches).prefix(2)), keys: keys, expected: &expected)
            }
            // One answer: the partitions taken up again were read from it, not asked for.
            #expect(reader.statistics.served == 1, "answers served: \(reader.statistics.served)")
        }
        try await fixture.awaitWritten(expected)
    }

    /// How `unit`'s run ends, within `timeout`: the error it stops with, nil if it ran
    /// on (then it is shut down).
    func stopsOnItsOwn(_ unit: ProcessingUnit, within timeout: Duration) async throws -> (any Error)? {
        let ended = Mutex<(any Error)??>(nil)
        let run = Task {
            do {
                try await unit.run()
                ended.withLock { $0 = .some(nil) }
            } catch {
                ended.withLock { $0 = .some(error) }
            }
        }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let outcome = ended.withLock({ $0 }) { return outcome }
            try await Task.sleep(for: .milliseconds(20))
        }
        run.cancel()
        _ = await run.result
        return nil
    }

    /// The fixture's pipeline with the cache declared `mode`, as an operator would edit it.
    func redeclared(_ fixture: UnitFixture, as mode: String, partitionKeyAfter: String? = nil) throws -> PipelineConfiguration {
        let path = "\(fixture.directory)/pipeline.yaml"
        var text = try String(contentsOfFile: path, encoding: .utf8)
        text = text.replacingOccurrences(of: "mode: replicated", with: "mode: \(mode)").replacingOccurrences(of: "mode: partitioned\n    backups: 1", with: "mode: \(mode)")
        let key = partitionKeyAfter.map { "\n    partition_key_after: \"\($0)\"" } ?? ""
        if mode == "partitioned" { text = text.replacingOccurrences(of: "mode: partitioned", with: "mode: partitioned\n    backups: 1\(key)") }
        let redeclared = "\(fixture.directory)/redeclared.yaml"
        try text.write(toFile: redeclared, atomically: true, encoding: .utf8)
        return try PipelineConfiguration.load(path: redeclared, environment: [:])
    }

    @Test("with a partition key, a key is decided by the owner of its partition key's partition: an account's bids (bid@account) go where the account goes, refusals name that owner, the routing table places them as librdkafka's murmur2 places the part after the separator, and the database ends at every change")
    func partitionKeyPlacement() async throws {
        let fixture = try await UnitFixture(partitions: Self.partitions, mode: "partitioned", partitionKeyAfter: "@")
        try await fixture.prepare()
        let units = try ["a", "b"].map { try fixture.unit($0) }
        let caches = try units.map { try $0.cache(BenchAccount.self) }
        let byID = Dictionary(uniqueKeysWithValues: zip(units.map(\.id), caches))
        var expected: [ExactKey: Int64] = [:]
        try await running(units) {
            _ = try await awaitOwners(caches, members: units.map(\.id), "both units to own their share")
            let table = try #require(units[0].routingTable(of: BenchAccount.contract))
            #expect(table.partitionKeyAfter == "@")
            for index in 0..<40 {
                let account = "acct-\(index % 8)"
                let key = index < 8 ? account : "bid-\(index)@\(account)"
                let suffix = Array(account.utf8)
                let oracle = suffix.withUnsafeBytes { rd_kafka_msg_partitioner_murmur2(nil, $0.baseAddress, $0.count, Int32(Self.partitions), nil, nil) }
                let route = try #require(table.route(ofKey: key))
                #expect(route.partition == oracle, "\(key) is placed by \(account)")
                // The unit that does not own the account's partition refuses the bid, naming the owner.
                let owner = try #require(route.owner)
                let other = try #require(units.first { !$0.id.isSameBytes(as: owner) })
                #expect {
                    try byID[other.id]!.put(BenchAccount(id: key, balance: Int64(index)))
                } throws: { error in
                    guard case CacheError.notOwner(_, _, let partition, let named) = error else { return false }
                    return partition == oracle && named.map { $0.isSameBytes(as: owner) } == true
                }
                try byID[owner]!.put(BenchAccount(id: key, balance: Int64(index)))
                expected[ExactKey(key)] = Int64(index)
            }
        }
        try await fixture.awaitWritten(expected)
    }

    @Test("a live topic's mode cannot change under its records: a topic written by a replicated cache and then declared partitioned (its keys placed by another partitioner), written partitioned and then declared replicated (claims in it), or written partitioned and then given a partition key (claims made under the whole key), is refused at start, naming the cache, what was found and how to migrate")
    func layoutChangeRefused() async throws {
        for (written, declared, partitionKey, found) in [
            ("replicated", "partitioned", nil, "precedes every ownership claim"), ("partitioned", "replicated", nil, "holds an ownership claim"),
            ("partitioned", "partitioned", "@", "placed by murmur2, not murmur2 over the key after its last \"@\""),
        ] {
            let fixture = try await UnitFixture(partitions: Self.partitions, mode: written)
            try await fixture.prepare()
            let writer = try fixture.unit("a")
            let cache = try writer.cache(BenchAccount.self)
            try await running([writer]) {
                if written == "partitioned" { _ = try await awaitOwners([cache], members: [writer.id], "the unit to claim every partition") }
                for index in 0..<40 { try cache.put(BenchAccount(id: "acct-\(index)", balance: Int64(index))) }
                try await writer.syncSpool()
                _ = try await waitFor("the unit's changes acknowledged by the broker", timeout: .seconds(30)) { () async throws -> Bool? in
                    try await Task.sleep(for: .milliseconds(20))
                    return writer.unacknowledgedChanges == 0 ? true : nil
                }
            }
            let unit = try fixture.unit("b", pipeline: try redeclared(fixture, as: declared, partitionKeyAfter: partitionKey))
            _ = try unit.cache(BenchAccount.self)
            let stopped = try await stopsOnItsOwn(unit, within: .seconds(60))
            let error = try #require(stopped as? CacheLoadError, "a unit declaring the \(written) topic \(declared) stops on loading it: \(String(describing: stopped))")
            #expect(error.cache == BenchAccount.contract && error.isPermanent)
            #expect(error.message.contains("declares it \(declared)") && error.message.contains(found) && error.message.contains("migrate"), "\(error)")
        }
    }

    @Test("a unit leaves gracefully while changes keep coming: it hands each partition it owns to the survivor behind its last change there before it stops, the survivor claims none itself, and no change is lost or doubled")
    func leaveUnderLoad() async throws {
        // Before the units, so their counters are the test backend's.
        TestMetricsBackend.bootstrap()
        let fixture = try await UnitFixture(partitions: Self.partitions, mode: "partitioned")
        try await fixture.prepare()
        let survivor = try fixture.unit("a")
        let leaver = try fixture.unit("b")
        let caches = try [survivor, leaver].map { try $0.cache(BenchAccount.self) }
        let byID = [survivor.id: caches[0], leaver.id: caches[1]]
        let keys = (0..<24).map { "acct-\($0)" }
        let load = Load()
        try await running([survivor]) {
            let traffic = try await running([leaver]) { () async throws -> Task<Void, any Error> in
                _ = try await awaitOwners(caches, members: [survivor.id, leaver.id], "both units to own their share")
                for key in keys {
                    try await routed(byID, first: survivor.id) { try $0.put(BenchAccount(id: key, balance: 0)) }
                    load.counted.withLock { $0[ExactKey(key)] = 0 }
                }
                // Changes go on, through whichever unit owns each key, while b stops.
                let traffic = load.traffic {
                    while !load.stop.load(ordering: .relaxed) {
                        for key in keys {
                            try await routed(byID, first: survivor.id) { try $0.increment(key, "balance", by: 1) }
                            load.counted.withLock { $0[ExactKey(key)]! += 1 }
                        }
                    }
                }
                try await load.flow(200, "before the leaver stops")
                return traffic
            }
            _ = try await awaitOwners([caches[0]], members: [survivor.id], "the survivor to own the leaver's partitions")
            try await load.flow(200, "after the survivor owns every partition")
            load.stop.store(true, ordering: .relaxed)
            try await traffic.value
            try await awaitState([caches[0]], accounts(load.counted.withLock { $0 }), "the survivor at every change")
        }
        try await fixture.awaitWritten(load.counted.withLock { $0 })
        #expect(claims(leaver, .handOver) >= 1, "the leaver handed its partitions over itself")
        #expect(claims(survivor, .leave) == 0 && claims(survivor, .failover) == 0, "the survivor claimed nothing on hearing it leave")
    }

    /// The ownership claims `unit` made in every partition of `cache` by `move`, as the
    /// test metrics backend counted them.
    func claims(_ unit: ProcessingUnit, _ move: OwnershipSteward.Move, cache: ContractName = BenchAccount.contract) -> Int64 {
        (0..<Self.partitions).map { partition in
            TestMetricsBackend.counter(
                "pumphouse_unit_ownership_claims_total",
                [("unit", unit.id), ("cache", cache.rawValue), ("partition", String(partition)), ("move", move.rawValue)]
            )
        }.reduce(0, +)
    }

    @Test("a unit holding two partitioned caches stops gracefully while its peer holds only one: it hands the shared cache's partitions over, does not wait for those of the cache no peer holds, and stops once the hand-over is done; no change is lost or doubled")
    func leaveWithAStrandedCache() async throws {
        TestMetricsBackend.bootstrap()
        let fixture = try await UnitFixture(partitions: Self.partitions, mode: "partitioned", alsoPartitioned: [TestBid.contract])
        try await fixture.prepare()
        let said = Mutex<[String]>([])
        let leaverLogs = Logger(label: "tests.leaver") { _ in RecordingLogHandler { event in said.withLock { $0.append("\(event.message)") } } }
        let survivor = try fixture.unit("a")
        let leaver = try fixture.unit("b", logger: leaverLogs)
        let accountCaches = try [survivor, leaver].map { try $0.cache(BenchAccount.self) }
        // The survivor does not hold the bids: nobody could take their partitions over.
        let bids = try leaver.cache(TestBid.self)
        let byID = [survivor.id: accountCaches[0], leaver.id: accountCaches[1]]
        let keys = (0..<12).map { "acct-\($0)" }
        var expected: [ExactKey: Int64] = [:]
        try await running([survivor]) {
            try await running([leaver]) {
                _ = try await awaitOwners(accountCaches, members: [survivor.id, leaver.id], "both units to own their share of the accounts")
                _ = try await waitFor("the leaver to decide every partition of the bids", timeout: .seconds(60)) { () async throws -> Bool? in
                    try await Task.sleep(for: .milliseconds(20))
                    return (0..<Int32(Self.partitions)).allSatisfy { bids.decides(partition: $0) } ? true : nil
                }
                for key in keys {
                    try await routed(byID, first: survivor.id) { try $0.put(BenchAccount(id: key, balance: 1)) }
                    expected[ExactKey(key)] = 1
                }
                for number in 1...8 { try bids.put(TestBid(number: Int64(number))) }
            }
            _ = try await awaitOwners([accountCaches[0]], members: [survivor.id], "the survivor to own every partition of the accounts")
            for key in keys {
                try accountCaches[0].increment(key, "balance", by: 1)
                expected[ExactKey(key)]! += 1
            }
            try await awaitState([accountCaches[0]], accounts(expected), "the survivor at every change")
        }
        try await fixture.awaitWritten(expected)
        let log = said.withLock { $0 }
        #expect(claims(leaver, .handOver) >= 1, "the leaver handed its share of the accounts over itself: \(log)")
        #expect(claims(survivor, .leave) == 0 && claims(survivor, .failover) == 0, "the survivor claimed no account partition on hearing it leave")
        #expect(log.contains { $0.contains("stops with \(Self.partitions) partition(s) of caches no peer holds") }, "it stopped for the stranded bids once the accounts were handed over: \(log)")
        #expect(!log.contains { $0.contains("could not hand over") }, "it did not wait out the member timeout: \(log)")
    }

    @Test("a unit joins a unit that owns everything while changes keep coming: its share is handed over behind the owner's last change, and no change is lost or doubled")
    func handOverUnderLoad() async throws {
        let fixture = try await UnitFixture(partitions: Self.partitions, mode: "partitioned")
        try await fixture.prepare()
        let first = try fixture.unit("a")
        let joiner = try fixture.unit("b")
        let caches = try [first, joiner].map { try $0.cache(BenchAccount.self) }
        let byID = [first.id: caches[0], joiner.id: caches[1]]
        let keys = (0..<24).map { "acct-\($0)" }
        var expected: [ExactKey: Int64] = [:]
        try await running([first]) {
            _ = try await awaitOwners([caches[0]], members: [first.id], "the first unit to own every partition")
            for key in keys {
                try caches[0].put(BenchAccount(id: key, balance: 0))
                expected[ExactKey(key)] = 0
            }
            try await running([joiner]) {
                // Changes go on, through whichever unit the refusals name, while the
                // partitions move.
                var round = 0
                while true {
                    round += 1
                    for key in keys {
                        try await routed(byID, first: first.id) { try $0.increment(key, "balance", by: 1) }
                        expected[ExactKey(key)]! += 1
                    }
                    let settled = caches.allSatisfy { cache in
                        Set(cache.ownership.compactMap { owned in owned.owner.map { ExactKey($0) } }).count == 2
                    }
                    if settled && round >= 3 { break }
                    try await Task.sleep(for: .milliseconds(20))
                }
                _ = try await awaitOwners(caches, members: [first.id, joiner.id], "both units to own their share")
                for key in keys {
                    try await routed(byID, first: joiner.id) { try $0.increment(key, "balance", by: 1) }
                    expected[ExactKey(key)]! += 1
                }
                try await awaitState(caches, accounts(expected), "both replicas at every change")
            }
        }
        try await fixture.awaitWritten(expected)
    }

    /// Scenario 8 of `make soak` in its long form. Each joiner reads the whole topic,
    /// longer every cycle, while its peer's heartbeats wait behind that backlog: the
    /// short form's third joiner once counted its live peer gone and claimed every
    /// partition, fencing the peer's changes, until members were timed in log time
    /// (`MemberClock`). The long form paces the traffic (5 ms after each round of keys),
    /// or its tenth joiner would spend the suite's time limit loading.
    @Test("units join and leave again and again while changes keep coming: every hand-over and every claim after a leave lands behind the last change, a joiner working through the backlog counts no live unit gone, and no change is lost or doubled")
    func rebalanceCycles() async throws {
        let form = ScenarioForm.current
        let cycles = form.pick(short: 3, soak: 10)
        let pace = form.pick(short: Duration?.none, soak: .milliseconds(5))
        let fixture = try await UnitFixture(partitions: Self.partitions, mode: "partitioned")
        try await fixture.prepare()
        // What the units logged last goes with a failure: it is rare, and only on a
        // loaded machine.
        let recorder = FlightRecorder()
        let stayer = try fixture.unit("a", logger: recorder.logger("pumphouse.tests.unit", unit: "a"))
        let stayerCache = try stayer.cache(BenchAccount.self)
        // The joiner is a new ProcessingUnit with the same id each cycle; the traffic
        // reaches whichever instance is current (a stopped one answers `closed`).
        final class Instances: Sendable {
            let byID: Mutex<[String: ReplicatedCache<BenchAccount>]>
            init(_ byID: [String: ReplicatedCache<BenchAccount>]) { self.byID = Mutex(byID) }
        }
        let instances = Instances([stayer.id: stayerCache])
        let keys = (0..<48).map { "acct-\($0)" }
        let load = Load()
        /// Each instance's fold of the claims and where it decides, for the recorder.
        @Sendable func instancesNow() -> String {
            instances.byID.withLock { $0 }.sorted { ExactKey($0.key) < ExactKey($1.key) }.map { id, cache in
                "\(id): \(Self.ownershipNow(cache))"
            }.joined(separator: "; ")
        }
        do {
            try await running([stayer]) {
                _ = try await awaitOwners([stayerCache], members: [stayer.id], "the first unit to own every partition")
                for key in keys {
                    try stayerCache.put(BenchAccount(id: key, balance: 0))
                    load.counted.withLock { $0[ExactKey(key)] = 0 }
                }
                let traffic = load.traffic {
                    while !load.stop.load(ordering: .relaxed) {
                        for key in keys {
                            do {
                                try await routed(instances.byID.withLock { $0 }, first: stayer.id) { try $0.increment(key, "balance", by: 1) }
                            } catch {
                                recorder.record("traffic stopped on \(key): \(error); \(instancesNow())")
                                throw error
                            }
                            load.counted.withLock { $0[ExactKey(key)]! += 1 }
                        }
                        // Unpaced, the loop still yields after each round: it never suspends
                        // otherwise, and would starve the units' own tasks of the two threads
                        // a 2-core machine's cooperative pool has.
                        if let pace { try await Task.sleep(for: pace) } else { await Task.yield() }
                    }
                }
                for cycle in 1...cycles {
                    recorder.record("cycle \(cycle): the joiner starts")
                    let joiner = try fixture.unit("b", logger: recorder.logger("pumphouse.tests.unit", unit: "b\(cycle)"))
                    let joinerCache = try joiner.cache(BenchAccount.self)
                    instances.byID.withLock { $0[joiner.id] = joinerCache }
                    try await running([joiner]) {
                        _ = try await awaitOwners([stayerCache, joinerCache], members: [stayer.id, joiner.id], "cycle \(cycle): both units to own their share")
                        try await load.flow(500, "in cycle \(cycle) with both units")
                        recorder.record("cycle \(cycle): the joiner stops")
                    }
                    recorder.record("cycle \(cycle): the joiner stopped")
                    _ = try await awaitOwners([stayerCache], members: [stayer.id], "cycle \(cycle): the stayer to claim the leaver's partitions")
                    try await load.flow(500, "in cycle \(cycle) after the leave")
                }
                load.stop.store(true, ordering: .relaxed)
                try await traffic.value
                try await awaitState([stayerCache], accounts(load.counted.withLock { $0 }), "the stayer at every change")
            }
        } catch {
            throw Diagnosed(failure: error, log: recorder.dump)
        }
        let expected = load.counted.withLock { $0 }
        let written = ContinuousClock.now
        try await fixture.awaitWritten(expected, timeout: .seconds(120))
        try ScenarioReport.record(ScenarioOutcome(
            scenario: "8 units join and leave under load (partitioned cache)", runs: cycles,
            contracts: Int(expected.values.reduce(0, +)) + keys.count, lost: 0, duplicated: 0, converge: ContinuousClock.now - written
        ))
    }
}

import PumphouseContracts
import PumphousePipeline
import PumphouseTestSupport
@testable import PumphouseUnit
import Testing

@Suite("Replica state of a partitioned cache: ownership claims fence deposed owners")
struct PartitionedReplicaTests {
    let cache: CacheConfiguration

    init() throws {
        cache = try offlinePartitionedCache(partitions: 4)
    }

    /// A key that lies in `partition` under the cache's murmur2 partitioner.
    func key(in partition: Int32, _ n: Int = 0) -> String {
        (0...).lazy.map { "k\($0)" }.filter { cache.partitioner.partition(ofKey: $0) == partition }.dropFirst(n).first { _ in true }!
    }

    func claim(_ partition: Int32, term: Int64, owner: String) -> OwnershipClaim {
        OwnershipClaim(cache: cache.contract, partition: partition, term: term, owner: owner, claimedAt: 0)
    }

    func change(_ action: ContractAction, key: String, origin: String, sequence: Int64, term: Int64?, fields: JSONObject = [:], deltas: JSONObject = [:]) -> Contract {
        Contract(
            name: cache.contract, version: 2, action: action, key: key, origin: origin, sequence: sequence, baseVersion: 0, eventTime: 0,
            ownershipTerm: term, fields: fields, deltas: deltas
        )
    }

    @Test("a deposed owner's changes after the next claim take no effect on any replica, its own included, and do not move the entity's version")
    func deposedOwnerFenced() throws {
        let key = key(in: 1)
        var owner = Replica(origin: "a", partitioning: cache)
        var peer = Replica(origin: "b", partitioning: cache)
        var log: [PartitionRecord] = [.claim(claim(1, term: 1, owner: "a"))]
        let created = change(.add, key: key, origin: "a", sequence: 1, term: 1, fields: ["n": .int(10)])
        owner.applyLocal(key: ExactKey(key), effect: EntityEffect(created), sequence: 1)
        log.append(.change(created))
        // b claims the partition while a, not yet aware, decides two more changes.
        log.append(.claim(claim(1, term: 2, owner: "b")))
        let late = change(.update, key: key, origin: "a", sequence: 2, term: 1, deltas: ["n": .int(5)])
        let later = change(.update, key: key, origin: "a", sequence: 3, term: 1, fields: ["s": .string("late")])
        owner.applyLocal(key: ExactKey(key), effect: EntityEffect(late), sequence: 2)
        owner.applyLocal(key: ExactKey(key), effect: EntityEffect(later), sequence: 3)
        #expect(owner.entities[ExactKey(key)]?.fields == ["n": .int(15), "s": .string("late")], "a sees its own changes at once")
        log += [.change(late), .change(later)]
        let byNewOwner = change(.update, key: key, origin: "b", sequence: 1, term: 2, deltas: ["n": .int(1)])
        log.append(.change(byNewOwner))

        for replica in [0, 1] {
            var outcomes: [String?] = []
            for (offset, record) in log.enumerated() {
                switch record {
                case .claim(let claim):
                    let outcome = replica == 0 ? owner.applyClaim(claim, partition: 1) : peer.applyClaim(claim, partition: 1)
                    guard case .adopted? = outcome else { Issue.record("claim \(claim) not adopted: \(String(describing: outcome))"); continue }
                case .change(let contract):
                    let applied = replica == 0
                        ? owner.applyFromLog(contract, partition: 1, offset: Int64(offset))
                        : peer.applyFromLog(contract, partition: 1, offset: Int64(offset))
                    outcomes.append(applied.fenced)
                }
            }
            #expect(outcomes.map { $0 != nil } == [false, true, true, false], "replica \(replica): only the deposed owner's late changes are fenced")
            #expect(outcomes[1]?.contains("ownership term 1") == true && outcomes[1]?.contains("term 2") == true, "the reason names both terms")
        }
        #expect(owner.entities[ExactKey(key)]?.fields == ["n": .int(11)])
        #expect(peer.entities[ExactKey(key)]?.fields == ["n": .int(11)])
        #expect(owner.entries[ExactKey(key)]?.pending.isEmpty == true && owner.committed.isEmpty, "fenced own changes are no longer pending")
        // The entity's version is the last change that took effect: every replica agrees.
        #expect(owner.version(ExactKey(key)) == peer.version(ExactKey(key)))
        #expect(owner.version(ExactKey(key)) == Int64(log.count))
    }

    @Test("an own change fenced while later own changes are pending leaves the committed state with those on top")
    func fencedUnderPending() throws {
        let key = key(in: 2)
        var owner = Replica(origin: "a", partitioning: cache)
        _ = owner.applyClaim(claim(2, term: 1, owner: "a"), partition: 2)
        let created = change(.add, key: key, origin: "a", sequence: 1, term: 1, fields: ["n": .int(1)])
        owner.applyLocal(key: ExactKey(key), effect: EntityEffect(created), sequence: 1)
        #expect(owner.applyFromLog(created, partition: 2, offset: 1).fenced == nil)
        // A change under a term the log never established (the unit's view ran ahead),
        // then one under the current term.
        let stray = change(.update, key: key, origin: "a", sequence: 2, term: 5, deltas: ["n": .int(100)])
        let kept = change(.update, key: key, origin: "a", sequence: 3, term: 1, deltas: ["n": .int(10)])
        owner.applyLocal(key: ExactKey(key), effect: EntityEffect(stray), sequence: 2)
        owner.applyLocal(key: ExactKey(key), effect: EntityEffect(kept), sequence: 3)
        #expect(owner.entities[ExactKey(key)]?.fields == ["n": .int(111)])
        #expect(owner.applyFromLog(stray, partition: 2, offset: 2).fenced != nil)
        #expect(owner.entities[ExactKey(key)]?.fields == ["n": .int(11)], "the committed state with the change still pending on top")
        #expect(owner.applyFromLog(kept, partition: 2, offset: 3).fenced == nil)
        #expect(owner.entities[ExactKey(key)]?.fields == ["n": .int(11)])
        #expect(owner.committed.isEmpty)
    }

    @Test("a change without a term in an owned partition, a change from a unit that did not make the claim, and a key outside its partition are fenced; before any claim, term-less changes count")
    func otherFences() throws {
        var replica = Replica(origin: "z", partitioning: cache)
        let early = change(.add, key: key(in: 0), origin: "a", sequence: 1, term: nil, fields: ["n": .int(1)])
        #expect(replica.applyFromLog(early, partition: 0, offset: 0).fenced == nil, "no claim yet: a term-less change counts")
        _ = replica.applyClaim(claim(0, term: 1, owner: "a"), partition: 0)
        #expect(replica.applyFromLog(change(.update, key: key(in: 0), origin: "a", sequence: 2, term: nil, deltas: ["n": .int(1)]), partition: 0, offset: 2).fenced != nil)
        #expect(replica.applyFromLog(change(.update, key: key(in: 0), origin: "b", sequence: 1, term: 1, deltas: ["n": .int(1)]), partition: 0, offset: 3).fenced != nil)
        let misplaced = replica.applyFromLog(change(.add, key: key(in: 3), origin: "a", sequence: 3, term: 1, fields: ["n": .int(1)]), partition: 0, offset: 4)
        #expect(misplaced.fenced?.contains("belongs in partition 3") == true)
        #expect(replica.entities.values.map(\.fields) == [["n": .int(1)]])
        // A stale claim (a term not above the current one) changes nothing.
        #expect(replica.applyClaim(claim(0, term: 1, owner: "b"), partition: 0) == .stale(current: 1))
        #expect(replica.applyClaim(claim(1, term: 1, owner: "b"), partition: 0) == .misplaced)
        #expect(replica.ownership[0] == PartitionOwnership(term: 1, owner: "a"))
    }

    @Test("a replica loaded from a snapshot starts from the ownership stored with it; a replicated replica ignores claims")
    func seededOwnership() throws {
        var replica = Replica(origin: "z", partitioning: cache)
        replica.seed(ownership: [1: PartitionOwnership(term: 3, owner: "b")])
        let key = key(in: 1)
        #expect(replica.applyFromLog(change(.add, key: key, origin: "a", sequence: 1, term: 2, fields: ["n": .int(1)]), partition: 1, offset: 9).fenced != nil)
        #expect(replica.applyFromLog(change(.add, key: key, origin: "b", sequence: 1, term: 3, fields: ["n": .int(2)]), partition: 1, offset: 10).fenced == nil)
        #expect(replica.entities[ExactKey(key)]?.fields == ["n": .int(2)])
        var replicated = Replica(origin: "z")
        #expect(replicated.applyClaim(claim(1, term: 1, owner: "a"), partition: 1) == nil)
        #expect(replicated.applyFromLog(change(.add, key: key, origin: "a", sequence: 1, term: 7, fields: ["n": .int(1)]), partition: 0, offset: 0).fenced == nil)
    }
}

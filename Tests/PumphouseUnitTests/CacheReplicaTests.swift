import PumphouseContracts
import PumphouseLoad
import PumphouseTestSupport
@testable import PumphouseUnit
import Testing

/// The replica over an entity that is its fields, so states read as they travel.
typealias Replica = CacheReplica<FieldsEntity>

struct FieldsEntity: CacheEntity {
    static let contract = try! ContractName("bench.Account")
    var fields: JSONObject
    var key: String { "" }
    init(fields: JSONObject) { self.fields = fields }
}

@Suite("Replica state: pending changes, echoes, collisions, convergence")
struct CacheReplicaTests {
    static let name = try! ContractName("bench.Account")

    /// A change as a unit makes it, against its replica.
    static func contract(_ action: ContractAction, key: String = "k", origin: String, sequence: Int64, base: Int64, fields: JSONObject = [:], deltas: JSONObject = [:]) -> Contract {
        Contract(name: name, version: 2, action: action, key: key, origin: origin, sequence: sequence, baseVersion: base, eventTime: 0, fields: fields, deltas: deltas)
    }

    @Test("a load sets the base state and the writer's sequences: changes the rows already hold are skipped, later ones apply")
    func loadedBase() throws {
        var replica = Replica(origin: "c")
        _ = replica.loadBase(key: "k", state: ["stock": .int(10)])
        replica.seed(sequences: [0: ["a": 7], 1: ["b": 3]])
        #expect(try replica.count == 1 && replica.visible("k") == ["stock": .int(10)])
        // A resend of a change the database already holds (sequence 7 of a on partition
        // 0) is skipped; the next one, and b's on partition 0, apply.
        let resent = Self.contract(.update, origin: "a", sequence: 7, base: 0, deltas: ["stock": .int(1)])
        #expect(replica.applyFromLog(resent, partition: 0, offset: 40).duplicate)
        let next = Self.contract(.update, origin: "a", sequence: 8, base: 0, deltas: ["stock": .int(1)])
        #expect(!replica.applyFromLog(next, partition: 0, offset: 41).duplicate)
        let other = Self.contract(.update, origin: "b", sequence: 2, base: 0, deltas: ["stock": .int(5)])
        #expect(!replica.applyFromLog(other, partition: 0, offset: 42).duplicate)
        #expect(try replica.visible("k") == ["stock": .int(16)])
        replica.reset()
        #expect(try replica.count == 0 && replica.visible("k") == nil)
        #expect(!replica.applyFromLog(resent, partition: 0, offset: 40).duplicate)
    }

    @Test("a resend after a producer was replaced is skipped per partition and origin, as the writers skip it")
    func resendSkipped() throws {
        var replica = Replica(origin: "b")
        let add = Self.contract(.add, origin: "a", sequence: 1, base: 0, fields: ["stock": .int(0)])
        let bumps = (2...5).map { Self.contract(.update, origin: "a", sequence: Int64($0), base: 0, deltas: ["stock": .int(1)]) }
        // The first producer got 1 to 3 written without acknowledgement; its successor
        // resends everything unacknowledged, 2 onwards, then goes on.
        let log = [add, bumps[0], bumps[1], bumps[0], bumps[1], bumps[2], bumps[3]]
        let duplicates = log.enumerated().map { replica.applyFromLog($1, partition: 0, offset: Int64($0)).duplicate }
        #expect(duplicates == [false, false, false, true, true, false, false])
        #expect(try replica.visible("k")?["stock"] == .int(4))
        #expect(replica.version("k") == 7)
        // Sequences are counted per partition: a lower sequence on another partition is new.
        let other = Self.contract(.add, key: "elsewhere", origin: "a", sequence: 1, base: 0, fields: ["stock": .int(9)])
        #expect(replica.applyFromLog(other, partition: 1, offset: 0).duplicate == false)
        #expect(try replica.visible("elsewhere")?["stock"] == .int(9))
    }

    @Test("a hole in a peer's numbering within its run is reported with the numbers missing, per partition; the change still applies, and a new run's first number is no hole")
    func sequenceGaps() throws {
        var replica = Replica(origin: "c")
        func change(_ sequence: Int64, run: Int64, delta: Int64 = 1) -> Contract {
            var contract = Self.contract(.update, origin: "a", sequence: sequence, base: 0, deltas: ["stock": .int(delta)])
            contract.incarnation = run
            return contract
        }
        _ = replica.loadBase(key: "k", state: ["stock": .int(0)])
        let outcomes = [(50, 50), (51, 50), (54, 50), (54, 50), (9_000, 9_000), (9_002, 9_000)].enumerated().map { offset, numbered in
            replica.applyFromLog(change(Int64(numbered.0), run: Int64(numbered.1)), partition: 0, offset: Int64(offset)).sequenceGap
        }
        #expect(outcomes == [nil, nil, 52..<54, nil, nil, 9_001..<9_002])
        // The resend of 54 counted once: five increments applied.
        #expect(try replica.visible("k")?["stock"] == .int(5))
        // Another partition keeps its own numbering: its first change is judged by nothing.
        #expect(replica.applyFromLog(change(9_005, run: 9_000), partition: 1, offset: 0).sequenceGap == nil)
    }

    @Test("of two creates of a key the first in the log wins; the lost one changes nothing, not even the version")
    func createsDecidedByLog() throws {
        var replica = Replica(origin: "b")
        let first = Self.contract(.create, origin: "a", sequence: 1, base: 0, fields: ["owner": .string("a")])
        let second = Self.contract(.create, origin: "b", sequence: 1, base: 0, fields: ["owner": .string("b")])
        replica.applyLocal(key: "k", effect: EntityEffect(second), sequence: 1)
        #expect(try replica.visible("k")?["owner"] == .string("b"), "its own create shows at once")
        #expect(replica.applyFromLog(first, partition: 0, offset: 0).created == true)
        #expect(try replica.visible("k")?["owner"] == .string("a"), "the peer's create came first in the log")
        let lost = replica.applyFromLog(second, partition: 0, offset: 1)
        #expect(lost.created == false && lost.collision == nil)
        #expect(replica.version("k") == 1, "a lost create leaves the version at the winner's")
        // The winner's next change, made against version 1, is no collision.
        let update = Self.contract(.update, origin: "a", sequence: 2, base: 1, fields: ["owner": .string("a2")])
        #expect(replica.applyFromLog(update, partition: 0, offset: 2).collision == nil)
        #expect(try replica.visible("k")?["owner"] == .string("a2"))
    }

    @Test("an own delta is applied once: at once locally, and not again when its echo arrives")
    func ownEcho() throws {
        var replica = Replica(origin: "a")
        let add = Self.contract(.add, origin: "a", sequence: 1, base: 0, fields: ["stock": .int(500)])
        replica.applyLocal(key: "k", effect: EntityEffect(add), sequence: 1)
        let sell = Self.contract(.update, origin: "a", sequence: 2, base: 0, deltas: ["stock": .int(-10)])
        replica.applyLocal(key: "k", effect: EntityEffect(sell), sequence: 2)
        #expect(try replica.visible("k")?["stock"] == .int(490))
        #expect(replica.applyFromLog(add, partition: 0, offset: 0).collision == nil)
        #expect(try replica.visible("k")?["stock"] == .int(490))
        _ = replica.applyFromLog(sell, partition: 0, offset: 1)
        #expect(try replica.visible("k")?["stock"] == .int(490))
        #expect(replica.entries["k"]?.pending.isEmpty == true)
        #expect(replica.version("k") == 2)
    }

    @Test("an echo is known by its key and the sequence of the oldest change pending there, and gives the contract kept as published")
    func echoKept() throws {
        var replica = Replica(origin: "a")
        let add = Self.contract(.add, origin: "a", sequence: 1, base: 0, fields: ["stock": .int(500)])
        let sell = Self.contract(.update, origin: "a", sequence: 2, base: 0, deltas: ["stock": .int(-10)])
        replica.applyLocal(key: "k", effect: EntityEffect(add), sequence: 1, published: add)
        replica.applyLocal(key: "k", effect: EntityEffect(sell), sequence: 2, published: sell)
        #expect(replica.echo(of: "k", sequence: 1) == add)
        #expect(replica.echo(of: "k", sequence: 2) == nil, "not the oldest pending: decoded, as any change out of step")
        #expect(replica.echo(of: "K", sequence: 1) == nil && replica.echo(of: "j", sequence: 1) == nil, "another key")
        _ = replica.applyFromLog(try #require(replica.echo(of: "k", sequence: 1)), partition: 0, offset: 0)
        #expect(replica.echo(of: "k", sequence: 1) == nil, "applied: no longer pending")
        _ = replica.applyFromLog(try #require(replica.echo(of: "k", sequence: 2)), partition: 0, offset: 1)
        #expect(try replica.visible("k")?["stock"] == .int(490) && replica.entries["k"]?.pending.isEmpty == true && replica.version("k") == 2)
        // A change kept without its contract (a caller that gave none) is decoded.
        replica.applyLocal(key: "k", effect: EntityEffect(sell), sequence: 3)
        #expect(replica.echo(of: "k", sequence: 3) == nil)
        // Keys by their bytes: a decomposed spelling of a pending key is another key.
        let composed = Self.contract(.add, key: "caf\u{E9}", origin: "a", sequence: 4, base: 0, fields: ["stock": .int(1)])
        replica.applyLocal(key: ExactKey(composed.key), effect: EntityEffect(composed), sequence: 4, published: composed)
        #expect(replica.echo(of: ExactKey("cafe\u{301}"), sequence: 4) == nil && replica.echo(of: ExactKey("caf\u{E9}"), sequence: 4) == composed)
    }

    @Test("the inventory case: two units sell 10 and 5 concurrently; both replicas end at 485, with no collision")
    func inventory() throws {
        var a = Replica(origin: "a"), b = Replica(origin: "b")
        let add = Self.contract(.add, origin: "a", sequence: 1, base: 0, fields: ["stock": .int(500)])
        for replica in [0, 1] {
            if replica == 0 { _ = a.applyFromLog(add, partition: 0, offset: 0) } else { _ = b.applyFromLog(add, partition: 0, offset: 0) }
        }
        let sellTen = Self.contract(.update, origin: "a", sequence: 2, base: 1, deltas: ["stock": .int(-10)])
        let sellFive = Self.contract(.update, origin: "b", sequence: 1, base: 1, deltas: ["stock": .int(-5)])
        a.applyLocal(key: "k", effect: EntityEffect(sellTen), sequence: 2)
        b.applyLocal(key: "k", effect: EntityEffect(sellFive), sequence: 1)
        #expect(try a.visible("k")?["stock"] == .int(490))
        #expect(try b.visible("k")?["stock"] == .int(495))
        // The log has b's sale first; each replica meanwhile shows its own sale on top.
        #expect(a.applyFromLog(sellFive, partition: 0, offset: 1).collision == nil)
        #expect(try a.visible("k")?["stock"] == .int(485))
        _ = b.applyFromLog(sellFive, partition: 0, offset: 1)
        #expect(try b.visible("k")?["stock"] == .int(495))
        #expect(a.applyFromLog(sellTen, partition: 0, offset: 2).collision == nil)
        _ = b.applyFromLog(sellTen, partition: 0, offset: 2)
        #expect(try a.visible("k")?["stock"] == .int(485))
        #expect(try b.visible("k")?["stock"] == .int(485))
    }

    @Test("a change made against a version a peer changed since is a collision; log order wins")
    func collision() throws {
        var replica = Replica(origin: "c")
        _ = replica.applyFromLog(Self.contract(.add, origin: "a", sequence: 1, base: 0, fields: ["status": .string("free")]), partition: 0, offset: 0)
        let hold = Self.contract(.update, origin: "a", sequence: 2, base: 1, fields: ["status": .string("held-by-a")])
        let sell = Self.contract(.update, origin: "b", sequence: 1, base: 1, fields: ["status": .string("sold-by-b")])
        #expect(replica.applyFromLog(hold, partition: 0, offset: 1).collision == nil)
        let outcome = replica.applyFromLog(sell, partition: 0, offset: 2)
        #expect(outcome.collision == ReplicaCollision(baseVersion: 1, winnerOrigin: "a", winnerVersion: 2))
        #expect(try replica.visible("k")?["status"] == .string("sold-by-b"))
        // b's next change, also made before b saw a's: a collision again.
        let again = Self.contract(.update, origin: "b", sequence: 2, base: 1, fields: ["status": .string("sold")])
        #expect(replica.applyFromLog(again, partition: 0, offset: 3).collision?.winnerOrigin == "a")
        // Once b has seen version 4, its changes do not collide.
        #expect(replica.applyFromLog(Self.contract(.update, origin: "b", sequence: 3, base: 4, fields: ["status": .string("x")]), partition: 0, offset: 4).collision == nil)
        // Two changes in a row from one unit, the second made before the first came back:
        // not a collision (nobody else changed the entity in between).
        _ = replica.applyFromLog(Self.contract(.add, key: "m", origin: "b", sequence: 4, base: 0, fields: ["status": .string("b")]), partition: 0, offset: 5)
        #expect(replica.applyFromLog(Self.contract(.update, key: "m", origin: "b", sequence: 5, base: 0, fields: ["status": .string("c")]), partition: 0, offset: 6).collision == nil)
        // Two units adding the same new key: the second add collides.
        _ = replica.applyFromLog(Self.contract(.add, key: "n", origin: "a", sequence: 3, base: 0, fields: ["status": .string("a")]), partition: 0, offset: 7)
        #expect(replica.applyFromLog(Self.contract(.add, key: "n", origin: "b", sequence: 6, base: 0, fields: ["status": .string("b")]), partition: 0, offset: 8).collision?.winnerOrigin == "a")
    }

    @Test("typed: each entity is held once as its Swift value; a state that does not fit is kept as fields, changes still apply to it, and it reads as absent until it fits again")
    func typedEntitiesHeldOnce() throws {
        var replica = CacheReplica<BenchAccount>(origin: "b")
        let account = BenchAccount(id: "k", balance: 10)
        replica.applyLocal(key: "k", effect: .upsert(account.fields), sequence: 1, resulting: account)
        #expect(replica.value("k") == account && replica.committed["k"] == .some(nil), "the committed state (none) is kept while the put is pending")
        let put = Self.contract(.add, origin: "b", sequence: 1, base: 0, fields: account.fields)
        _ = replica.applyFromLog(put, partition: 0, offset: 0)
        #expect(replica.entries["k"]?.pending.isEmpty == true && replica.committed["k"] == nil, "the echo leaves one state")
        // A peer's change the type cannot read: kept as fields, invisible, counted out.
        let broken = Self.contract(.update, origin: "a", sequence: 1, base: 1, fields: ["balance": .string("ten")])
        let outcome = replica.applyFromLog(broken, partition: 0, offset: 1)
        #expect(outcome.unreadable != nil && replica.value("k") == nil && replica.count == 0)
        #expect(try replica.visible("k")?["balance"] == .string("ten"))
        // The next change applies to the kept fields and makes the entity readable again.
        let fixed = Self.contract(.update, origin: "a", sequence: 2, base: 2, fields: ["balance": .int(12)])
        #expect(replica.applyFromLog(fixed, partition: 0, offset: 2).unreadable == nil)
        #expect(replica.value("k")?.balance == 12 && replica.count == 1)
        // A delta while an own change is pending: the peer's delta lands on the committed
        // state, and the own change stays on top, converted once more.
        replica.applyLocal(key: "k", effect: .update(fields: ["status": .string("frozen")], deltas: [:]), sequence: 2)
        let delta = Self.contract(.update, origin: "a", sequence: 3, base: 3, deltas: ["balance": .int(5)])
        _ = replica.applyFromLog(delta, partition: 0, offset: 3)
        #expect(replica.value("k")?.balance == 17 && replica.value("k")?.status == "frozen")
        #expect(replica.committed["k"] == .some(.value(BenchAccount(id: "k", balance: 17))))
    }

    @Test("an update of a missing entity changes nothing, locally and from the log")
    func missing() throws {
        var replica = Replica(origin: "a")
        let update = Self.contract(.update, origin: "a", sequence: 1, base: 0, fields: ["status": .string("x")])
        let missingLocally = replica.applyLocal(key: "k", effect: EntityEffect(update), sequence: 1)
        #expect(missingLocally.missing)
        #expect(replica.applyFromLog(update, partition: 0, offset: 0).missing)
        #expect(try replica.visible("k") == nil)
        #expect(replica.count == 0)
    }
}

/// An entity type with a defect: it cannot give its fields back once `brittle` is set.
struct BrittleEntity: CacheEntity {
    struct Defect: Error {}
    static let contract = try! ContractName("bench.Account")
    var state: JSONObject
    var key: String { "" }
    init(fields: JSONObject) { state = fields }
    var fields: JSONObject {
        get throws {
            if state["brittle"] != nil { throw Defect() }
            return state
        }
    }
}

@Suite("Replica state with an entity type whose fields throw")
struct BrittleReplicaTests {
    @Test("a peer's update of an entity that cannot give its fields back is reported as unreadable, never applied silently")
    func reported() throws {
        var replica = CacheReplica<BrittleEntity>(origin: "b")
        let add = CacheReplicaTests.contract(.add, origin: "a", sequence: 1, base: 0, fields: ["brittle": .bool(true), "stock": .int(1)])
        #expect(replica.applyFromLog(add, partition: 0, offset: 0).unreadable == nil)
        let update = CacheReplicaTests.contract(.update, origin: "a", sequence: 2, base: 1, deltas: ["stock": .int(1)])
        let outcome = replica.applyFromLog(update, partition: 0, offset: 1)
        let reason = try #require(outcome.unreadable)
        #expect(reason.contains("could not give its fields back"), "\(reason)")
        // The log has decided, so the change applies, to an empty object (docs/units.md).
        #expect(try replica.visible("k") == ["stock": .int(1)])
    }
}

extension CacheReplicaTests {
    /// Units change random keys concurrently; the log interleaves their changes in any
    /// order that keeps each unit's own, and repeats some (a replaced producer's resends).
    @Test("three units changing random keys concurrently, every replica (the changing one included) ends at the log's fold", arguments: Array(1...40) as [UInt64])
    func convergence(seed: UInt64) throws {
        var rng = SplitMix(seed: seed)
        let origins = ["a", "b", "c"]
        var replicas = origins.map { Replica(origin: $0) }
        var sequences = [Int64](repeating: 0, count: 3)
        // Each unit's changes on their way to the log, in its own order.
        var outboxes = [[Contract]](repeating: [], count: 3)
        var sent = [[Contract]](repeating: [], count: 3)
        var log: [Contract] = []
        var delivered = [Int](repeating: 0, count: 3)
        func deliver(_ unit: Int, upTo end: Int) {
            while delivered[unit] < end {
                _ = replicas[unit].applyFromLog(log[delivered[unit]], partition: 0, offset: Int64(delivered[unit]))
                delivered[unit] += 1
            }
        }
        func append(from unit: Int, count: Int) {
            for _ in 0..<min(count, outboxes[unit].count) {
                let contract = outboxes[unit].removeFirst()
                log.append(contract)
                sent[unit].append(contract)
            }
            // A replaced producer resends what it had not heard acknowledged.
            if Int.random(in: 0..<20, using: &rng) == 0, !sent[unit].isEmpty {
                log.append(contentsOf: sent[unit].suffix(Int.random(in: 1...3, using: &rng)))
            }
        }
        for _ in 0..<1_500 {
            let unit = Int.random(in: 0..<3, using: &rng)
            let key = ExactKey("k\(Int.random(in: 0..<6, using: &rng))")
            sequences[unit] += 1
            let base = replicas[unit].version(key)
            let contract: Contract
            var resulting: FieldsEntity?
            let absent = try replicas[unit].visible(key) == nil
            if absent || Int.random(in: 0..<8, using: &rng) == 0 {
                let fields: JSONObject = ["n": .int(Int64.random(in: 0...100, using: &rng)), "s": .string("put\(sequences[unit])")]
                contract = Self.contract(.add, key: key.text, origin: origins[unit], sequence: sequences[unit], base: base, fields: fields)
                resulting = FieldsEntity(fields: fields)
            } else {
                switch Int.random(in: 0..<10, using: &rng) {
                case 0: contract = Self.contract(.delete, key: key.text, origin: origins[unit], sequence: sequences[unit], base: base)
                case 1...3: contract = Self.contract(.update, key: key.text, origin: origins[unit], sequence: sequences[unit], base: base, fields: ["s": .string("\(origins[unit])\(sequences[unit])")])
                default: contract = Self.contract(.update, key: key.text, origin: origins[unit], sequence: sequences[unit], base: base, deltas: ["n": .int(Int64.random(in: -3...3, using: &rng))])
                }
            }
            replicas[unit].applyLocal(key: key, effect: EntityEffect(contract), sequence: contract.sequence, resulting: resulting)
            outboxes[unit].append(contract)
            for other in 0..<3 where Int.random(in: 0..<3, using: &rng) == 0 {
                append(from: other, count: Int.random(in: 0...4, using: &rng))
            }
            for other in 0..<3 where Int.random(in: 0..<3, using: &rng) == 0 {
                deliver(other, upTo: Int.random(in: delivered[other]...log.count, using: &rng))
            }
        }
        for unit in 0..<3 { append(from: unit, count: outboxes[unit].count) }
        for unit in 0..<3 { deliver(unit, upTo: log.count) }
        // The oracle: a plain fold of the log with the duplicate rule, sharing nothing with the replica.
        var expected: [ExactKey: JSONObject] = [:]
        var highest: [ExactKey: Int64] = [:]
        for contract in log where contract.sequence > highest[contract.exactOrigin, default: 0] {
            highest[contract.exactOrigin] = contract.sequence
            expected[contract.exactKey] = EntityEffect(contract).applied(to: expected[contract.exactKey]).state
        }
        for unit in 0..<3 {
            #expect(replicas[unit].entities.mapValues(\.fields) == expected, "replica \(origins[unit])")
            #expect(replicas[unit].entries.values.allSatisfy { $0.pending.isEmpty }, "replica \(origins[unit]): nothing pending")
            #expect(replicas[unit].committed.isEmpty, "no committed state kept apart once nothing is pending")
            #expect(replicas[unit].count == expected.count)
        }
    }
}

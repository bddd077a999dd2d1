import Foundation
import PumphouseContracts
import PumphouseKafka
import PumphouseLoad
import PumphousePostgres
import PumphouseReplay
import PumphouseTestSupport
import Testing

@testable import PumphouseUnit
@testable import PumphouseWriter

/// Spellings that Swift's `String` equates (canonical equivalence) but that are different
/// bytes, so different entities to Kafka and PostgreSQL.
enum CanonicalTwins {
    static let groups: [[String]] = [
        ["caf\u{E9}", "cafe\u{301}"],
        ["\u{C5}ngstr\u{F6}m", "\u{212B}ngstr\u{F6}m", "A\u{30A}ngstro\u{308}m"],
        ["\u{212A}elvin", "Kelvin"],
    ]

    static var all: [String] { groups.flatMap { $0 } }

    static func hex(_ text: String) -> String {
        text.utf8.map { String(format: "%02x", $0) }.joined()
    }
}

@Suite("Entity identity is byte identity: keys, origins and field values through units, writer, replay and reader", .localStack, .removingWhatItMakes, .serialized, .timeLimit(.minutes(4)))
struct ByteIdentityTests {
    @Test("the spellings really are equal Strings and different bytes (the hazard these tests guard)")
    func hazard() {
        for group in CanonicalTwins.groups {
            #expect(Set(group).count == 1, "Swift's String equates \(group.map(CanonicalTwins.hex))")
            #expect(Set(group.map(ExactKey.init(_:))).count == group.count)
        }
    }

    @Test("two units with canonically equal ids change byte-different keys: every replica, PostgreSQL, a replay and a cold start keep them apart")
    func endToEnd() async throws {
        let fixture = try await UnitFixture(partitions: 3, load: "reverse_pump")
        try await fixture.prepare()
        // The fixture prefixes both ids with its name, so they stay canonically equal. Both
        // units number their changes from the same start: a layer that took them for one
        // origin would drop one unit's changes as duplicates.
        let units = try ["\u{C5}", "\u{212B}"].map { try fixture.unit($0) }
        #expect(units[0].id == units[1].id && ExactKey(units[0].id) != ExactKey(units[1].id))
        var expected: [ExactKey: BenchAccount] = [:]
        // A reader runs throughout: the units' first start and the last cold start both
        // load through it.
        try await withReader(fixture) { _ in try await run(fixture, units, &expected) }
    }

    private func run(_ fixture: UnitFixture, _ units: [ProcessingUnit], _ expected: inout [ExactKey: BenchAccount]) async throws {
        let caches = try units.map { try $0.cache(BenchAccount.self) }
        try await running(units) {
            for (index, key) in CanonicalTwins.all.enumerated() {
                let account = BenchAccount(id: key, balance: Int64(100 + index))
                try caches[index % 2].put(account)
                expected[ExactKey(key)] = account
            }
            try await awaitState(caches, expected, "both units holding every spelling apart")
            // A delete of one spelling leaves its twins; an increment reaches only its own key.
            #expect(try caches[1].remove("cafe\u{301}"))
            expected[ExactKey("cafe\u{301}")] = nil
            try caches[0].increment("\u{212A}elvin", "balance", by: 5)
            expected[ExactKey("\u{212A}elvin")]!.balance += 5
            // A field changed to a canonically equal spelling is a change, and is published.
            try caches[0].update("\u{C5}ngstr\u{F6}m") { $0.owner = "A\u{30A}" }
            expected[ExactKey("\u{C5}ngstr\u{F6}m")]!.owner = "A\u{30A}"
            try await awaitState(caches, expected, "both units after the delete, the increment and the owner's respelling")
            for cache in caches {
                #expect(cache["\u{C5}ngstr\u{F6}m"].map { CanonicalTwins.hex($0.owner) } == CanonicalTwins.hex("A\u{30A}"), "the owner's new bytes on every replica")
            }
            let members = try #require(units[0].members(of: BenchAccount.contract))
            #expect(members.members.count == 2, "two members, not one: \(members)")
        }

        // PostgreSQL, read with plain SQL by the key's bytes.
        try await fixture.awaitWritten(expected.mapValues(\.balance))
        let rows = try await fixture.withDatabase { db in
            try await db.query("SELECT encode(convert_to(id, 'UTF8'), 'hex'), balance_cents, encode(convert_to(owner, 'UTF8'), 'hex') FROM \(fixture.table)").rows
        }
        let stored = Dictionary(uniqueKeysWithValues: rows.map { ($0[0]!, "\($0[1]!) \($0[2]!)") })
        let wanted = Dictionary(uniqueKeysWithValues: expected.values.map { (CanonicalTwins.hex($0.id), "\($0.balance) \(CanonicalTwins.hex($0.owner))") })
        #expect(stored == wanted, "rows by key bytes (hex key: balance, hex owner)")
        let origins = try await fixture.withDatabase { db in
            try await db.query("SELECT DISTINCT encode(convert_to(origin, 'UTF8'), 'hex') FROM pumphouse_writer_origins WHERE writer = $1", [fixture.name]).rows.count
        }
        #expect(origins == 2, "the writer's ledger keeps both origins")

        // A replay folds the topic into the same entities, and --verify-db agrees; with one
        // spelling's row removed it names exactly that key.
        let replay = try TopicReplay(configuration: fixture.pipeline, cache: BenchAccount.contract, logger: UnitFixture.logger)
        let fold = try await replay.fold(timeout: .seconds(60))
        #expect(fold.entities.mapValues { $0["balance"] } == expected.mapValues { .int($0.balance) })
        // A traced key's history is its own messages only, not its twin's: the put and
        // the owner's respelling.
        let traced = try await replay.fold(timeout: .seconds(60), tracing: [ExactKey("\u{C5}ngstr\u{F6}m")])
        let history = traced.traces[ExactKey("\u{C5}ngstr\u{F6}m")] ?? []
        #expect(history.count == 2, "\(history)")
        #expect(history.first?.contains(" add sets [") == true && history.first?.hasSuffix(": applied") == true, "\(history)")
        #expect(history.last?.contains(" update sets [owner] nulls [] adds []: applied") == true, "\(history)")

        // A cold start through the reader and the reverse pump loads every spelling apart.
        let cold = try fixture.unit("cold")
        let cache = try cold.cache(BenchAccount.self)
        try await running([cold]) {
            try await awaitState([cache], expected, "a cold start through the reverse pump")
        }

        try await fixture.withDatabase { db in
            #expect(try await replay.verify(fold, on: db).isEmpty)
            _ = try await db.query("DELETE FROM \(fixture.table) WHERE id = $1", ["\u{212B}ngstr\u{F6}m"])
            let differences = try await replay.verify(fold, on: db)
            #expect(differences.map { CanonicalTwins.hex($0.key) } == [CanonicalTwins.hex("\u{212B}ngstr\u{F6}m")], "\(differences)")
        }
    }
}

/// No layer merges two byte-different keys or origins: random histories over canonical
/// twins, folded by a replica and by the writer's batch plan, against a plain fold keyed
/// by byte arrays (which share no code with either).
@Suite("Byte identity, as a property of the replica and the writer's batch plan")
struct ByteIdentityPropertyTests {
    static let origins = ["unit-\u{C5}", "unit-\u{212B}", "unit-A\u{30A}"]

    struct History {
        var contracts: [Contract] = []
        /// Key bytes to state, with (origin bytes, sequence) duplicates skipped: the oracle.
        var fold: [[UInt8]: JSONObject] = [:]
    }

    /// Adds, increments, deletes and creates over every spelling of the twins, from
    /// origins that are equal Strings; some changes are sent twice, as a producer replaced
    /// mid-flight resends them.
    static func history(seed: UInt64, length: Int) throws -> History {
        var rng = SplitMix(state: seed)
        var history = History()
        var sequences = [Int64](repeating: 0, count: origins.count)
        var seen: [[UInt8]: Int64] = [:]
        let name = BenchAccount.contract
        for step in 0..<length {
            let key = CanonicalTwins.all.randomElement(using: &rng)!
            let originIndex = Int.random(in: 0..<origins.count, using: &rng)
            let contract: Contract
            if step > 0, Int.random(in: 0..<8, using: &rng) == 0 {
                contract = history.contracts.randomElement(using: &rng)!  // a resend
            } else {
                sequences[originIndex] += 1
                let (action, fields, deltas): (ContractAction, JSONObject, JSONObject) = switch Int.random(in: 0..<6, using: &rng) {
                case 0: (.delete, [:], [:])
                case 1: (.create, BenchAccount(id: key, balance: Int64(step)).fields, [:])
                case 2, 3: (.update, [:], ["balance": .int(Int64.random(in: 1...9, using: &rng))])
                default: (.add, BenchAccount(id: key, balance: Int64(step), owner: origins[originIndex]).fields, [:])
                }
                contract = Contract(
                    name: name, version: 2, action: action, key: key, origin: origins[originIndex], sequence: sequences[originIndex],
                    eventTime: 0, fields: fields, deltas: deltas
                )
            }
            history.contracts.append(contract)
            let origin = Array(contract.origin.utf8), bytes = Array(contract.key.utf8)
            guard contract.sequence > seen[origin] ?? 0 else { continue }
            seen[origin] = contract.sequence
            let current = history.fold[bytes]
            switch contract.action {
            case .delete: history.fold[bytes] = nil
            case .add: history.fold[bytes] = contract.fields
            case .create: if current == nil { history.fold[bytes] = contract.fields }
            case .update:
                guard var row = current, case .int(let balance)? = row["balance"], case .int(let delta)? = contract.deltas["balance"] else { continue }
                row["balance"] = .int(balance + delta)
                history.fold[bytes] = row
            }
        }
        return history
    }

    static func bytes(_ state: [ExactKey: JSONObject]) -> [[UInt8]: JSONObject] {
        Dictionary(uniqueKeysWithValues: state.map { (Array($0.key.text.utf8), $0.value) })
    }

    @Test("a replica applying the log holds exactly the byte-keyed fold")
    func replica() throws {
        let base = UInt64.random(in: 0 ... .max)
        for index in 0..<200 {
            let seed = base &+ UInt64(index)
            let history = try Self.history(seed: seed, length: 60)
            var replica = Replica(origin: "observer")
            for (offset, contract) in history.contracts.enumerated() {
                _ = replica.applyFromLog(contract, partition: 0, offset: Int64(offset))
            }
            let state = Self.bytes(replica.entities.mapValues(\.fields))
            #expect(state == history.fold, "seed \(seed)")
            guard state == history.fold else { return }
        }
    }

    @Test("the writer's batch plan folds one effect per byte-distinct key and keeps every origin's sequence")
    func batchPlan() throws {
        let registry = try SchemaRepository(directory: "\(PumphouseProcess.repository)/Schemas").load()
        let partition = KafkaTopicPartition(topic: "t", partition: 0)
        let base = UInt64.random(in: 0 ... .max)
        for index in 0..<200 {
            let seed = base &+ UInt64(index)
            let history = try Self.history(seed: seed, length: 60)
            let messages = try history.contracts.enumerated().map { offset, contract in
                let encoded = try ContractCodec().encode(contract)
                return KafkaMessage(topic: "t", partition: 0, offset: Int64(offset), key: Array(encoded.key.utf8), value: encoded.value)
            }
            let plan = BatchPlan(
                messages: messages, claims: [partition: WriterLedger.Claim(epoch: 1, nextOffset: nil, maxSequence: [:])],
                registry: registry, accepts: { _, _ in true }
            )
            // The table starts empty: each folded effect applied to no row is the batch's result.
            var state: [[UInt8]: JSONObject] = [:]
            for (key, entity) in plan.entities {
                state[Array(key.key.text.utf8)] = entity.effect.applied(to: nil).state
            }
            #expect(state.compactMapValues { $0 } == history.fold, "seed \(seed)")
            let used = Set(history.contracts.map { Array($0.origin.utf8) })
            #expect(plan.sequences[partition]?.count == used.count, "seed \(seed): one ledger entry per byte-distinct origin")
            guard state.compactMapValues({ $0 }) == history.fold else { return }
        }
    }
}

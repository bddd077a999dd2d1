import PumphouseContracts
import PumphouseKafka
import PumphouseTestSupport
import PumphouseWriter
import Testing

/// A partitioned cache's writer takes a change only from the partition's owner under its
/// latest ownership claim, across its own restarts; replay takes the same changes. The
/// claims and changes come from a plain producer, as units' would, so every path is
/// exercised in one log; PostgreSQL and the dead-letter topic are read in plain SQL and
/// with a bare consumer.
@Suite("Ownership claims fence deposed owners in the writer and in replay", .localStack, .removingWhatItMakes, .serialized, .timeLimit(.minutes(3)))
struct OwnershipFencingTests {
    static let contract = try! ContractName("bench.Account")

    static func claim(_ term: Int64, _ owner: String, topic: String, partition: Int32 = 0, claimedFor named: Int32? = nil) -> KafkaProducerMessage {
        let claim = OwnershipClaim(cache: contract, partition: named ?? partition, term: term, owner: owner, claimedAt: 1_763_700_000_000)
        return KafkaProducerMessage(topic: topic, partition: partition, key: claim.key, value: claim.encoded(), headers: claim.headers.map { KafkaHeader(name: $0.name, value: $0.value) })
    }

    /// `base` with the shortest suffix that murmur2 places in `partition` of 2, since a
    /// partitioned cache's change must lie in its key's partition.
    static func key(_ base: String, in partition: Int32 = 0) -> String {
        let partitioner = KafkaKeyPartitioner(partitionCount: 2, scheme: .murmur2)
        return (0...).lazy.map { "\(base)-\($0)" }.first { partitioner.partition(ofKey: $0) == partition }!
    }

    static func fields(_ key: String, balance: Int64) -> JSONObject {
        ["id": .string(key), "owner": .string("o"), "balance": .int(balance), "currency": .string("EUR"), "status": .string("open"), "updatedAt": .int(1_763_700_000_000)]
    }

    @Test("changes before any claim count; then only the claimant's under its term; stale, misplaced and stray claims are dead letters; a resent fenced change is dead-lettered once")
    func fencing() async throws {
        let fixture = try await WriterFixture(partitions: 2, mode: "partitioned")
        var work = Workload(topic: fixture.topic)
        func add(_ base: String, _ origin: String, term: Int64?, sequence: Int64? = nil) throws {
            let key = Self.key(base)
            try work.publish(.add, key: key, fields: Self.fields(key, balance: 100), origin: origin, sequence: sequence, term: term, partition: 0)
        }
        try add("before-claim", "unit-a", term: nil)  // no owner yet: counts
        work.messages.append(Self.claim(1, "unit-a", topic: fixture.topic))
        try add("a-term-1", "unit-a", term: 1)  // the owner: counts
        try add("b-term-1", "unit-b", term: 1)  // term 1 is a's: fenced
        work.messages.append(Self.claim(2, "unit-b", topic: fixture.topic))
        try add("a-late", "unit-a", term: 1)  // a, deposed: fenced
        let lateSequence = work.sequence
        try add("b-term-2", "unit-b", term: 2)  // the new owner: counts
        work.messages.append(Self.claim(2, "unit-a", topic: fixture.topic))  // lost the race for term 2: stale
        work.messages.append(Self.claim(3, "unit-a", topic: fixture.topic, claimedFor: 1))  // names partition 1: misplaced
        try add("a-late", "unit-a", term: 1, sequence: lateSequence)  // a's spool resends it: a duplicate, not a second letter
        try add("b-no-term", "unit-b", term: nil)  // outside the protocol: fenced
        // The owner's change, but in a partition its key does not hash to: misplaced.
        let elsewhere = Self.key("b-elsewhere", in: 1)
        try work.publish(.add, key: elsewhere, fields: Self.fields(elsewhere, balance: 1), origin: "unit-b", term: 2, partition: 0)
        try await fixture.publish(work.messages)
        let total = Int64(work.messages.count)
        let statistics = try await fixture.runWriter(until: { $0.consumed >= total })
        #expect(statistics.duplicates == 1)

        let rows = Set(try await fixture.db.query("SELECT id FROM \(fixture.table)").rows.map { ExactKey($0[0]!) })
        #expect(rows == [ExactKey(Self.key("a-term-1")), ExactKey(Self.key("b-term-2")), ExactKey(Self.key("before-claim"))])
        let letters = try await DataWriterTests.readAll(fixture.configuration.writer(named: fixture.name)!.deadLetterTopic, fixture)
        let reasons = letters.compactMap { letter in letter.headers.first { $0.name == DeadLetter.Header.reason }?.value.map { String(decoding: $0, as: UTF8.self) } }
        #expect(reasons.sorted() == ["fenced", "fenced", "fenced", "misplaced-claim", "misplaced-key", "stale-claim"])
        let ledger = try await fixture.db.query(
            "SELECT ownership_term, partition_owner FROM pumphouse_writer_offsets WHERE writer = $1 AND partition = 0", [fixture.name]
        ).rows
        #expect(ledger.map { [$0[0], $0[1]] } == [["2", "unit-b"]])

        // A writer resuming from the ledger fences as one that read the claims itself.
        var more = Workload(topic: fixture.topic)
        more.sequence = work.sequence
        for (base, origin, term) in [("a-after-restart", "unit-a", Int64(1)), ("b-after-restart", "unit-b", 2)] {
            let key = Self.key(base)
            try more.publish(.add, key: key, fields: Self.fields(key, balance: 1), origin: origin, term: term, partition: 0)
        }
        try await fixture.publish(more.messages)
        _ = try await fixture.runWriter(until: { $0.consumed >= 2 })
        let after = try await fixture.db.query("SELECT id FROM \(fixture.table) WHERE id LIKE '%after-restart%'").rows.map { $0[0]! }
        #expect(after == [Self.key("b-after-restart")])

        // `pumphouse status` shows the partition's owner as the writer stored it (it may
        // also report the units' member topic missing: the fixture has no units).
        let status = try await PumphouseProcess.run(["status", "--config", "\(fixture.directory)/pipeline.yaml", "--json", "--timeout-s", "20"])
        #expect([0, 1].contains(status.status), "\(status.output)\(status.errors)")
        let report = try JSONParser().parse(status.output).objectValue
        let partitions = (report?["writers"]?.arrayValue?.first?.objectValue?["partitions"]?.arrayValue ?? []).compactMap(\.objectValue)
        let first = try #require(partitions.first { $0["partition"] == .int(0) }, "\(status.output)")
        #expect(first["ownershipTerm"] == .int(2))
        #expect(first["partitionOwner"] == .string("unit-b"))
        #expect(partitions.first { $0["partition"] == .int(1) }?["partitionOwner"] == .null)
        // The routing table names the same owners; no unit runs, so no address.
        let routes = (report?["routing"]?.arrayValue ?? []).compactMap(\.objectValue)
        #expect(routes.map { $0["partition"] } == [.int(0), .int(1)], "\(status.output)")
        #expect(routes.first?["owner"] == .string("unit-b") && routes.first?["ownershipTerm"] == .int(2) && routes.first?["address"] == .null)
        #expect(routes.last?["owner"] == .null && routes.last?["ownershipTerm"] == .int(0))

        // Replay folds the same log to the same table.
        let replay = try await PumphouseProcess.run(["replay", "--config", "\(fixture.directory)/pipeline.yaml", "--cache", "bench.Account", "--verify-db"])
        #expect(replay.status == 0, "\(replay.output)\(replay.errors)")
        #expect(replay.output.contains("the database equals the topic"))
        #expect(replay.output.contains("4 of them changes fenced by an ownership claim"), "\(replay.output)")
    }

    @Test("a claim on a replicated cache's topic is a dead letter, and a change's ownership term means nothing there")
    func replicated() async throws {
        let fixture = try await WriterFixture(partitions: 1)
        var work = Workload(topic: fixture.topic)
        work.messages.append(Self.claim(1, "unit-a", topic: fixture.topic))
        try work.publish(.add, key: "with-term", fields: Self.fields("with-term", balance: 5), origin: "unit-b", term: 7, partition: 0)
        try await fixture.publish(work.messages)
        _ = try await fixture.runWriter(until: { $0.consumed >= 2 })
        #expect(try await fixture.db.query("SELECT id FROM \(fixture.table)").rows.map { $0[0]! } == ["with-term"])
        let letters = try await DataWriterTests.readAll(fixture.configuration.writer(named: fixture.name)!.deadLetterTopic, fixture)
        #expect(letters.map { letter in letter.headers.first { $0.name == DeadLetter.Header.reason }?.value.map { String(decoding: $0, as: UTF8.self) } } == ["unexpected-claim"])
    }
}

import PumphouseContracts
import PumphouseKafka
import PumphousePostgres
import PumphouseReplay
import PumphouseTestSupport
import Testing

/// Contracts numbered as a unit numbers them, published by a plain producer with holes
/// cut into their numbering: the writer, a resumed writer and a replay must each name
/// exactly the holes made, and nothing else.
@Suite("Sequence gaps against the local broker and PostgreSQL", .localStack, .removingWhatItMakes, .serialized, .timeLimit(.minutes(3)))
struct SequenceGapTests {
    @Test("holes in a unit's numbering are recorded once by the writer, also after it resumes, and named by a replay; a restart's jump, resends and producers without runs are no holes")
    func holesFound() async throws {
        let fixture = try await WriterFixture(partitions: 1)
        var work = Workload(topic: fixture.topic)
        let account: JSONObject = ["id": .string("a"), "owner": .string("o"), "balance": .int(1), "currency": .string("EUR"), "status": .string("open"), "updatedAt": .int(0)]
        // unit-a's run 100: 100, 101, 101 again (a resend), then 103: 102 is lost.
        try work.publish(.add, key: "a", fields: account, origin: "unit-a", sequence: 100, incarnation: 100, partition: 0)
        for sequence: Int64 in [101, 101, 103] {
            try work.publish(.update, key: "a", deltas: ["balance": .int(1)], origin: "unit-a", sequence: sequence, incarnation: 100, partition: 0)
        }
        // Its next run begins at 1,000,000 but the first change in the log is 1,000,002.
        try work.publish(.update, key: "a", deltas: ["balance": .int(1)], origin: "unit-a", sequence: 1_000_002, incarnation: 1_000_000, partition: 0)
        // A producer that numbers its own way (no run): 5, then 9, is not checked.
        var other = account
        other["id"] = .string("b")
        try work.publish(.add, key: "b", fields: other, origin: "other", sequence: 5, partition: 0)
        try work.publish(.update, key: "b", deltas: ["balance": .int(1)], origin: "other", sequence: 9, partition: 0)
        try await fixture.publish(work.messages)

        let first = try await fixture.runWriter(until: { $0.consumed >= 7 })
        #expect(first.sequenceGaps == 2 && first.missingChanges == 3, "\(first)")
        #expect(first.duplicates == 1 && first.deadLettered == 0, "\(first)")

        // A writer resuming from the ledger still knows run 1,000,000: 1,000,004 after
        // 1,000,002 is a hole, 1,000,005 after it is not.
        var more = Workload(topic: fixture.topic)
        for sequence: Int64 in [1_000_004, 1_000_005] {
            try more.publish(.update, key: "a", deltas: ["balance": .int(1)], origin: "unit-a", sequence: sequence, incarnation: 1_000_000, partition: 0)
        }
        try await fixture.publish(more.messages)
        let resumed = try await fixture.runWriter(until: { $0.consumed >= 2 })
        #expect(resumed.sequenceGaps == 1 && resumed.missingChanges == 1, "\(resumed)")

        // Every change after a hole still took effect: 1 + 5 increments (the resend once).
        #expect(try await fixture.rows()[ExactKey("a")]?["balance"] == "6")
        let recorded = try await fixture.db.query(
            "SELECT origin, incarnation, first_missing, next_present, found_at_offset FROM pumphouse_writer_sequence_gaps WHERE writer = $1 ORDER BY first_missing",
            [fixture.name]
        ).rows
        #expect(recorded == [
            ["unit-a", "100", "102", "103", "3"],
            ["unit-a", "1000000", "1000000", "1000002", "4"],
            ["unit-a", "1000000", "1000003", "1000004", "7"],
        ])

        let replayed = try await TopicReplay(configuration: fixture.configuration, cache: try ContractName("bench.Account"), logger: WriterFixture.logger).fold()
        #expect(replayed.sequenceGaps.map { "\($0.origin) \($0.missing) @\($0.foundAt)" } == [
            "unit-a 102..<103 @3", "unit-a 1000000..<1000002 @4", "unit-a 1000003..<1000004 @7",
        ])
        let cli = try await PumphouseProcess.run(["replay", "--config", "\(fixture.directory)/pipeline.yaml", "--cache", "bench.Account"])
        #expect(cli.status == 0, "\(cli.errors)")
        #expect(cli.output.contains("the topic misses 4 change(s) its origins numbered, in 3 gap(s):"), "\(cli.output)")
        #expect(cli.output.contains(#"origin "unit-a" has no change numbered 1000000..<1000002 (2) in \#(fixture.topic)[0] before offset 4"#), "\(cli.output)")
    }
}

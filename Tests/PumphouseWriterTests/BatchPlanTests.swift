import PumphouseContracts
import PumphouseKafka
import PumphouseTestSupport
@testable import PumphouseWriter
import Testing

/// The batch plan alone, no broker or database: what it passes over is counted.
@Suite("Batch plan")
struct BatchPlanTests {
    @Test("messages passed over are counted: below the claim's stored offset, and of a partition without a claim; the rest is applied")
    func passedOver() throws {
        let registry = try SchemaRepository(directory: "\(PumphouseProcess.repository)/Schemas").load()
        var work = Workload(topic: "t")
        for (index, key) in ["applied-before", "applied", "unclaimed"].enumerated() { try work.add(key, balance: Int64(index)) }
        // Offsets 0 and 1 in partition 0, whose claim resumes at 1; offset 2 in partition
        // 1, which this member does not hold.
        let messages = work.messages.enumerated().map { offset, message in
            KafkaMessage(topic: "t", partition: offset == 2 ? 1 : 0, offset: Int64(offset), key: message.key, value: message.value, headers: message.headers)
        }
        let claims = [KafkaTopicPartition(topic: "t", partition: 0): WriterLedger.Claim(epoch: 1, nextOffset: 1, maxSequence: [:])]
        let plan = BatchPlan(messages: messages, claims: claims, registry: registry, accepts: { _, _ in true })
        #expect(plan.appliedBefore == 1)
        #expect(plan.unclaimed == 1)
        #expect(plan.entities.keys.map(\.key) == [ExactKey("applied")])
        #expect(plan.duplicates == 0 && plan.deadLetters.isEmpty)
        #expect(plan.nextOffsets == [KafkaTopicPartition(topic: "t", partition: 0): 2])
    }

    @Test("a hole in a unit's numbering is a gap of the plan, with its numbers and offset, unless compaction may have made it")
    func sequenceGapUnlessCompacted() throws {
        let registry = try SchemaRepository(directory: "\(PumphouseProcess.repository)/Schemas").load()
        var work = Workload(topic: "t")
        try work.add("a", balance: 1)
        for sequence: Int64 in [10, 11, 14] {
            try work.publish(.update, key: "a", deltas: ["balance": .int(1)], sequence: sequence, incarnation: 10)
        }
        let messages = work.messages.enumerated().map { offset, message in
            KafkaMessage(topic: "t", partition: 0, offset: Int64(offset), key: message.key, value: message.value, headers: message.headers)
        }
        let partition = KafkaTopicPartition(topic: "t", partition: 0)
        let claims = [partition: WriterLedger.Claim(epoch: 1, nextOffset: nil, maxSequence: [:])]
        let plan = BatchPlan(messages: messages, claims: claims, registry: registry, accepts: { _, _ in true })
        #expect(plan.gaps == [SequenceGap(partition: partition, origin: "unit-a", incarnation: 10, missing: 12..<14, foundAt: 3)])
        #expect(plan.sequences[partition]?[ExactKey("unit-a")] == SequenceContinuity.Mark(sequence: 14, incarnation: 10))
        let compacted = BatchPlan(messages: messages, claims: claims, registry: registry, compacted: ["t"], accepts: { _, _ in true })
        #expect(compacted.gaps.isEmpty)
        #expect(compacted.sequences == plan.sequences)
    }

    @Test("a partition met again later in the batch goes on where its last run stopped: numbering, duplicates, offsets, and one fold per key")
    func interleavedPartitions() throws {
        let registry = try SchemaRepository(directory: "\(PumphouseProcess.repository)/Schemas").load()
        var work = Workload(topic: "t")
        func row(_ key: String) -> JSONObject {
            ["id": .string(key), "owner": .string("o"), "balance": .int(1), "currency": .string("EUR"), "status": .string("open"), "updatedAt": .int(0)]
        }
        // One unit's run (incarnation 1) over two partitions: 1 and 3 in partition 0, 2
        // and 4 in partition 1, then 3 again (a duplicate) and 7 in partition 0.
        try work.publish(.add, key: "a", fields: row("a"), sequence: 1, incarnation: 1)
        try work.publish(.add, key: "b", fields: row("b"), sequence: 2, incarnation: 1)
        try work.publish(.update, key: "a", deltas: ["balance": .int(1)], sequence: 3, incarnation: 1)
        try work.publish(.update, key: "b", deltas: ["balance": .int(1)], sequence: 4, incarnation: 1)
        try work.publish(.update, key: "a", deltas: ["balance": .int(1)], sequence: 3, incarnation: 1)
        try work.publish(.update, key: "a", deltas: ["balance": .int(1)], sequence: 7, incarnation: 1)
        let partitions: [Int32] = [0, 1, 0, 1, 0, 0]
        let messages = work.messages.enumerated().map { offset, message in
            KafkaMessage(topic: "t", partition: partitions[offset], offset: Int64(offset), key: message.key, value: message.value, headers: message.headers)
        }
        let zero = KafkaTopicPartition(topic: "t", partition: 0), one = KafkaTopicPartition(topic: "t", partition: 1)
        let claims = [zero: WriterLedger.Claim(epoch: 1, nextOffset: nil, maxSequence: [:]), one: WriterLedger.Claim(epoch: 1, nextOffset: nil, maxSequence: [:])]
        let plan = BatchPlan(messages: messages, claims: claims, registry: registry, accepts: { _, _ in true })
        #expect(plan.duplicates == 1)
        // Numbering is judged per partition: 1, 3, 7 in partition 0 has two holes, 2, 4 in
        // partition 1 one; a run that forgot where partition 0 stood would find none at 7.
        #expect(plan.gaps.map(\.missing) == [2..<3, 3..<4, 4..<7])
        #expect(plan.gaps.map(\.partition) == [zero, one, zero])
        #expect(plan.sequences[zero]?[ExactKey("unit-a")]?.sequence == 7)
        #expect(plan.sequences[one]?[ExactKey("unit-a")]?.sequence == 4)
        #expect(plan.nextOffsets == [zero: 6, one: 4])
        #expect(plan.order.map(\.key) == [ExactKey("a"), ExactKey("b")])
        var folded = row("a")
        folded["balance"] = .int(3)
        #expect(plan.entities[plan.order[0]]?.effect == .upsert(folded))
        #expect(plan.entities[plan.order[0]]?.messages.map(\.offset) == [0, 2, 5])
    }
}

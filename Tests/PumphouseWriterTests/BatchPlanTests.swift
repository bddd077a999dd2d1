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
}

import Foundation
import PumphouseContracts
import PumphouseKafka
import PumphouseLoad
import PumphouseTestSupport
import PumphouseUnit
import Testing

/// The change path under concurrency, checked against the topic itself, read with a plain
/// consumer: what the pump sent, in what order, with which sequence numbers.
@Suite("The change path under concurrent putters", .localStack, .removingWhatItMakes, .serialized, .timeLimit(.minutes(4)))
struct ChangePathTests {
    @Test(
        "8 putters: the topic holds every change once, each partition's sequences contiguous and in offset order, each key in librdkafka's partition, and a peer and the table agree",
        arguments: [1, 4]
    )
    func concurrentPutters(partitions: Int) async throws {
        let fixture = try await UnitFixture(partitions: partitions)
        try await fixture.prepare()
        let unit = try fixture.unit("putters")
        let observer = try fixture.unit("observer")
        let caches = try [unit, observer].map { try $0.cache(BenchAccount.self) }
        let putters = 8, perPutter = 400
        try await running([unit, observer]) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for putter in 0..<putters {
                    group.addTask {
                        // Each putter opens its own accounts, then adds to them: per-key order
                        // matters (an increment before its open would find no entity).
                        for step in 0..<perPutter {
                            let key = "p\(putter)-\(step % 20)"
                            if step < 20 {
                                try caches[0].put(BenchAccount(id: key, balance: 0))
                            } else {
                                try caches[0].increment(key, "balance", by: 1)
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            var expected: [ExactKey: BenchAccount] = [:]
            for putter in 0..<putters {
                for index in 0..<20 {
                    let key = "p\(putter)-\(index)"
                    expected[ExactKey(key)] = BenchAccount(id: key, balance: Int64((perPutter - 20) / 20))
                }
            }
            try await awaitState(caches, expected, "the putters' changes on their unit and on a peer")
            // No own change was fenced, resent or withdrawn, so every echo is of the
            // oldest change pending on its key, and none is decoded again.
            _ = try? await waitFor("every echo of the putters' unit", timeout: .seconds(30)) { () async throws -> Bool? in
                if unit.ownEchoesApplied >= putters * perPutter { return true }
                try await Task.sleep(for: .milliseconds(5))
                return nil
            }
            #expect(unit.ownEchoesApplied == putters * perPutter, "echoes applied as kept, of the unit's \(putters * perPutter) changes")
            #expect(observer.ownEchoesApplied == 0, "a peer decodes what it did not write")
        }

        // The topic, read plainly: this unit's contracts in offset order, per partition.
        var consumerConfiguration = KafkaConsumerConfiguration(connection: fixture.pipeline.kafka)
        consumerConfiguration.reportPartitionEOF = true
        let consumer = try KafkaConsumer(configuration: consumerConfiguration, logger: UnitFixture.logger)
        try await consumer.assign((0..<Int32(partitions)).map { KafkaTopicPartitionOffset(topic: fixture.topic, partition: $0, offset: .beginning) })
        let placement = KafkaKeyPartitioner(partitionCount: Int32(partitions))
        var sequences: [Int32: [Int64]] = [:]
        var misplaced: [String] = []
        var ended: Set<Int32> = []
        _ = try await waitFor("the whole topic read", timeout: .seconds(60)) { () -> Bool? in
            for event in try await consumer.poll(maxMessages: 10_000, timeout: .milliseconds(200)) {
                switch event {
                case .messages(let messages):
                    for message in messages {
                        let contract = try ContractCodec().decode(key: message.key, value: message.value)
                        guard contract.origin.isSameBytes(as: unit.id) else { continue }
                        sequences[message.partition, default: []].append(contract.sequence)
                        if placement.partition(ofKey: message.key ?? []) != message.partition { misplaced.append(contract.key) }
                    }
                case .partitionEOF(let partition, _):
                    ended.insert(partition.partition)
                default:
                    break
                }
            }
            return ended.count == partitions && sequences.values.reduce(0, { $0 + $1.count }) >= putters * perPutter ? true : nil
        }
        try await consumer.close()
        #expect(sequences.values.reduce(0, { $0 + $1.count }) == putters * perPutter, "every change once on the topic")
        #expect(misplaced.isEmpty, "keys outside the partition librdkafka's partitioner gives them")
        for (partition, found) in sequences {
            #expect(found == Array(found[0]..<(found[0] + Int64(found.count))), "partition \(partition): contiguous sequences, in offset order")
        }
        if partitions > 1 { #expect(sequences.count > 1, "the keys spread over the partitions") }
        try await fixture.awaitWritten(Dictionary(uniqueKeysWithValues: (0..<putters).flatMap { putter in
            (0..<20).map { (ExactKey("p\(putter)-\($0)"), Int64((perPutter - 20) / 20)) }
        }))
    }

    @Test("a change put after a quiet spell, while the pump's sending thread sleeps, still reaches a peer, and so do changes in a burst after it")
    func putWakesSleepingSender() async throws {
        let fixture = try await UnitFixture(partitions: 2)
        try await fixture.prepare()
        let unit = try fixture.unit("sleeper")
        let observer = try fixture.unit("observer")
        let caches = try [unit, observer].map { try $0.cache(BenchAccount.self) }
        try await running([unit, observer]) {
            try caches[0].put(BenchAccount(id: "quiet-0", balance: 1))
            try await awaitState(caches, [ExactKey("quiet-0"): BenchAccount(id: "quiet-0", balance: 1)], "the first change on a peer")
            for round in 1...3 {
                _ = try await waitFor("the sending thread to fall asleep after a millisecond without work", timeout: .seconds(10)) { () -> Bool? in
                    try await Task.sleep(for: .milliseconds(5))
                    return unit.pumpSenderAsleep ? true : nil
                }
                try caches[0].put(BenchAccount(id: "quiet-\(round)", balance: Int64(round)))
                for _ in 0..<50 { try caches[0].increment("quiet-\(round)", "balance", by: 1) }
            }
            var expected: [ExactKey: BenchAccount] = [ExactKey("quiet-0"): BenchAccount(id: "quiet-0", balance: 1)]
            for round in 1...3 { expected[ExactKey("quiet-\(round)")] = BenchAccount(id: "quiet-\(round)", balance: Int64(round + 50)) }
            try await awaitState(caches, expected, "every change put after the thread fell asleep, on a peer")
        }
    }

    @Test("a producer queue far smaller than a burst: every change still reaches a peer, in order per key, from the puts and then from the sending thread they leave the rest to")
    func fullProducerQueue() async throws {
        // librdkafka takes four messages at a time here; a put that finds its queue full
        // leaves the rest of the lane to the pump's sending thread.
        let fixture = try await UnitFixture(partitions: 2, kafkaProperties: "\"queue.buffering.max.messages\": \"4\"")
        try await fixture.prepare()
        let unit = try fixture.unit("burst")
        let observer = try fixture.unit("observer")
        let caches = try [unit, observer].map { try $0.cache(BenchAccount.self) }
        try await running([unit, observer]) {
            for index in 0..<50 { try caches[0].put(BenchAccount(id: "b-\(index)", balance: 0)) }
            for round in 1...10 {
                for index in 0..<50 { try caches[0].increment("b-\(index)", "balance", by: Int64(round)) }
            }
            let expected = Dictionary(uniqueKeysWithValues: (0..<50).map { (ExactKey("b-\($0)"), BenchAccount(id: "b-\($0)", balance: 55)) })
            try await awaitState(caches, expected, "550 changes through a four-message producer queue, on a peer")
        }
    }
}

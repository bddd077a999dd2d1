import Foundation
import PumphouseKafka
import PumphouseTestSupport
import Testing

/// Gaps in a partition's offsets against the real broker: ones no record fills, and
/// ones a fetch leaves while concurrent producers write (see `OffsetContinuity`).
@Suite("Offset gaps", .localStack, .removingWhatItMakes, .timeLimit(.minutes(2)))
struct OffsetGapTests {
    @Test("transaction markers leave gaps: read again for the window, then every record is delivered in order and the gaps counted absent")
    func transactionMarkers() async throws {
        let topic = try await TestCluster.createTopic(partitions: 1)
        try TransactionalProducer.commit((0..<4).map { [TransactionalProducer.Record(topic: topic, partition: 0, key: nil, value: Array("v\($0)".utf8))] }, brokers: TestStack.kafkaBrokers)
        var connection = TestCluster.connection
        connection.offsetGapRecheck = .milliseconds(100)
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(connection: connection), logger: TestCluster.logger)
        try await consumer.assign([KafkaTopicPartitionOffset(topic: topic, partition: 0, offset: KafkaOffset(0))])
        var received: [KafkaMessage] = []
        _ = try await waitFor("the 4 committed records of \(topic)", timeout: .seconds(30)) { () -> Bool? in
            for case .messages(let batch) in try await consumer.poll() { received += batch }
            return received.count >= 4 ? true : nil
        }
        let gaps = consumer.offsetGaps
        try await consumer.close()
        #expect(received.map(\.valueString) == ["v0", "v1", "v2", "v3"])
        let offsets = received.map(\.offset)
        #expect(offsets == offsets.sorted() && Set(offsets).count == 4)
        // Each commit marker after the first three records holds one offset between them.
        let holes = zip(offsets, offsets.dropFirst()).filter { $1 > $0 + 1 }.count
        #expect(holes == 3, "offsets \(offsets): one commit marker between consecutive records")
        #expect(gaps.absent == holes && gaps.reread == 0)
    }

    @Test("concurrent producers: a consumer reading at the log's end gets every record, each offset of each partition once, in order")
    func concurrentProducers() async throws {
        let partitions = 4
        let topic = try await TestCluster.createTopic(partitions: partitions)
        var connection = TestCluster.connection
        // Short fetch waits: fetches at the log's end, while produce requests land.
        connection.properties["fetch.wait.max.ms"] = "10"
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(connection: connection), logger: TestCluster.logger)
        try await consumer.assign((0..<partitions).map { KafkaTopicPartitionOffset(topic: topic, partition: Int32($0), offset: KafkaOffset(0)) })
        let producers = 3
        let perProducer = Int(ProcessInfo.processInfo.environment["GAP_TEST_RECORDS"] ?? "") ?? 30_000
        let sending = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<producers {
                    group.addTask {
                        let producer = try TestCluster.producer()
                        for sequence in 0..<perProducer {
                            _ = try await producer.send(KafkaProducerMessage(topic: topic, key: "k\(sequence % 50)", value: "\(index):\(sequence)"), waitingForRoomEvery: .milliseconds(1))
                            // Bursts, so the consumer keeps up and fetches at the log's end,
                            // where records of concurrent produce requests become readable.
                            if sequence % 200 == 199 { try await Task.sleep(for: .milliseconds(2)) }
                        }
                        try await producer.flush(timeout: .seconds(60))
                    }
                }
                try await group.waitForAll()
            }
        }
        var offsets: [Int32: [Int64]] = [:]
        var values = Set<String>()
        var count = 0
        _ = try await waitFor("all \(producers * perProducer) records of \(topic)", timeout: .seconds(90)) { () -> Bool? in
            for case .messages(let batch) in try await consumer.poll(maxMessages: 10_000) {
                for message in batch {
                    offsets[message.partition, default: []].append(message.offset)
                    values.insert(message.valueString ?? "")
                }
                count += batch.count
            }
            return count >= producers * perProducer ? true : nil
        }
        try await sending.value
        let gaps = consumer.offsetGaps
        try await consumer.close()
        TestCluster.logger.info("offset gaps with \(producers) concurrent producers: \(gaps.reread) read again, \(gaps.absent) absent")
        for (partition, delivered) in offsets.sorted(by: { $0.key < $1.key }) {
            #expect(delivered == Array(0..<Int64(delivered.count)), "partition \(partition): offsets delivered out of order, skipped or twice")
        }
        #expect(values.count == producers * perProducer)
        #expect(gaps.absent == 0)
    }
}

import PumphouseKafka
import PumphouseTestSupport
import Testing

@Suite("Kafka watermarks", .localStack, .removingWhatItMakes, .timeLimit(.minutes(1)))
struct KafkaWatermarkTests {
    @Test("watermarks come from a fetch: the end of each partition, also of an empty one")
    func watermarks() async throws {
        let topic = try await TestCluster.createTopic(partitions: 2)
        let producer = try TestCluster.producer()
        for index in 0..<7 {
            try producer.send(KafkaProducerMessage(topic: topic, partition: 0, key: "k", value: "\(index)"))
        }
        try await producer.flush(timeout: .seconds(30))
        let partitions = [KafkaTopicPartition(topic: topic, partition: 0), KafkaTopicPartition(topic: topic, partition: 1)]
        let found = try await KafkaConsumer.watermarks(
            of: partitions, configuration: KafkaConsumerConfiguration(connection: TestCluster.connection),
            until: .now.advanced(by: .seconds(20)), logger: TestCluster.logger
        )
        #expect(found[partitions[0]]?.high == 7)
        #expect(found[partitions[1]]?.high == 0)
        #expect(found[partitions[0]].map { $0.low <= 0 } == true)
    }

    @Test("readToEnd reads from where it was assigned to the end as it found it")
    func readToEnd() async throws {
        let topic = try await TestCluster.createTopic(partitions: 1)
        let producer = try TestCluster.producer()
        for index in 0..<20 {
            try producer.send(KafkaProducerMessage(topic: topic, key: "k", value: "\(index)"))
        }
        try await producer.flush(timeout: .seconds(30))
        let partition = KafkaTopicPartition(topic: topic, partition: 0)
        let consumer = try TestCluster.consumer()
        try await consumer.assign([KafkaTopicPartitionOffset(partition, offset: KafkaOffset(5))])
        var offsets: [Int64] = []
        let found = try await consumer.readToEnd([partition], until: .now.advanced(by: .seconds(20))) { offsets += $0.map(\.offset) }
        try await consumer.close()
        #expect(offsets == Array(5..<20))
        #expect(found[partition]?.high == 20)
    }

    @Test("an unreachable broker ends the wait at the deadline with a timedOut error naming the partitions")
    func unreachable() async throws {
        let started = ContinuousClock.now
        await #expect {
            _ = try await KafkaConsumer.watermarks(
                of: [KafkaTopicPartition(topic: "nowhere", partition: 0)],
                configuration: KafkaConsumerConfiguration(connection: KafkaConnectionConfiguration(brokers: "127.0.0.1:1")),
                until: .now.advanced(by: .seconds(2)), logger: TestCluster.logger
            )
        } throws: { error in
            (error as? KafkaError)?.code == .timedOut && "\(error)".contains("nowhere[0]")
        }
        #expect(ContinuousClock.now - started < .seconds(6))
    }
}

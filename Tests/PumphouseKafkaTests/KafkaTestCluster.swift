import Logging
import PumphouseKafka
import PumphouseTestSupport

/// Clients wired to the local stack's broker, with a fresh topic per test.
enum TestCluster {
    static let logger = TestStack.logger("pumphouse.tests.kafka")

    static var connection: KafkaConnectionConfiguration {
        KafkaConnectionConfiguration(brokers: TestStack.kafkaBrokers, clientID: "pumphouse-tests")
    }

    static func admin() throws -> KafkaAdmin {
        try KafkaAdmin(configuration: KafkaAdminConfiguration(connection: connection), logger: logger)
    }

    /// Creates a topic with a unique name; the local broker must not auto-create topics.
    static func createTopic(partitions: Int) async throws -> String {
        let name = TestStack.uniqueName("test")
        try await admin().createTopics([KafkaTopicSpecification(name: name, partitions: partitions)])
        return name
    }

    static func producer(onDelivery: KafkaProducer.DeliveryHandler? = nil) throws -> KafkaProducer {
        var configuration = KafkaProducerConfiguration(connection: connection)
        configuration.linger = .milliseconds(1)
        return try KafkaProducer(configuration: configuration, logger: logger, onDelivery: onDelivery)
    }

    static func consumer(group: String? = nil) throws -> KafkaConsumer {
        try KafkaConsumer(configuration: KafkaConsumerConfiguration(connection: connection, groupID: group), logger: logger)
    }

    /// Consumes from every partition of `topic` from the beginning until each one
    /// reported its end, and returns the messages in consumption order.
    static func readAll(_ topic: String, partitions: Int, timeout: Duration = .seconds(30)) async throws -> [KafkaMessage] {
        let consumer = try consumer()
        try await consumer.assign((0..<partitions).map { KafkaTopicPartitionOffset(topic: topic, partition: Int32($0), offset: .beginning) })
        var messages: [KafkaMessage] = []
        var ended = Set<Int32>()
        _ = try await waitFor("end of all \(partitions) partitions of \(topic)", timeout: timeout) { () -> Bool? in
            for event in try await consumer.poll() {
                switch event {
                case .messages(let batch): messages += batch
                case .partitionEOF(let partition, _): ended.insert(partition.partition)
                default: break
                }
            }
            return ended.count == partitions ? true : nil
        }
        try await consumer.close()
        return messages
    }
}

extension KafkaMessage {
    var valueString: String? { value.map { String(decoding: $0, as: UTF8.self) } }
    var keyString: String? { key.map { String(decoding: $0, as: UTF8.self) } }
}

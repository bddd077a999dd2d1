import PumphouseKafka
import PumphouseTestSupport
import Synchronization
import Testing

@Suite("Kafka errors are clear and bounded", .localStack, .removingWhatItMakes, .timeLimit(.minutes(1)))
struct KafkaFailureTests {
    /// Nothing listens on port 1 of loopback.
    static let unreachable = KafkaConnectionConfiguration(bootstrapServers: ["127.0.0.1:1"], clientID: "unreachable")

    @Test("an unreachable cluster fails an admin call within its timeout")
    func unreachableAdmin() async throws {
        var configuration = KafkaAdminConfiguration(connection: Self.unreachable)
        configuration.requestTimeout = .seconds(2)
        let admin = try KafkaAdmin(configuration: configuration, logger: TestCluster.logger)
        let error = try await #require(throws: KafkaError.self) { try await admin.listTopics() }
        #expect([KafkaError.Code.transport, .timedOut, .allBrokersDown].contains(error.code), "\(error)")
        #expect(error.description.contains("list topics"))
    }

    @Test("a message to an unreachable cluster is reported failed after messageTimeout")
    func unreachableProducer() async throws {
        var configuration = KafkaProducerConfiguration(connection: Self.unreachable)
        configuration.messageTimeout = .seconds(2)
        let producer = try KafkaProducer(configuration: configuration, logger: TestCluster.logger)
        let error = try await #require(throws: KafkaError.self) {
            try await producer.deliver(KafkaProducerMessage(topic: "nowhere", key: "k", value: "v"))
        }
        #expect(error.code == .messageTimedOut, "\(error)")
    }

    @Test("a producer shut down from a cancelled task still reports every message it held as failed, and a deliver still waiting is answered")
    func cancelledShutdown() async throws {
        let reports = Mutex<[KafkaDeliveryReport]>([])
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(connection: Self.unreachable), logger: TestCluster.logger) { report in
            reports.withLock { $0.append(report) }
        }
        for index in 0..<5 { try producer.send(KafkaProducerMessage(topic: "nowhere", key: "k\(index)", value: "v")) }
        let waiting = Task { try await producer.deliver(KafkaProducerMessage(topic: "nowhere", key: "awaited", value: "v")) }
        // Until the awaited message is queued too: the shutdown must answer it.
        _ = try await waitFor("the awaited message to be queued", timeout: .seconds(10)) { producer.pendingCount == 6 ? true : nil }
        let stopping = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await producer.shutdown(timeout: .milliseconds(200))
        }
        await #expect(throws: (any Error).self, "an unreachable cluster acknowledges nothing") { try await stopping.value }
        #expect(reports.withLock { report in report.count } == 5, "every sent message is reported, none dropped")
        #expect(reports.withLock { $0.allSatisfy { if case .failed = $0 { true } else { false } } })
        await #expect(throws: KafkaError.self, "the waiting deliver is answered, not left hanging") { try await waiting.value }
    }

    @Test("a consumer of an unreachable cluster reports errors instead of staying silent")
    func unreachableConsumer() async throws {
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(connection: Self.unreachable), logger: TestCluster.logger)
        try await consumer.assign([KafkaTopicPartitionOffset(topic: "nowhere", partition: 0, offset: .beginning)])
        let error = try await waitFor("an error event", timeout: .seconds(20)) { () -> KafkaError? in
            for case .error(let error) in try await consumer.poll() { return error }
            return nil
        }
        #expect([KafkaError.Code.transport, .allBrokersDown].contains(error.code), "\(error)")
        try await consumer.close()
    }

    @Test("an offset a consumer cannot reset is an error naming its topic and partition, and only that one")
    func unresettableOffset() async throws {
        let gone = try await TestCluster.createTopic(partitions: 2)
        let readable = try await TestCluster.createTopic(partitions: 1)
        var configuration = KafkaConsumerConfiguration(connection: TestCluster.connection, groupID: TestStack.uniqueName("group"))
        configuration.autoOffsetReset = "error"
        let consumer = try KafkaConsumer(configuration: configuration, logger: TestCluster.logger)
        // The new group has committed nothing, so `.stored` has nothing to resume from and,
        // with resetting refused, nowhere to go: as for a unit whose offsets are gone.
        try await consumer.assign([
            KafkaTopicPartitionOffset(topic: readable, partition: 0, offset: .beginning),
            KafkaTopicPartitionOffset(topic: gone, partition: 1, offset: .stored),
        ])
        let error = try await waitFor("the offset reset error", timeout: .seconds(20)) { () -> KafkaError? in
            for case .error(let error) in try await consumer.poll() where error.code == .autoOffsetReset { return error }
            return nil
        }
        #expect(error.topicPartition == KafkaTopicPartition(topic: gone, partition: 1), "\(error)")
        #expect(error.description.contains("\(gone)[1]"), "\(error)")
        try await consumer.close()
    }

    @Test("an unknown librdkafka property fails construction and names the property")
    func unknownProperty() throws {
        let connection = KafkaConnectionConfiguration(bootstrapServers: ["127.0.0.1:1"], properties: ["no.such.property": "1"])
        let error = try #require(throws: KafkaError.self) {
            try KafkaProducer(configuration: KafkaProducerConfiguration(connection: connection), logger: TestCluster.logger)
        }
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("\"no.such.property\""))
        #expect(error.message.contains("spelling"))
    }

    @Test("an invalid value names the property, and a secret's value is never shown")
    func invalidValue() throws {
        let bad = KafkaConnectionConfiguration(bootstrapServers: ["127.0.0.1:1"], properties: ["acks": "sometimes"])
        let error = try #require(throws: KafkaError.self) {
            try KafkaProducer(configuration: KafkaProducerConfiguration(connection: bad), logger: TestCluster.logger)
        }
        #expect(error.message.contains("\"acks\" = \"sometimes\""))

        let secret = KafkaConnectionConfiguration(bootstrapServers: ["127.0.0.1:1"], properties: ["sasl.passwords": "hunter2"])
        let secretError = try #require(throws: KafkaError.self) {
            try KafkaConsumer(configuration: KafkaConsumerConfiguration(connection: secret), logger: TestCluster.logger)
        }
        #expect(secretError.message.contains("\"sasl.passwords\" = \"***\""))
        #expect(!secretError.description.contains("hunter2"))

        // A name this librdkafka does not know is never shown with its value (a newer
        // one's secret, say), and the secrets librdkafka marks sensitive are masked.
        let unknown = KafkaConnectionConfiguration(bootstrapServers: ["127.0.0.1:1"], properties: ["sasl.pasword": "hunter3"])
        let unknownError = try #require(throws: KafkaError.self) {
            try KafkaProducer(configuration: KafkaProducerConfiguration(connection: unknown), logger: TestCluster.logger)
        }
        #expect(unknownError.message.contains("\"sasl.pasword\" = \"***\"") && !unknownError.description.contains("hunter3"))
        for name in ["sasl.oauthbearer.assertion.private.key.passphrase", "sasl.oauthbearer.assertion.private.key.pem", "ssl.key.pem"] {
            #expect(KafkaSecrets.isSecret(property: name), "\(name)")
        }
    }

    @Test("subscribing without a group is refused")
    func subscribeWithoutGroup() async throws {
        let consumer = try TestCluster.consumer()
        let error = try await #require(throws: KafkaError.self) { try await consumer.subscribe(topics: ["t"]) }
        #expect(error.message.contains("groupID"))
    }

    @Test("secret properties are masked for logging")
    func redaction() {
        let shown = KafkaSecrets.redacted(["sasl.password": "p", "ssl.key.password": "k", "sasl.username": "u", "bootstrap.servers": "b"])
        #expect(shown == ["sasl.password": "***", "ssl.key.password": "***", "sasl.username": "u", "bootstrap.servers": "b"])
    }
}

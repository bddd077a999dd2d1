import PumphouseKafka
import PumphouseTestSupport
import Testing

@Suite("Kafka admin against the local broker", .localStack, .removingWhatItMakes, .timeLimit(.minutes(1)))
struct KafkaAdminTests {
    @Test("create, describe, list and delete topics")
    func lifecycle() async throws {
        let admin = try TestCluster.admin()
        let name = TestStack.uniqueName("admin")
        let spec = KafkaTopicSpecification(name: name, partitions: 3, configs: ["retention.ms": "3600000"])
        try await admin.createTopics([spec])
        let described = try await admin.describeTopic(name)
        #expect(described.partitions.map(\.id) == [0, 1, 2])
        #expect(try await admin.listTopics().contains { $0.name == name })

        try await admin.createTopics([spec], ifNotExists: true)
        let duplicate = try await #require(throws: KafkaError.self) {
            try await admin.createTopics([spec], ifNotExists: false)
        }
        #expect(duplicate.code == .topicAlreadyExists)

        try await admin.deleteTopics([name])
        let gone = try await waitFor("topic \(name) to disappear", timeout: .seconds(20)) { () -> Bool? in
            try await admin.listTopics().contains { $0.name == name } ? nil : true
        }
        #expect(gone)
        let missing = try await #require(throws: KafkaError.self) { try await admin.describeTopic(name) }
        #expect(missing.code == .unknownTopicOrPartition)
    }

    @Test("an invalid topic spec is rejected with the topic and the fix named", arguments: [
        (KafkaTopicSpecification(name: "no_partitions", partitions: 0), "at least 1 partition"),
        (KafkaTopicSpecification(name: "bad name;", partitions: 1), "use only letters"),
        (KafkaTopicSpecification(name: "", partitions: 1), "1 to 249 characters"),
        (KafkaTopicSpecification(name: "zero_rf", partitions: 1, replicationFactor: 0), "replication factor"),
    ])
    func invalidSpec(spec: KafkaTopicSpecification, fix: String) async throws {
        let admin = try TestCluster.admin()
        let error = try await #require(throws: KafkaError.self) { try await admin.createTopics([spec]) }
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("\"\(spec.name)\""))
        #expect(error.message.contains(fix))
    }
}

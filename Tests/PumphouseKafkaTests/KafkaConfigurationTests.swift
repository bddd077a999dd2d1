@testable import PumphouseKafka
import Testing

@Suite("Kafka client settings")
struct KafkaConfigurationTests {
    @Test("a consumer resumes fetching a full partition after 20 ms, not librdkafka's second; the pipeline's own properties still win")
    func fetchQueueBackoff() throws {
        // The runtime the stack installs has the setting; an older one would be refused it.
        try #require(Librdkafka.runtimeHasFetchQueueBackoff, "librdkafka \(Librdkafka.runtimeVersion) predates fetch.queue.backoff.ms")
        let connection = KafkaConnectionConfiguration(bootstrapServers: ["127.0.0.1:1"])
        #expect(KafkaConsumerConfiguration(connection: connection).librdkafkaProperties["fetch.queue.backoff.ms"] == "20")
        var tuned = KafkaConsumerConfiguration(connection: connection)
        tuned.fetchQueueBackoff = .milliseconds(250)
        #expect(tuned.librdkafkaProperties["fetch.queue.backoff.ms"] == "250")
        tuned.connection.properties["fetch.queue.backoff.ms"] = "5"
        #expect(tuned.librdkafkaProperties["fetch.queue.backoff.ms"] == "5")
        // librdkafka takes it: a consumer is made with it, and without a broker.
        _ = try KafkaConsumer(configuration: KafkaConsumerConfiguration(connection: connection), logger: TestCluster.logger)
    }

    @Test("a bounded read-ahead sets both of librdkafka's queue thresholds, librdkafka takes them, and the pipeline's own properties still win")
    func prefetch() throws {
        let connection = KafkaConnectionConfiguration(bootstrapServers: ["127.0.0.1:1"])
        var bounded = KafkaConsumerConfiguration(connection: connection)
        #expect(bounded.librdkafkaProperties["queued.max.messages.kbytes"] == nil && bounded.librdkafkaProperties["queued.min.messages"] == nil)
        bounded.prefetch = .init(kilobytes: 16 * 1024, messages: 30_000)
        #expect(bounded.librdkafkaProperties["queued.max.messages.kbytes"] == "16384")
        #expect(bounded.librdkafkaProperties["queued.min.messages"] == "30000")
        _ = try KafkaConsumer(configuration: bounded, logger: TestCluster.logger)
        bounded.connection.properties["queued.min.messages"] = "500"
        #expect(bounded.librdkafkaProperties["queued.min.messages"] == "500")
    }
}

extension KafkaConfigurationTests {
    @Test("a paced consumer puts a partition's next fetch off by its interval once one record is queued, over a bounded read-ahead; none or zero leaves librdkafka's fetching as it was; librdkafka takes it; the pipeline's own properties still win")
    func fetchInterval() throws {
        try #require(Librdkafka.runtimeHasFetchQueueBackoff, "librdkafka \(Librdkafka.runtimeVersion) predates fetch.queue.backoff.ms")
        let connection = KafkaConnectionConfiguration(bootstrapServers: ["127.0.0.1:1"])
        var paced = KafkaConsumerConfiguration(connection: connection)
        paced.prefetch = .init(kilobytes: 16 * 1024, messages: 5_000)
        let unpaced = paced.librdkafkaProperties
        paced.fetchInterval = .zero
        #expect(paced.librdkafkaProperties["queued.min.messages"] == unpaced["queued.min.messages"])
        #expect(paced.librdkafkaProperties["fetch.queue.backoff.ms"] == unpaced["fetch.queue.backoff.ms"])
        paced.fetchInterval = .milliseconds(50)
        #expect(paced.librdkafkaProperties["queued.min.messages"] == "1")
        #expect(paced.librdkafkaProperties["fetch.queue.backoff.ms"] == "50")
        #expect(paced.librdkafkaProperties["queued.max.messages.kbytes"] == "16384")
        _ = try KafkaConsumer(configuration: paced, logger: TestCluster.logger)
        paced.connection.properties["fetch.queue.backoff.ms"] = "7"
        #expect(paced.librdkafkaProperties["fetch.queue.backoff.ms"] == "7")
    }
}

extension KafkaConfigurationTests {
    /// librdkafka warns at every client given a property of the other kind; each kind
    /// gets its own and the shared ones, which its own override.
    @Test("producer properties reach producers alone and consumer properties consumers alone, after the shared ones; admin clients take neither")
    func propertiesByKind() throws {
        var connection = KafkaConnectionConfiguration(bootstrapServers: ["127.0.0.1:1"], properties: ["linger.ms": "9", "fetch.wait.max.ms": "400", "socket.timeout.ms": "7000"])
        connection.producerProperties = ["linger.ms": "2"]
        connection.consumerProperties = ["fetch.wait.max.ms": "100", "fetch.min.bytes": "10"]
        let producer = KafkaProducerConfiguration(connection: connection).librdkafkaProperties
        let consumer = KafkaConsumerConfiguration(connection: connection).librdkafkaProperties
        let admin = KafkaAdminConfiguration(connection: connection).librdkafkaProperties
        #expect(producer["linger.ms"] == "2" && producer["fetch.min.bytes"] == nil && producer["socket.timeout.ms"] == "7000")
        #expect(consumer["fetch.wait.max.ms"] == "100" && consumer["fetch.min.bytes"] == "10" && consumer["linger.ms"] == "9")
        #expect(admin["fetch.min.bytes"] == nil && admin["socket.timeout.ms"] == "7000")
        _ = try KafkaProducer(configuration: KafkaProducerConfiguration(connection: connection), logger: TestCluster.logger)
        _ = try KafkaConsumer(configuration: KafkaConsumerConfiguration(connection: connection), logger: TestCluster.logger)
        try RDKafkaConfig.check(connection.consumerProperties, operation: "test")
        let refusal = #expect(throws: KafkaError.self) { try RDKafkaConfig.check(["fetch.wait.max.mz": "5"], operation: "test") }
        #expect(String(describing: refusal).contains("fetch.wait.max.mz"), "\(String(describing: refusal))")
    }
}

@Suite("Kafka producer settings")
struct KafkaProducerConfigurationTests {
    @Test("produce requests in flight map to librdkafka's setting, which takes 1 with idempotence and refuses 6 by name; the pipeline's own properties still win")
    func maxInFlightRequests() throws {
        let connection = KafkaConnectionConfiguration(bootstrapServers: ["127.0.0.1:1"])
        var configuration = KafkaProducerConfiguration(connection: connection)
        #expect(configuration.librdkafkaProperties["max.in.flight.requests.per.connection"] == "5")
        configuration.maxInFlightRequests = 1
        #expect(configuration.librdkafkaProperties["max.in.flight.requests.per.connection"] == "1")
        _ = try KafkaProducer(configuration: configuration, logger: TestCluster.logger)
        configuration.maxInFlightRequests = 6
        let refusal = #expect(throws: KafkaError.self) { try KafkaProducer(configuration: configuration, logger: TestCluster.logger) }
        #expect(String(describing: refusal).contains("max.in.flight"), "\(String(describing: refusal))")
        configuration.connection.properties["max.in.flight.requests.per.connection"] = "3"
        #expect(configuration.librdkafkaProperties["max.in.flight.requests.per.connection"] == "3")
    }
}

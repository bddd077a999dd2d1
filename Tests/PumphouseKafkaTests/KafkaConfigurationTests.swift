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

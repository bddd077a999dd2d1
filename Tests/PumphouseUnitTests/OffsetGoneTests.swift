import PumphouseKafka
import PumphousePipeline
import PumphouseTestSupport
import Testing
@testable import PumphouseUnit

@Suite("A unit whose next offsets are gone names the right cache")
struct OffsetGoneTests {
    /// The local pipeline: four caches, so naming the first one by default shows.
    static func pipeline() throws -> PipelineConfiguration {
        try PipelineConfiguration.load(
            path: "\(PumphouseProcess.repository)/deploy/local/pipeline.yaml",
            environment: ["PUMPHOUSE_POSTGRES_URL": "postgresql://unused@127.0.0.1:1/unused"]
        )
    }

    /// The error librdkafka reports: its text names no topic.
    static func offsetResetError(_ partition: KafkaTopicPartition) -> KafkaError {
        KafkaError(code: .autoOffsetReset, message: "Local: No offset to automatically reset to", operation: "consume \(partition)", topicPartition: partition)
    }

    @Test("the reset error of a cache partition stops the unit with that cache's load error, whichever cache it is")
    func namesTheCache() throws {
        let pipeline = try Self.pipeline()
        try #require(pipeline.caches.count > 1)
        for cache in pipeline.caches {
            let partition = KafkaTopicPartition(topic: cache.topic, partition: 2)
            let stop = ProcessingUnit.offsetGone(Self.offsetResetError(partition), caches: pipeline.caches)
            let loadError = try #require(stop as? CacheLoadError, "\(stop)")
            #expect(loadError.cache == cache.contract, "\(loadError)")
            #expect(loadError.isPermanent)
            #expect(loadError.description.contains("\(cache.topic)[2]"), "\(loadError)")
        }
    }

    @Test("the reset error of a partition that is no cache's stops the unit with the Kafka error, naming no cache")
    func namesNoOtherCache() throws {
        let pipeline = try Self.pipeline()
        let error = Self.offsetResetError(KafkaTopicPartition(topic: pipeline.memberTopic, partition: 0))
        let stop = ProcessingUnit.offsetGone(error, caches: pipeline.caches)
        #expect(stop as? KafkaError == error, "\(stop)")
    }
}

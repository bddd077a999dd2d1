import ArgumentParser
import CRDKafka
import Foundation
import PumphouseCommandLine
import PumphouseKafka
import PumphousePipeline

/// The reference for replay: librdkafka alone reading every partition of a topic from
/// its beginning to its end, touching each message's key and value where librdkafka
/// holds them and copying nothing. A Python consumer served as the reference before; its
/// per-message interpreter work would flatter a replay's ratio, so the floor is measured
/// in the same language runtime as the replay and with the pipeline's client settings.
///
/// Runs on the main thread in a plain loop: the polls block, and this is the whole
/// process, so nothing else waits on them.
struct RawConsumeBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "raw-consume",
        abstract: "Messages/s of a bare librdkafka consumer reading a topic to its end (the reference for replay)."
    )

    @OptionGroup var pipeline: PipelineOptions

    @Option(help: "The topic to read, every partition from its beginning.")
    var topic: String

    @Option(help: "Give up after this many seconds.")
    var timeout: Int = 600

    func validate() throws {
        guard timeout > 0 else { throw ValidationError("--timeout must be at least 1 second") }
        guard !topic.isEmpty else { throw ValidationError("--topic must name a topic") }
    }

    func run() throws {
        var consumer = KafkaConsumerConfiguration(connection: try pipeline.load().kafka)
        consumer.reportPartitionEOF = true
        let handle = try Self.consumer(consumer.librdkafkaProperties)
        defer { rd_kafka_destroy(handle) }
        let partitions = try Self.partitions(of: topic, handle: handle)

        let started = ContinuousClock.now
        let list = rd_kafka_topic_partition_list_new(Int32(partitions.count))
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for partition in partitions {
            rd_kafka_topic_partition_list_add(list, topic, partition).pointee.offset = Int64(RD_KAFKA_OFFSET_BEGINNING)
        }
        guard rd_kafka_assign(handle, list) == RD_KAFKA_RESP_ERR_NO_ERROR else { throw BenchmarkFailure("could not assign the partitions of \(topic)") }

        let deadline = started.advanced(by: .seconds(timeout))
        var ended = Set<Int32>()
        var messages = 0
        var bytes = 0
        while ended.count < partitions.count {
            guard ContinuousClock.now < deadline else {
                throw BenchmarkFailure("\(topic) not read to its end within \(timeout) s (\(messages) messages so far)")
            }
            guard let message = rd_kafka_consumer_poll(handle, 100) else { continue }
            defer { rd_kafka_message_destroy(message) }
            switch message.pointee.err {
            case RD_KAFKA_RESP_ERR_NO_ERROR:
                messages += 1
                // Reading the lengths keeps the loop from being a count of nothing.
                bytes += message.pointee.len + message.pointee.key_len
            case RD_KAFKA_RESP_ERR__PARTITION_EOF:
                ended.insert(message.pointee.partition)
            default:
                throw BenchmarkFailure("consuming \(topic): \(String(cString: rd_kafka_err2str(message.pointee.err)))")
            }
        }
        let seconds = (ContinuousClock.now - started) / .seconds(1)
        rd_kafka_consumer_close(handle)
        Figures.say("bare librdkafka consumer: \(messages) messages (\(bytes) bytes) of \(topic) in \(String(format: "%.2f", seconds)) s")
        print("\(messages) \(String(format: "%.3f", seconds))")
    }

    private static func consumer(_ properties: [String: String]) throws -> OpaquePointer {
        let configuration = try RDKafkaConfig.make(properties, operation: "raw consume")
        var error = [CChar](repeating: 0, count: 512)
        // On success the handle owns the configuration.
        guard let handle = rd_kafka_new(RD_KAFKA_CONSUMER, configuration, &error, error.count) else {
            rd_kafka_conf_destroy(configuration)
            throw BenchmarkFailure("no librdkafka consumer: \(String(cBuffer: error))")
        }
        rd_kafka_poll_set_consumer(handle)
        return handle
    }

    /// The topic's partition ids, from the broker's metadata.
    private static func partitions(of topic: String, handle: OpaquePointer) throws -> [Int32] {
        guard let topicHandle = rd_kafka_topic_new(handle, topic, nil) else { throw BenchmarkFailure("no topic handle for \(topic)") }
        defer { rd_kafka_topic_destroy(topicHandle) }
        var metadata: UnsafePointer<rd_kafka_metadata>?
        guard rd_kafka_metadata(handle, 0, topicHandle, &metadata, 10_000) == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            throw BenchmarkFailure("no metadata for \(topic) within 10 s")
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        guard metadata.pointee.topic_cnt == 1, let described = metadata.pointee.topics, described.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR,
              described.pointee.partition_cnt > 0
        else { throw BenchmarkFailure("the broker describes no partitions of \(topic)") }
        return (0..<Int(described.pointee.partition_cnt)).map { described.pointee.partitions[$0].id }
    }
}

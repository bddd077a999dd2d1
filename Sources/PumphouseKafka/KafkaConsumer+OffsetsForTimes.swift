import CRDKafka
import Logging
import PumphouseBlocking

extension KafkaConsumer {
    /// For each partition, the offset of its first message with a timestamp at or after
    /// `milliseconds` (Unix epoch), or `.end` where no message is that recent.
    ///
    /// A type-level call with a short-lived client of its own: it is asked before anything
    /// is assigned, so the consumer that will read from these offsets does not exist yet.
    /// The broker answers through ListOffsets, which some brokers answer wrongly (the
    /// local Tansu broker returns 0 for every partition); callers that must be right on
    /// such a broker cannot rely on it.
    public static func offsets(
        forTimestamp milliseconds: Int64,
        in partitions: [KafkaTopicPartition],
        configuration: KafkaConsumerConfiguration,
        timeout: Duration = .seconds(10),
        logger: Logger
    ) async throws -> [KafkaTopicPartitionOffset] {
        let operation = "look up offsets for timestamp \(milliseconds) in \(partitions.sorted())"
        // The timestamp travels in the offset field, where negative values are librdkafka's
        // logical offsets (-2 beginning, -1 end) and would be answered as such.
        guard milliseconds >= 0 else {
            throw KafkaError.invalidArgument("timestamp \(milliseconds) is before 1970; pass milliseconds since the Unix epoch", operation: operation)
        }
        guard !partitions.isEmpty else { return [] }
        let handle = try RDKafkaHandle(
            kind: .consumer,
            properties: configuration.librdkafkaProperties,
            callbacks: RDKafkaCallbacks(logger: logger),
            operation: "create consumer to \(operation)"
        )
        return try await handle.run { handle throws(KafkaError) -> [KafkaTopicPartitionOffset] in
            // The list carries the timestamps in and the offsets out, in the same field.
            let list = RDKafkaTopicPartitionList.make(partitions.map { KafkaTopicPartitionOffset($0, offset: KafkaOffset(milliseconds)) })
            defer { rd_kafka_topic_partition_list_destroy(list) }
            let err = rd_kafka_offsets_for_times(handle, list, Int32(clamping: timeout.milliseconds))
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError(err, operation: operation, detail: err == RD_KAFKA_RESP_ERR__TIMED_OUT ? "no answer within \(timeout)" : nil)
            }
            return try RDKafkaTopicPartitionList.offsets(list, operation: operation).sorted { $0.topicPartition < $1.topicPartition }
        }
    }
}

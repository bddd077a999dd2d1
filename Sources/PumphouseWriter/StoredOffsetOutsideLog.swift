import PumphouseKafka

/// A partition's offset stored in PostgreSQL lies outside the partition's log, so the
/// log is not the one the database's progress describes, or part of it is gone unread.
///
/// Resuming anyway would lose changes without a word: the broker would move the
/// consumer to the log's start, and every message below the stored offset (all of a
/// recreated topic's first messages) would be skipped as applied before. A Kafka Streams
/// application stops on the same condition when its reset policy is `none`; the writer
/// stops too, and the operator decides.
public struct StoredOffsetOutsideLog: Error, CustomStringConvertible {
    public let writer: String
    public let partition: KafkaTopicPartition
    /// The next offset the writer stored with its rows.
    public let storedOffset: Int64
    /// The log's first and next offset, as the broker gave them after the report.
    public let watermarks: KafkaWatermarks

    public var description: String {
        let log =
            switch (watermarks.low, watermarks.high) {
            case (let low, let high) where low >= 0 && high > low: "holds offsets \(low) to \(high - 1)"
            case (_, let high) where high > 0: "ends before offset \(high)"
            default: "is empty"
            }
        let cause =
            storedOffset > watermarks.high
            ? "the stored offset is beyond the log's end: the topic was deleted and created again, or this database belongs to another cluster"
            : "the stored offset is below the log's start: retention deleted messages this writer never applied"
        return """
            writer \(writer) stored offset \(storedOffset) for \(partition) in pumphouse_writer_offsets, but the partition's log \(log): \(cause). \
            The writer stops rather than skip what it cannot account for. If the log is the one you mean to write from (a topic recreated on purpose, \
            or a loss you accept), remove the writer's progress for that topic so it starts from the log's beginning: \
            DELETE FROM pumphouse_writer_offsets WHERE writer = '\(writer)' AND topic = '\(partition.topic)'; \
            DELETE FROM pumphouse_writer_origins WHERE writer = '\(writer)' AND topic = '\(partition.topic)' (docs/writers.md, Stored offsets outside the log)
            """
    }
}

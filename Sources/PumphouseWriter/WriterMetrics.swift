import Metrics
import PumphouseKafka

/// The writer's metrics, through swift-metrics, so any backend works; the
/// `pumphouse writer` command exports them to Prometheus at /metrics.
struct WriterMetrics: Sendable {
    let writer: String
    let consumed: Counter
    let applied: Counter
    let duplicates: Counter
    let retries: Counter
    let isolatedBatches: Counter
    let batchSize: Recorder
    let batchDuration: Metrics.Timer
    let assignedPartitions: Gauge

    init(writer: String) {
        let dimensions = [("writer", writer)]
        self.writer = writer
        consumed = Counter(label: "pumphouse_writer_consumed_total", dimensions: dimensions)
        applied = Counter(label: "pumphouse_writer_applied_total", dimensions: dimensions)
        duplicates = Counter(label: "pumphouse_writer_duplicates_total", dimensions: dimensions)
        retries = Counter(label: "pumphouse_writer_retries_total", dimensions: dimensions)
        isolatedBatches = Counter(label: "pumphouse_writer_isolated_batches_total", dimensions: dimensions)
        batchSize = Recorder(label: "pumphouse_writer_batch_size", dimensions: dimensions, aggregate: true)
        batchDuration = Metrics.Timer(label: "pumphouse_writer_batch_duration_seconds", dimensions: dimensions, preferredDisplayUnit: .seconds)
        assignedPartitions = Gauge(label: "pumphouse_writer_assigned_partitions", dimensions: dimensions)
    }

    /// Messages passed over without effect (see `WriterStatistics.passedOverUnclaimed`).
    func passedOver(unclaimed: Int, appliedBefore: Int) {
        for (reason, count) in [("unclaimed", unclaimed), ("applied-before", appliedBefore)] where count > 0 {
            Counter(label: "pumphouse_writer_passed_over_total", dimensions: [("writer", writer), ("reason", reason)]).increment(by: count)
        }
    }

    /// Gaps in offsets found since the last batch (see `WriterStatistics.offsetGapsReread`).
    func offsetGaps(reread: Int, absent: Int) {
        for (outcome, count) in [("reread", reread), ("absent", absent)] where count > 0 {
            Counter(label: "pumphouse_writer_offset_gaps_total", dimensions: [("writer", writer), ("outcome", outcome)]).increment(by: count)
        }
    }

    /// Holes in origins' numbering a batch found (see `WriterStatistics.sequenceGaps`),
    /// by topic, and the changes they miss.
    func sequenceGaps(_ gaps: [SequenceGap]) {
        for (topic, found) in Dictionary(grouping: gaps, by: \.partition.topic) {
            let dimensions = [("writer", writer), ("topic", topic)]
            Counter(label: "pumphouse_writer_sequence_gaps_total", dimensions: dimensions).increment(by: found.count)
            Counter(label: "pumphouse_writer_missing_changes_total", dimensions: dimensions).increment(by: found.missingChanges)
        }
    }

    func deadLettered(reason: String, count: Int) {
        Counter(label: "pumphouse_writer_dead_lettered_total", dimensions: [("writer", writer), ("reason", reason)]).increment(by: count)
    }

    /// The stored next offset and the lag behind the high watermark the consumer last saw.
    func progress(_ partition: KafkaTopicPartition, nextOffset: Int64, highWatermark: Int64?) {
        let dimensions = [("writer", writer), ("topic", partition.topic), ("partition", String(partition.partition))]
        Gauge(label: "pumphouse_writer_stored_offset", dimensions: dimensions).record(nextOffset)
        if let highWatermark {
            Gauge(label: "pumphouse_writer_lag", dimensions: dimensions).record(max(0, highWatermark - nextOffset))
        }
    }
}

/// What one poll of a consumer yields, in the order it happened.
///
/// Messages before a rebalance event were fetched while their partitions were still
/// assigned; after `partitionsRevoked` the application may still commit offsets for the
/// revoked partitions until its next poll, which is when they are actually released.
public enum KafkaConsumerEvent: Sendable, Hashable {
    /// Consecutive messages, in partition order.
    case messages([KafkaMessage])
    /// The consumer has read everything in this partition up to `nextOffset` (the
    /// high watermark as the fetch saw it). More may arrive later.
    case partitionEOF(KafkaTopicPartition, nextOffset: Int64)
    /// The group gave this member these partitions; reading resumes from the committed
    /// offsets unless the application seeks elsewhere (e.g. to offsets it stores itself).
    case partitionsAssigned([KafkaTopicPartition])
    /// These partitions are being taken away. `lost` means they were already given to
    /// another member (session timed out), so committing for them will fail.
    case partitionsRevoked([KafkaTopicPartition], lost: Bool)
    /// A non-fatal problem librdkafka is working around (broker down, retrying).
    case error(KafkaError)
}

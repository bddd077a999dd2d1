import PumphouseContracts
import PumphouseKafka

/// A hole in an origin's numbering in one partition (`SequenceContinuity`): changes the
/// origin published, or meant to, that are not in the log before the change at
/// `foundAt`. A writer records each in pumphouse_writer_sequence_gaps; a replay lists
/// them.
public struct SequenceGap: Sendable, Hashable, CustomStringConvertible {
    public let partition: KafkaTopicPartition
    public let origin: String
    /// The run the missing numbers belong to.
    public let incarnation: Int64?
    public let missing: Range<Int64>
    /// The offset of the first change after the hole.
    public let foundAt: Int64

    public init(partition: KafkaTopicPartition, origin: String, incarnation: Int64?, missing: Range<Int64>, foundAt: Int64) {
        self.partition = partition
        self.origin = origin
        self.incarnation = incarnation
        self.missing = missing
        self.foundAt = foundAt
    }

    public var description: String {
        "origin \"\(origin)\" has no change numbered \(missing.lowerBound)..<\(missing.upperBound) (\(missing.count)) in \(partition.topic)[\(partition.partition)] before offset \(foundAt)"
    }
}

extension Sequence<SequenceGap> {
    /// The changes these gaps miss, all told.
    public var missingChanges: Int { reduce(0) { $0 + $1.missing.count } }
}

import PumphouseContracts
import PumphouseKafka
import PumphousePostgres

/// A writer's bookkeeping in PostgreSQL: which offsets are applied and which origin
/// sequence numbers were seen, per partition. Read when partitions are assigned,
/// written inside the transaction that applies a batch.
struct WriterLedger: Sendable {
    let writer: String
    let owner: String

    /// A partition this member claimed: the epoch that fences other members, where to
    /// resume, the highest sequence per origin already applied, and (in a partitioned
    /// cache) the units' ownership of the partition at that point of its log.
    struct Claim: Sendable {
        var epoch: Int64
        var nextOffset: Int64?
        /// By the origin's bytes: two units whose ids are equal Strings are still two origins.
        var maxSequence: [ExactKey: SequenceContinuity.Mark]
        var ownership = PartitionOwnership()
    }

    /// The partition now belongs to another member; its batch must not commit.
    struct Fenced: Error, CustomStringConvertible {
        let partition: KafkaTopicPartition
        var description: String { "partition \(partition) was claimed by another writer member; its batch was rolled back" }
    }

    func claim(_ partitions: [KafkaTopicPartition], on db: PostgresConnection) async throws -> [KafkaTopicPartition: Claim] {
        try await db.transaction { tx in
            var claims: [KafkaTopicPartition: Claim] = [:]
            for partition in partitions {
                let row = try await tx.query("""
                    INSERT INTO pumphouse_writer_offsets (writer, topic, partition, next_offset, epoch, owner)
                    VALUES ($1, $2, $3, -1, 1, $4)
                    ON CONFLICT (writer, topic, partition)
                    DO UPDATE SET epoch = pumphouse_writer_offsets.epoch + 1, owner = EXCLUDED.owner, updated_at = now()
                    RETURNING next_offset, epoch, ownership_term, partition_owner
                    """, [writer, partition.topic, partition.partition, owner]).namedRows[0]
                let next = try row.decode(Int64.self, "next_offset")
                var claim = Claim(
                    epoch: try row.decode(Int64.self, "epoch"), nextOffset: next >= 0 ? next : nil, maxSequence: [:],
                    ownership: PartitionOwnership(term: try row.decode(Int64.self, "ownership_term"), owner: row["partition_owner"])
                )
                for origin in try await tx.query(
                    "SELECT origin, max_seq, incarnation FROM pumphouse_writer_origins WHERE writer = $1 AND topic = $2 AND partition = $3",
                    [writer, partition.topic, partition.partition]
                ).namedRows {
                    let incarnation = origin["incarnation"] == nil ? nil : try origin.decode(Int64.self, "incarnation")
                    claim.maxSequence[ExactKey(try origin.decode(String.self, "origin"))] = SequenceContinuity.Mark(
                        sequence: try origin.decode(Int64.self, "max_seq"), incarnation: incarnation
                    )
                }
                claims[partition] = claim
            }
            return claims
        }
    }

    /// The statements that record a batch's progress, to run in the batch's transaction
    /// (pipelined with its rows), and the check of their results.
    struct Progress {
        var statements: [PostgresStatement] = []
        /// Index of each partition's offset update: it must change exactly one row.
        var fenceChecks: [(index: Int, partition: KafkaTopicPartition)] = []

        /// Throws `Fenced` if a partition was claimed by another member since this one
        /// claimed it; `results` are those of `statements`, in order.
        func check(_ results: ArraySlice<PostgresResult>) throws(Fenced) {
            for (index, partition) in fenceChecks where results[results.startIndex + index].affectedRows != 1 {
                throw Fenced(partition: partition)
            }
        }
    }

    /// `ownership` holds the partitions whose ownership the batch changed; the others keep
    /// their claim's (written again, unchanged).
    func progress(
        nextOffsets: [KafkaTopicPartition: Int64],
        sequences: [KafkaTopicPartition: [ExactKey: SequenceContinuity.Mark]],
        gaps: [SequenceGap] = [],
        ownership: [KafkaTopicPartition: PartitionOwnership],
        claims: [KafkaTopicPartition: Claim]
    ) throws(Fenced) -> Progress {
        var progress = Progress()
        for (partition, next) in nextOffsets.sorted(by: { $0.key < $1.key }) {
            guard let claim = claims[partition] else { throw Fenced(partition: partition) }
            progress.fenceChecks.append((progress.statements.count, partition))
            let owned = ownership[partition] ?? claim.ownership
            progress.statements.append(PostgresStatement(
                "UPDATE pumphouse_writer_offsets SET next_offset = $1, ownership_term = $6, partition_owner = $7, updated_at = now() WHERE writer = $2 AND topic = $3 AND partition = $4 AND epoch = $5",
                [next, writer, partition.topic, partition.partition, claim.epoch, owned.term, owned.owner]
            ))
        }
        for (partition, origins) in sequences.sorted(by: { $0.key < $1.key }) {
            for (origin, mark) in origins.sorted(by: { $0.key < $1.key }) {
                // The incarnation goes with the highest sequence, whichever row holds it.
                progress.statements.append(PostgresStatement("""
                    INSERT INTO pumphouse_writer_origins (writer, topic, partition, origin, max_seq, incarnation) VALUES ($1, $2, $3, $4, $5, $6)
                    ON CONFLICT (writer, topic, partition, origin) DO UPDATE SET
                        max_seq = GREATEST(pumphouse_writer_origins.max_seq, EXCLUDED.max_seq),
                        incarnation = CASE WHEN EXCLUDED.max_seq >= pumphouse_writer_origins.max_seq
                            THEN EXCLUDED.incarnation ELSE pumphouse_writer_origins.incarnation END
                    """, [writer, partition.topic, partition.partition, origin.text, mark.sequence, mark.incarnation]))
            }
        }
        for gap in gaps {
            progress.statements.append(PostgresStatement("""
                INSERT INTO pumphouse_writer_sequence_gaps (writer, topic, partition, origin, incarnation, first_missing, next_present, found_at_offset)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING
                """, [writer, gap.partition.topic, gap.partition.partition, gap.origin, gap.incarnation, gap.missing.lowerBound, gap.missing.upperBound, gap.foundAt]))
        }
        return progress
    }
}

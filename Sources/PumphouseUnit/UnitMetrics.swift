import Metrics

/// A processing unit's metrics, through swift-metrics (Prometheus at /metrics when the
/// hosting service bootstraps it).
struct UnitMetrics: Sendable {
    let unit: String
    let published: Counter
    let publishFailures: Counter
    let producerReplacements: Counter
    let refused: Counter
    let spoolPendingBytes: Gauge
    let backlog: Gauge

    init(unit: String) {
        let dimensions = [("unit", unit)]
        self.unit = unit
        published = Counter(label: "pumphouse_unit_published_total", dimensions: dimensions)
        publishFailures = Counter(label: "pumphouse_unit_publish_failures_total", dimensions: dimensions)
        producerReplacements = Counter(label: "pumphouse_unit_producer_replacements_total", dimensions: dimensions)
        refused = Counter(label: "pumphouse_unit_refused_changes_total", dimensions: dimensions)
        spoolPendingBytes = Gauge(label: "pumphouse_unit_spool_pending_bytes", dimensions: dimensions)
        backlog = Gauge(label: "pumphouse_unit_pump_backlog", dimensions: dimensions)
    }

    /// Gaps in the offsets of the topics this unit reads, found since the last call (see
    /// `KafkaConsumer.offsetGaps`): `reread` ones mean the broker served records out of
    /// offset order, which the unit's consumer recovered from.
    func offsetGaps(reread: Int, absent: Int) {
        for (outcome, count) in [("reread", reread), ("absent", absent)] where count > 0 {
            Counter(label: "pumphouse_unit_offset_gaps_total", dimensions: [("unit", unit), ("outcome", outcome)]).increment(by: count)
        }
    }

    /// Per cache: replication lag (a peer's change, from when it was made to when this
    /// replica applied it), collisions, changes this replica could not apply; and, by
    /// partition, what a partitioned cache's ownership did.
    struct Cache: Sendable {
        /// Changes this unit made to the cache: summed over the units, the update rate a
        /// collision forecast starts from (`pumphouse plan collisions --from-pipeline`).
        let changes: Counter
        let replicationLag: Metrics.Timer
        /// Changes applied from the log that were made against a version another change
        /// had already replaced. Every replica of a replicated cache counts each one.
        let collisions: Counter
        let rejected: Counter
        /// Holes in origins' numbering found in the log, and the changes they miss (see
        /// `SequenceContinuity`).
        let sequenceGaps: Counter
        let missingChanges: Counter
        /// Entities this replica holds (updated at every heartbeat): in a partitioned
        /// cache, those of the partitions this unit keeps.
        let entities: Gauge
        /// By partition: changes the partition's ownership fenced (a deposed owner's).
        let fenced: [Counter]
        /// A partitioned cache's partitions this unit owns, as its replica folded them.
        let ownedPartitions: Gauge
        /// By partition: 1 while this unit owns it (as its replica folded the claims).
        let owner: [Gauge]
        /// By partition: 1 while the assignment over the live members names this unit
        /// one of its backups.
        let backup: [Gauge]
        /// By why (`first`, `failover`, `leave`, `hand-over`, `reclaim`), then partition:
        /// ownership claims this unit made. A failover is never planned (a planned stop
        /// counts as `leave`), so any is worth an alert.
        let claims: [OwnershipSteward.Move: [Counter]]

        init(unit: String, cache: String, partitions: Int) {
            let dimensions = [("unit", unit), ("cache", cache)]
            let byPartition = (0..<partitions).map { dimensions + [("partition", String($0))] }
            ownedPartitions = Gauge(label: "pumphouse_unit_owned_partitions", dimensions: dimensions)
            owner = byPartition.map { Gauge(label: "pumphouse_unit_partition_owner", dimensions: $0) }
            backup = byPartition.map { Gauge(label: "pumphouse_unit_partition_backup", dimensions: $0) }
            claims = Dictionary(uniqueKeysWithValues: OwnershipSteward.Move.allCases.map { move in
                (move, byPartition.map { Counter(label: "pumphouse_unit_ownership_claims_total", dimensions: $0 + [("move", move.rawValue)]) })
            })
            changes = Counter(label: "pumphouse_unit_changes_total", dimensions: dimensions)
            replicationLag = Metrics.Timer(label: "pumphouse_unit_replication_lag_seconds", dimensions: dimensions, preferredDisplayUnit: .seconds)
            collisions = Counter(label: "pumphouse_unit_collisions_total", dimensions: dimensions)
            rejected = Counter(label: "pumphouse_unit_rejected_changes_total", dimensions: dimensions)
            sequenceGaps = Counter(label: "pumphouse_unit_sequence_gaps_total", dimensions: dimensions)
            missingChanges = Counter(label: "pumphouse_unit_missing_changes_total", dimensions: dimensions)
            entities = Gauge(label: "pumphouse_unit_cache_entities", dimensions: dimensions)
            fenced = byPartition.map { Counter(label: "pumphouse_unit_fenced_changes_total", dimensions: $0) }
        }
    }
}

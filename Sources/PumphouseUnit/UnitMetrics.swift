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

    /// Per cache: replication lag (a peer's change, from when it was made to when this
    /// replica applied it), collisions, changes this replica could not apply, and
    /// changes a partitioned cache's ownership fenced.
    struct Cache: Sendable {
        let replicationLag: Metrics.Timer
        let collisions: Counter
        let rejected: Counter
        /// Changes a partitioned cache's ownership fenced (a deposed owner's).
        let fenced: Counter
        /// A partitioned cache's partitions this unit owns, as its replica folded them.
        let ownedPartitions: Gauge
        /// Ownership claims this unit made, by why (`first`, `failover`, `hand-over`):
        /// failovers an operator did not plan are worth an alert.
        let claims: [OwnershipSteward.Move: Counter]

        init(unit: String, cache: String) {
            let dimensions = [("unit", unit), ("cache", cache)]
            ownedPartitions = Gauge(label: "pumphouse_unit_owned_partitions", dimensions: dimensions)
            claims = Dictionary(uniqueKeysWithValues: OwnershipSteward.Move.allCases.map { move in
                (move, Counter(label: "pumphouse_unit_ownership_claims_total", dimensions: dimensions + [("move", move.rawValue)]))
            })
            replicationLag = Metrics.Timer(label: "pumphouse_unit_replication_lag_seconds", dimensions: dimensions, preferredDisplayUnit: .seconds)
            collisions = Counter(label: "pumphouse_unit_collisions_total", dimensions: dimensions)
            rejected = Counter(label: "pumphouse_unit_rejected_changes_total", dimensions: dimensions)
            fenced = Counter(label: "pumphouse_unit_fenced_changes_total", dimensions: dimensions)
        }
    }
}

import PumphousePipeline

/// How one processing unit runs. The pipeline file says where Kafka is, which caches
/// exist and their topics; this says who the unit is and where it keeps its spool.
public struct UnitConfiguration: Sendable {
    public var pipeline: PipelineConfiguration
    /// The unit's identity and the origin of its changes. Keep it stable across restarts
    /// (a pod name in a StatefulSet, a host name): the spool and the sequence numbers
    /// belong to it, and a unit that comes back under its id resends what it left.
    public var unitID: String
    /// `host:port` where the unit serves, as shown in member lists.
    public var address: String
    /// Directory of the unit's spool; the unit uses `<spoolDirectory>/<unitID>`.
    public var spoolDirectory: String
    /// Unacknowledged changes the spool holds before it refuses new ones.
    public var spoolMaxPendingBytes: Int = 256 << 20
    public var heartbeatInterval: Duration = .seconds(1)
    /// A member not heard from for this long drops out of the member lists.
    public var memberTimeout: Duration = .seconds(5)
    /// How long a starting unit listens for a loaded peer before it decides it is part
    /// of a cold start (peers answer a join at once, so this is only spent when none is
    /// there).
    public var discoveryWindow: Duration = .seconds(2)
    /// The longest a load may take, waiting for the lock and the data reader included;
    /// after it the unit fails to start, naming what it waited for.
    public var loadTimeout: Duration = .seconds(120)
    /// How long the unit holding a cache's cold-start load may go unheard on the
    /// reverse-pump topic before another unit claims the load; the holder renews its
    /// claim three times per lease, and the answer's records count too. A holder that
    /// crashes is replaced after this long.
    public var loadLease: Duration = .seconds(15)
    /// A load another unit finished at most this long before this unit started counts as
    /// part of the same cold start and is read instead of asking again. Units of one
    /// outage that start further apart find a loaded peer instead; an older load is never
    /// reused, because the database is fresher than it.
    public var loadReuseWindow: Duration = .seconds(10)
    /// Validate each change against its schema before accepting it (about 2 µs); off,
    /// a bad change is found only by the writers, which dead-letter it.
    public var validatesChanges = true
    /// The least time between two fetches of a partition that found records, for the
    /// unit's consumer of its caches, members and claims
    /// (`KafkaConsumerConfiguration.fetchInterval`); nil fetches again at once. Peers'
    /// changes, own echoes (which confirm a replicated cache's `create`) and claims
    /// then arrive up to this much later; a partitioned cache's decisions and the
    /// broker's acknowledgements do not wait on them.
    public var fetchInterval: Duration?

    public init(pipeline: PipelineConfiguration, unitID: String, address: String, spoolDirectory: String) {
        self.pipeline = pipeline
        self.unitID = unitID
        self.address = address
        self.spoolDirectory = spoolDirectory
    }
}

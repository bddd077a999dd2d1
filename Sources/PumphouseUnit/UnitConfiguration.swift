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
    /// Validate each change against its schema before accepting it (about 2 µs); off,
    /// a bad change is found only by the writers, which dead-letter it.
    public var validatesChanges = true

    public init(pipeline: PipelineConfiguration, unitID: String, address: String, spoolDirectory: String) {
        self.pipeline = pipeline
        self.unitID = unitID
        self.address = address
        self.spoolDirectory = spoolDirectory
    }
}

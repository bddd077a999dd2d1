/// One key read from this unit's replica, with where the answer stands: reads that
/// tolerate staleness can be served by any unit holding the key, as Kafka Streams lets
/// standby replicas answer interactive queries (KIP-535), and the caller learns which
/// kind of answer it got.
public struct CacheRead<Entity: CacheEntity>: Sendable {
    /// Why this unit can answer for the key, and so how current the answer is.
    public enum Source: String, Sendable, Equatable {
        /// This unit owns the key's partition: every change to the key is decided here,
        /// so the answer is current.
        case owner
        /// This unit follows the owner as a backup: changes the owner decided may not
        /// have reached it yet (by the replication lag).
        case backup
        /// A replicated cache, or a partitioned cache's partition this unit keeps without
        /// a role (it has not yet let it go): any unit's change may not have arrived yet.
        case replica
        /// This unit does not keep the key's partition: `value` is nil whatever the key
        /// holds; ask the owner.
        case notHeld = "not-held"
    }

    public var value: Entity?
    public var source: Source
    /// The owner of the key's partition as this unit's replica folded the claims (nil
    /// in a replicated cache, or while nobody owns it): where a current read goes.
    public var owner: String?
    /// The key's partition of the cache's topic.
    public var partition: Int32
    /// For a backup's or a replica's answer: how many records of the key's partition
    /// were in the log and not yet applied here when this unit's consumer last brought
    /// records of it (KIP-535's offset lag); nil for the owner's answer, which is
    /// current, for a unit without the partition, and before the partition's first
    /// records arrived.
    public var behind: Int64?

    /// Whether a change made elsewhere may be missing from `value`.
    public var mayBeStale: Bool { source != .owner }
}

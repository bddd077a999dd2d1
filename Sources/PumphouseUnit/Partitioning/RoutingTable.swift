import PumphouseKafka

/// Where each key of a partitioned cache is decided, as one unit sees it: for smart
/// clients and proxies (which route a request to the owner themselves) and for units
/// forwarding a request they cannot decide.
///
/// The owner and term come from the ownership claims this unit's replica folded, so they
/// are what the log decided, not what the member list suggests; the addresses and the
/// backups come from the member list. It holds no entity data.
public struct RoutingTable: Sendable, Codable {
    public struct Route: Sendable, Codable {
        public var partition: Int32
        /// 0 while no claim has been folded.
        public var ownershipTerm: Int64
        public var owner: String?
        /// Where the owner serves (`host:port`, as it announced); nil while it is not a
        /// live member here (it left, or this unit has not heard from it).
        public var address: String?
        /// The units the assignment names to follow the owner, in order of succession.
        public var backups: [String]
    }

    public var cache: String
    /// `murmur2`: Kafka's Java client default, so any producer places a key alike.
    public var partitioner: String
    /// The cache's partition key, if it has one: a key is placed by its part after the
    /// last occurrence of this character (`bid-17@auction-42` by `auction-42`).
    public var partitionKeyAfter: String?
    /// The backups the pipeline file declares per partition; a route lists fewer while
    /// fewer units than that plus one hold the cache.
    public var declaredBackups: Int
    public var partitions: [Route]
    /// The live, loaded units the assignment is computed over, as this unit has heard
    /// of them, ordered by their ids' bytes. A table can be settled over fewer units than
    /// run (a unit loaded but not yet heard from): a client that knows how many it
    /// expects waits for them all here before it trusts the table.
    public var members: [String]
    /// Whether every partition is owned by the unit the assignment over this unit's live
    /// members names, and that owner's address is known: ownership is not moving, as far
    /// as this unit can tell. A client caching the table refreshes it while this is
    /// false, and on any 421.
    public var settled: Bool

    /// Whether `other` (another unit's view of the same cache) names, for every
    /// partition, an owner and the same one, by bytes, under the same term.
    public func agrees(with other: RoutingTable) -> Bool {
        partitions.count == other.partitions.count && zip(partitions, other.partitions).allSatisfy { mine, theirs in
            mine.ownershipTerm == theirs.ownershipTerm && mine.owner.map { owner in theirs.owner?.isSameBytes(as: owner) == true } == true
        }
    }

    /// The route of `key`'s partition.
    public func route(ofKey key: String) -> Route? {
        guard !partitions.isEmpty else { return nil }
        let separator = partitionKeyAfter.flatMap { $0.utf8.count == 1 ? $0.utf8.first : nil }
        let partition = KafkaKeyPartitioner(partitionCount: Int32(partitions.count), scheme: .murmur2, partitionKeyAfter: separator).partition(ofKey: key)
        return partitions[Int(partition)]
    }
}

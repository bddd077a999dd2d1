import PumphouseContracts
import PumphousePipeline

/// What `pumphouse status` found: who runs and how far behind the writers are, as the
/// member topic, the topics' watermarks and the writers' ledger show it at one moment.
struct PipelineStatus: Sendable {
    /// A processing unit or data reader, from its announcements on the member topic.
    struct Member: Sendable {
        var id: String
        var address: String
        var loaded: Bool
        /// Whether it is stopping and handing its partitions over.
        var leaving = false
        /// Epoch milliseconds when it started.
        var since: Int64
        /// Epoch milliseconds of its last announcement.
        var lastHeard: Int64
        /// Its changes the broker has not acknowledged (spool depth); nil for a unit
        /// that predates the field.
        var unacknowledged: Int?

        /// `loading`, `loaded`, or `leaving` (loaded, and handing its partitions over).
        var state: String { leaving ? "leaving" : loaded ? "loaded" : "loading" }
    }

    struct Cache: Sendable {
        var name: String
        /// Empty for a cache a unit announced that the pipeline file does not declare.
        var topic: String
        /// As the pipeline file declares it; nil for a cache it does not declare.
        var mode: CacheConfiguration.Mode?
        var members: [Member]
    }

    struct WriterPartition: Sendable {
        var topic: String
        var partition: Int32
        /// The next offset the writer will apply, from its ledger in PostgreSQL; nil
        /// when it has stored none yet.
        var storedOffset: Int64?
        /// In a partitioned cache, the units' ownership of the partition at the stored
        /// offset, as the writer folded the ownership claims; nil in a replicated one.
        var ownership: PartitionOwnership?
        var lowWatermark: Int64
        var highWatermark: Int64

        /// With nothing stored the writer starts at the log's beginning, so everything
        /// the partition still holds is ahead of it.
        var lag: Int64 { max(0, highWatermark - (storedOffset ?? max(0, lowWatermark))) }
    }

    struct Writer: Sendable {
        var name: String
        var group: String
        var partitions: [WriterPartition]
        var lag: Int64 { partitions.reduce(0) { $0 + $1.lag } }
    }

    /// A writer's dead-letter topic: every message in it is one dead letter, so the
    /// count is what the topic still holds (high minus low watermark).
    struct DeadLetters: Sendable {
        var writer: String
        var topic: String
        var count: Int64
    }

    /// The holes a writer found in origins' numbering (pumphouse_writer_sequence_gaps):
    /// changes their units numbered that are not in the log. Any is a loss to look into.
    struct SequenceGaps: Sendable {
        var writer: String
        var gaps: Int64
        var missing: Int64
        /// The last found: origin, partition and the numbers missing.
        var latest: String
    }

    var memberTopic: String
    var memberTimeoutMilliseconds: Int64
    /// Epoch milliseconds the member ages are measured against.
    var observedAt: Int64
    var caches: [Cache]
    var writers: [Writer]
    var deadLetters: [DeadLetters]
    var sequenceGaps: [SequenceGaps]
    var readerGroup: String
    var requestTopic: String
    var readers: [Member]
    /// What could not be read (a topic not created, migrations not applied); the
    /// command prints the rest and exits 1.
    var problems: [String]
    /// Each replicated cache's collision forecast, measured on its units over a short
    /// window beside the collisions they counted (`--collision-window-s`; empty when 0).
    var collisionPlans: [CollisionPlan] = []

    /// One partition of a partitioned cache: who decides its keys and where it serves.
    struct Route: Sendable {
        var cache: String
        var partition: Int32
        var ownership: PartitionOwnership
        /// The owner's announced address; nil while it is not among the members heard.
        var address: String?
    }

    /// The routing table of every partitioned cache, as far as the writers have folded
    /// the ownership claims (a claim newer than a writer's stored offset shows once it
    /// has written past it), with the owners' addresses from the member topic.
    var routes: [Route] {
        caches.filter { $0.mode?.isPartitioned == true }.flatMap { cache in
            var seen = Set<Int32>()
            return writers.flatMap(\.partitions).filter { $0.topic == cache.topic && seen.insert($0.partition).inserted }.sorted { $0.partition < $1.partition }.map { partition in
                let ownership = partition.ownership ?? PartitionOwnership()
                let address = ownership.owner.flatMap { owner in cache.members.first { $0.id.isSameBytes(as: owner) }?.address }
                return Route(cache: cache.name, partition: partition.partition, ownership: ownership, address: address)
            }
        }
    }
}

import PumphouseContracts
import Synchronization

/// What a reverse-pump answer is read into: a whole replica at start
/// (`ReplicatedCache`), or the rows of the partitions a unit takes up again
/// (`PartitionReload`).
protocol LoadSink: Sendable {
    /// Starts (or restarts) reading an answer: what an earlier try read is forgotten.
    func beginLoad()
    /// The rows of one reverse-pump message, in the order they were sent: a message at
    /// a time, so what is paid per call (a lock, the generic code's type lookups) is paid
    /// once for hundreds of rows, not for each.
    func loadRows(_ contracts: [Contract])
    func finishLoad(sequences: [Int32: [ExactKey: Int64]], ownership: [Int32: PartitionOwnership])
}

/// The rows of some partitions of a partitioned cache loaded from the database, read
/// again from a reverse-pump answer when the unit takes those partitions up again (a
/// peer left, and the assignment makes this unit their owner or backup).
///
/// A cache loaded from its topic rebuilds such a partition from the topic's beginning;
/// one loaded from the database cannot, since its rows came from PostgreSQL and the
/// topic holds only the changes after them. So the partition is rebuilt as the whole
/// replica was at start: the rows an answer holds for it, then the topic from the
/// offset that answer stands for. The rows are gathered here, off the loop that applies
/// the log, and handed to the replica in one step (`ReplicatedCache.reload`), so the
/// partition never holds half an answer.
final class PartitionReload: LoadSink {
    /// What the answer holds for the partitions asked for.
    struct Rows: Sendable {
        var rows: [Int32: [Contract]] = [:]
        var sequences: [Int32: [ExactKey: Int64]] = [:]
        var ownership: [Int32: PartitionOwnership] = [:]
    }

    let partitions: Set<Int32>
    /// Places a row's key as the replica does (`partition_key_after` included).
    private let partitionOf: @Sendable (String) -> Int32
    private let gathered = Mutex(Rows())

    init(partitions: Set<Int32>, partitionOf: @escaping @Sendable (String) -> Int32) {
        self.partitions = partitions
        self.partitionOf = partitionOf
    }

    var rows: Rows { gathered.withLock { $0 } }

    func beginLoad() {
        gathered.withLock { $0 = Rows() }
    }

    func loadRows(_ contracts: [Contract]) {
        let placed = contracts.compactMap { contract -> (Int32, Contract)? in
            let partition = partitionOf(contract.key)
            return partitions.contains(partition) ? (partition, contract) : nil
        }
        guard !placed.isEmpty else { return }
        gathered.withLock { gathered in
            for (partition, contract) in placed { gathered.rows[partition, default: []].append(contract) }
        }
    }

    func finishLoad(sequences: [Int32: [ExactKey: Int64]], ownership: [Int32: PartitionOwnership]) {
        gathered.withLock { rows in
            rows.sequences = sequences.filter { partitions.contains($0.key) }
            rows.ownership = ownership.filter { partitions.contains($0.key) }
        }
    }
}

/// What a partitioned cache's upkeep decided about the partitions it holds.
struct PartitionsKept: Sendable, Equatable {
    /// Partitions taken up again that are read again from the topic's beginning (a cache
    /// loaded from its topic); the caller seeks there and calls `finishRebuild` once
    /// caught up.
    var rebuild: [Int32] = []
    /// Partitions wanted again whose rows must come from a reverse-pump answer first (a
    /// cache loaded from the database); they stay dropped until `reload` takes the rows.
    var reload: [Int32] = []
    /// Partitions let go: the unit stops reading them.
    var dropped: [Int32] = []
}

import PumphouseContracts

/// Who should own, and who should back up, each partition of a partitioned cache (or of
/// a group of co-partitioned caches), computed from the live members alone.
///
/// Every unit computes it from its own member list, so there is no coordinator and no
/// consumer-group rebalance (which the local broker cannot finish when one member leaves
/// while another joins). Units may briefly disagree while a join or a silence spreads;
/// the ownership claims in each partition's log settle any disagreement, so this only has
/// to be deterministic, balanced and sticky:
///
/// - deterministic: the same members (as bytes, in any order) give the same assignment,
///   on every unit and across restarts, since a unit's weight for a partition is a fixed
///   hash of the group, the partition and its id (rendezvous hashing);
/// - balanced: each member owns ⌊P/N⌋ or ⌈P/N⌉ of the P partitions, and backs up
///   within two of that at each backup level, because (partition, member) pairs are
///   taken in order of weight while the member has room;
/// - sticky: a member that joins or leaves moves its own share, and keeping the balance
///   exact moves at most one share more between the others, since every other pair
///   keeps its weight.
package struct PartitionAssignment: Sendable, Hashable {
    package struct Placement: Sendable, Hashable {
        package var owner: String
        /// In order of succession: the first takes over if the owner goes.
        package var backups: [String]
    }

    package let group: String
    /// By partition; empty when there are no members.
    package let placements: [Placement]
    /// What the cache asks for; `placements` has fewer backups while there are not
    /// enough units (a partition's owner cannot back itself up).
    package let backupsWanted: Int

    package init(group: String, partitions: Int, backups: Int, members: [String]) {
        self.group = group
        self.backupsWanted = backups
        let units = Array(Set(members.map { ExactKey($0) })).sorted()
        guard !units.isEmpty, partitions > 0 else {
            placements = []
            return
        }
        // Every (partition, member) pair by weight, heaviest first; ties (vanishingly rare
        // in 64 bits) by the member's bytes and the partition, so the order is total.
        var pairs: [Pair] = []
        pairs.reserveCapacity(partitions * units.count)
        for partition in 0..<partitions {
            for member in units.indices {
                pairs.append(Pair(partition: partition, member: member, weight: Self.weight(group: group, partition: Int32(partition), member: units[member].text)))
            }
        }
        pairs.sort { lhs, rhs in
            if lhs.weight != rhs.weight { return lhs.weight > rhs.weight }
            if lhs.member != rhs.member { return units[lhs.member] < units[rhs.member] }
            return lhs.partition < rhs.partition
        }
        var holders = [[Int]](repeating: [], count: partitions)
        for _ in 0..<(1 + min(backups, units.count - 1)) {
            Self.place(pairs, memberCount: units.count, holders: &holders)
        }
        placements = holders.map { holders in
            Placement(owner: units[holders[0]].text, backups: holders.dropFirst().map { units[$0].text })
        }
    }

    /// Adds one holder to every partition (its owner, then each backup level): pairs in
    /// weight order, each member taking at most ⌈P/N⌉ and only ⌈P/N⌉ while fewer than
    /// P mod N members have that many, so every member ends with ⌊P/N⌋ or ⌈P/N⌉. A
    /// partition whose eligible members are all full (the rest hold it already, which
    /// only happens for backups) takes the least loaded of them.
    private struct Pair {
        let partition: Int
        let member: Int
        let weight: UInt64
    }

    private static func place(_ pairs: [Pair], memberCount: Int, holders: inout [[Int]]) {
        let level = holders[0].count
        let floor = holders.count / memberCount
        var roomAboveFloor = holders.count % memberCount
        var load = [Int](repeating: 0, count: memberCount)
        var placed = 0
        for pair in pairs where holders[pair.partition].count == level && !holders[pair.partition].contains(pair.member) {
            let count = load[pair.member]
            guard count < floor || (count == floor && roomAboveFloor > 0) else { continue }
            if count == floor { roomAboveFloor -= 1 }
            load[pair.member] += 1
            holders[pair.partition].append(pair.member)
            placed += 1
        }
        guard placed < holders.count else { return }
        for pair in pairs where holders[pair.partition].count == level && !holders[pair.partition].contains(pair.member) {
            // The eligible member with the fewest at this level, the heaviest among them
            // (pairs come heaviest first, so the first with the least load wins).
            let held = holders[pair.partition]
            let eligible = pairs.filter { $0.partition == pair.partition && !held.contains($0.member) }
            let least = eligible.map { load[$0.member] }.min() ?? load[pair.member]
            let chosen = eligible.first { load[$0.member] == least }?.member ?? pair.member
            load[chosen] += 1
            holders[pair.partition].append(chosen)
        }
    }

    /// The owner of `partition`; nil without members.
    package func owner(of partition: Int32) -> String? {
        placements.indices.contains(Int(partition)) ? placements[Int(partition)].owner : nil
    }

    /// The units following `partition`'s owner, in order of succession.
    package func backups(of partition: Int32) -> [String] {
        placements.indices.contains(Int(partition)) ? placements[Int(partition)].backups : []
    }

    /// The partitions `member` owns.
    package func owned(by member: String) -> [Int32] {
        placements.indices.filter { placements[$0].owner.isSameBytes(as: member) }.map(Int32.init)
    }

    /// The partitions `member` owns or backs up: what its replica holds.
    package func held(by member: String) -> [Int32] {
        placements.indices.filter { index in
            placements[index].owner.isSameBytes(as: member) || placements[index].backups.contains { $0.isSameBytes(as: member) }
        }.map(Int32.init)
    }

    /// A member's weight for a partition: FNV-1a over the group's bytes, the partition
    /// and the member's bytes, then SplitMix64's finaliser, since FNV alone spreads
    /// inputs that differ in their last bytes poorly. Fixed forever: units of different
    /// versions must agree on it.
    static func weight(group: String, partition: Int32, member: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        func mix(_ byte: UInt8) {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        for byte in group.utf8 { mix(byte) }
        mix(0xFF)  // never in UTF-8: the group's bytes cannot run into the partition's
        for shift in stride(from: 0, to: 32, by: 8) { mix(UInt8(truncatingIfNeeded: UInt32(bitPattern: partition) >> UInt32(shift))) }
        mix(0xFF)
        for byte in member.utf8 { mix(byte) }
        hash = (hash ^ (hash >> 30)) &* 0xBF58_476D_1CE4_E5B9
        hash = (hash ^ (hash >> 27)) &* 0x94D0_49BB_1331_11EB
        return hash ^ (hash >> 31)
    }
}

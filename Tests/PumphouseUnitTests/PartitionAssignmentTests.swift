import Testing
@testable import PumphouseUnit

@Suite("Partition assignment")
struct PartitionAssignmentTests {
    static func units(_ count: Int) -> [String] { (0..<count).map { "unit-\($0)" } }

    @Test("every member owns ⌊P/N⌋ or ⌈P/N⌉ partitions, and backs up as evenly", arguments: [
        (1, 1, 0), (12, 1, 1), (12, 3, 1), (12, 5, 2), (7, 3, 2), (64, 3, 1), (64, 10, 2), (3, 5, 1), (2, 2, 2), (256, 7, 1),
    ])
    func balanced(partitions: Int, members: Int, backups: Int) {
        let assignment = PartitionAssignment(group: "ticketing.Sale", partitions: partitions, backups: backups, members: Self.units(members))
        #expect(assignment.placements.count == partitions)
        let low = partitions / members, high = (partitions + members - 1) / members
        for unit in Self.units(members) {
            #expect((low...high).contains(assignment.owned(by: unit).count), "\(unit) owns \(assignment.owned(by: unit).count)")
        }
        let placed = min(backups, members - 1)
        for (partition, placement) in assignment.placements.enumerated() {
            let holders = [placement.owner] + placement.backups
            #expect(placement.backups.count == placed, "partition \(partition)")
            #expect(Set(holders).count == holders.count, "partition \(partition) is held twice by one unit: \(holders)")
        }
        // Each backup level is spread like ownership, give or take two where a
        // partition's only units with room already hold it.
        for level in 0..<placed {
            for unit in Self.units(members) {
                let count = assignment.placements.filter { $0.backups[level] == unit }.count
                #expect((max(0, low - 2)...(high + 2)).contains(count), "\(unit) is backup \(level + 1) of \(count) partitions")
            }
        }
    }

    @Test("the same members in any order, on any unit, give the same assignment")
    func deterministic() {
        let members = Self.units(5)
        let first = PartitionAssignment(group: "g", partitions: 24, backups: 2, members: members)
        for _ in 0..<10 {
            #expect(PartitionAssignment(group: "g", partitions: 24, backups: 2, members: members.shuffled() + [members[0]]) == first)
        }
        // A fixed hash, not Swift's seeded one, so units of other processes and versions
        // agree: the value an independent implementation (FNV-1a 64 over the group, 0xFF,
        // the partition as four little-endian bytes, 0xFF and the member, then SplitMix64's
        // finaliser, written in Python) computes.
        #expect(PartitionAssignment.weight(group: "ticketing.Sale", partition: 3, member: "unit-a") == 0xD983_F92D_CD21_41F1)
    }

    @Test("a unit joining or leaving moves few partitions besides its own share", arguments: [(12, 3), (64, 3), (64, 8), (120, 5)])
    func sticky(partitions: Int, members: Int) {
        let before = PartitionAssignment(group: "g", partitions: partitions, backups: 1, members: Self.units(members))
        let joined = PartitionAssignment(group: "g", partitions: partitions, backups: 1, members: Self.units(members + 1))
        let newcomer = "unit-\(members)"
        let movedBetweenOld = (0..<partitions).filter { joined.placements[$0].owner != newcomer && joined.placements[$0].owner != before.placements[$0].owner }.count
        // The newcomer takes its share; keeping every unit within one partition of the
        // others shifts at most as many again between the others (a modulo, or a sort by
        // hash, moves most partitions).
        let share = partitions / (members + 1)
        #expect(joined.owned(by: newcomer).count >= share)
        #expect(movedBetweenOld <= share, "\(movedBetweenOld) partitions moved between units that stayed")
        let left = PartitionAssignment(group: "g", partitions: partitions, backups: 1, members: Array(Self.units(members).dropFirst()))
        let movedBetweenStaying = (0..<partitions).filter { before.placements[$0].owner != "unit-0" && left.placements[$0].owner != before.placements[$0].owner }.count
        #expect(movedBetweenStaying <= partitions / members, "\(movedBetweenStaying) partitions moved that the leaver did not own")
        // A partition whose owner left goes to its first backup where balance allows.
        let heirs = (0..<partitions).filter { before.placements[$0].owner == "unit-0" }
        let toBackup = heirs.filter { left.placements[$0].owner == before.placements[$0].backups.first }.count
        #expect(toBackup * 2 >= heirs.count, "only \(toBackup) of \(heirs.count) orphaned partitions went to their backup")
    }

    @Test("unit ids are told apart by bytes: canonically equal ids are two units")
    func bytes() {
        let assignment = PartitionAssignment(group: "g", partitions: 8, backups: 1, members: ["caf\u{E9}", "cafe\u{301}"])
        #expect(assignment.owned(by: "caf\u{E9}").count == 4)
        #expect(assignment.owned(by: "cafe\u{301}").count == 4)
        #expect(assignment.placements.allSatisfy { !$0.owner.isSameBytes(as: $0.backups[0]) })
    }

    @Test("no members, no placements; fewer units than backups, as many backups as there are other units")
    func edges() {
        #expect(PartitionAssignment(group: "g", partitions: 8, backups: 1, members: []).placements.isEmpty)
        #expect(PartitionAssignment(group: "g", partitions: 8, backups: 1, members: []).owner(of: 0) == nil)
        let alone = PartitionAssignment(group: "g", partitions: 4, backups: 2, members: ["a"])
        #expect(alone.placements.allSatisfy { $0.owner == "a" && $0.backups.isEmpty })
        #expect(alone.held(by: "a") == [0, 1, 2, 3])
        let two = PartitionAssignment(group: "g", partitions: 4, backups: 2, members: ["a", "b"])
        #expect(two.placements.allSatisfy { $0.backups.count == 1 })
        #expect(two.held(by: "b") == [0, 1, 2, 3])
    }

    @Test("different groups spread their partitions differently, so co-partitioned groups do not all land on one unit")
    func groups() {
        let one = PartitionAssignment(group: "ticketing.Sale", partitions: 12, backups: 0, members: Self.units(3))
        let other = PartitionAssignment(group: "auction.Bid", partitions: 12, backups: 0, members: Self.units(3))
        #expect(one.placements != other.placements)
    }
}

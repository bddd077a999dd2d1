import Testing

@testable import PumphouseUnit

/// Two units' routing tables compared, as a smart client does before it trusts them.
@Suite("Routing tables")
struct RoutingTableTests {
    func table(_ owners: [(String?, Int64)]) -> RoutingTable {
        RoutingTable(
            cache: "ticketing.Sale", partitioner: "murmur2", declaredBackups: 0,
            partitions: owners.enumerated().map { index, owner in
                RoutingTable.Route(partition: Int32(index), ownershipTerm: owner.1, owner: owner.0, address: nil, backups: [])
            },
            members: [], settled: true
        )
    }

    @Test("tables agree only when every partition has an owner, the same by bytes, under the same term")
    func agreement() {
        let views = table([("a", 1), ("b", 2)])
        #expect(views.agrees(with: table([("a", 1), ("b", 2)])))
        #expect(!views.agrees(with: table([("a", 1), ("b", 3)])), "another term")
        #expect(!views.agrees(with: table([("a", 1), ("a", 2)])), "another owner")
        #expect(!views.agrees(with: table([("a", 1)])), "another partition count")
        #expect(!table([(nil, 0)]).agrees(with: table([(nil, 0)])), "no owner yet")
        // Canonically equal, different bytes: two units, so two owners.
        #expect(!table([("caf\u{E9}", 1)]).agrees(with: table([("cafe\u{301}", 1)])))
    }
}

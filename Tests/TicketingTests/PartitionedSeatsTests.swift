import Foundation
import PumphouseTestSupport
import PumphouseUnit
import Testing
import Ticketing

/// Seats and sales partitioned together, as in `make demo`: the unit owning a seat's
/// partition decides its hold and its sale; a concert's layout, seat map and counts are
/// gathered from every owner.
@Suite("The ticketing sample with seats and sales partitioned, over HTTP", .localStack, .removingWhatItMakes, .serialized, .timeLimit(.minutes(3)))
struct PartitionedSeatsTests {
    @Test("three units, two partitions: a concert opened at the unit owning nothing is laid out by each owner; every unit serves the whole seat map; a hold is the owner's decision wherever it is asked; the owners' share routes refuse what they do not own")
    func gathered() async throws {
        let fixture = try await TicketingFixture(partitioned: .seatsAndSales)
        let ports = try [FreePort.find(), FreePort.find(), FreePort.find()]
        let offices = try zip(["a", "b", "c"], ports).map { try fixture.office($0, port: $1) }
        try await fixture.serving(offices, ports: ports) {
            try await fixture.running(offices) { try await Self.scenario(offices, ports) }
        }
    }

    private static func scenario(_ offices: [BoxOffice], _ ports: [Int]) async throws {
        func port(of unit: String?) -> Int { zip(offices, ports).first { $0.0.unit.id.isSameBytes(as: unit ?? "") }!.1 }
        func owns(_ office: BoxOffice, _ route: RoutingTable.Route) -> Bool { office.unit.id.isSameBytes(as: route.owner ?? "") }
        let tables = try await waitFor("the three units to agree on the owners of the seats and the sales", timeout: .seconds(60)) { () async throws -> [RoutingTable]? in
            try await Task.sleep(for: .milliseconds(20))
            let tables = offices.flatMap { office in [Seat.contract, Sale.contract].compactMap { office.unit.routingTable(of: $0) } }
            let settled = tables.count == 6 && tables.allSatisfy { $0.settled && $0.agrees(with: tables[0]) }
            return settled ? tables : nil
        }
        let table = tables[0]
        let idle = try #require(offices.first { office in !table.partitions.contains { owns(office, $0) } }, "one of three units owns none of two partitions")
        let idlePort = port(of: idle.unit.id)

        // Opened where no seat is decided: each owner lays out its own partitions.
        let opened = try await JSONOverHTTP.post(idlePort, "/concerts", ["id": "c1", "name": "Test c1", "venue": "Hall", "startsAt": 1_795_000_000_000, "price": 4500, "rows": 2, "seatsPerRow": 12])
        #expect(opened.status == 201 && opened.json["free"] as? Int == 24 && opened.json["seats"] as? Int == 24, "\(opened.json)")
        for route in table.partitions {
            let owner = try #require(offices.first { owns($0, route) })
            #expect(owner.seats.values(inPartition: route.partition).count > 0, "\(owner.unit.id) laid out its partition \(route.partition)")
        }
        // Every unit serves the whole map, whatever it holds itself.
        for port in ports {
            let map = try await JSONOverHTTP.get(port, "/concerts/c1/seats")
            #expect(map.status == 200 && map.objects.count == 24 && map.objects.allSatisfy { $0["status"] as? String == "free" }, "port \(port): \(map.status) \(map.objects.count) seats")
        }

        // A hold is decided by the seat's owner, wherever it is asked: a second buyer
        // asking at another unit finds it held, at once.
        let label = "A-1"
        let route = try #require(table.route(ofKey: Seat.key(concert: "c1", seat: label)))
        let others = offices.filter { !owns($0, route) }.map { port(of: $0.unit.id) }
        let hold = try await JSONOverHTTP.post(others[0], "/concerts/c1/seats/\(label)/reserve", ["buyer": "ann"])
        #expect(hold.status == 201, "\(hold.json)")
        let second = try await JSONOverHTTP.post(others[1], "/concerts/c1/seats/\(label)/reserve", ["buyer": "bob"])
        #expect(second.status == 409 && (second.json["detail"] as? String)?.contains("held by another buyer") == true, "\(second.json)")
        let holdID = try #require(hold.json["hold"] as? String)
        let bought = try await JSONOverHTTP.post(others[1], "/concerts/c1/seats/\(label)/purchase", ["hold": holdID, "buyer": "ann"])
        #expect(bought.status == 201 && bought.json["unit"] as? String == route.owner, "sold by its owner: \(bought.json)")
        let summary = try await waitFor("the concert's counter to count the sale on the idle unit", timeout: .seconds(30)) { () async throws -> [String: Any]? in
            try await Task.sleep(for: .milliseconds(20))
            let summary = try await JSONOverHTTP.get(idlePort, "/concerts/c1/summary").json
            return summary["sold"] as? Int == 1 ? summary : nil
        }
        #expect(summary["free"] as? Int == 23 && summary["held"] as? Int == 0 && summary["revenue"] as? Int == 4500, "\(summary)")
        let map = try await JSONOverHTTP.get(idlePort, "/concerts/c1/seats").objects
        #expect(map.filter { $0["status"] as? String == "sold" }.compactMap { $0["seat"] as? String } == [label])
        // The list sums up every concert from every owner, earliest first.
        let earlier = try await JSONOverHTTP.post(port(of: route.owner), "/concerts", ["id": "c0", "name": "Test c0", "venue": "Hall", "startsAt": 1_794_000_000_000, "price": 3000, "rows": 1, "seatsPerRow": 8])
        #expect(earlier.status == 201, "\(earlier.json)")
        // The concerts are replicated: c0 reaches the idle unit with the log.
        let listed = try await waitFor("the idle unit to list both concerts", timeout: .seconds(30)) { () async throws -> [[String: Any]]? in
            try await Task.sleep(for: .milliseconds(20))
            let listed = try await JSONOverHTTP.get(idlePort, "/concerts").objects
            return listed.count == 2 ? listed : nil
        }
        #expect(
            listed.map { $0["id"] as? String } == ["c0", "c1"] && listed.map { $0["free"] as? Int } == [8, 23] && listed.map { $0["revenue"] as? Int } == [0, 4500],
            "\(listed)"
        )

        // The owners' share routes: the partitions must be named, as numbers, and each
        // owned by the unit asked (a forwarded request is refused, never passed on).
        let unnamed = try await JSONOverHTTP.get(idlePort, "/grid/concerts/c1/seats")
        #expect(unnamed.status == 400 && (unnamed.json["detail"] as? String)?.contains("?partitions=0,2") == true, "\(unnamed.json)")
        for list in ["0,x", "0,0", "-1"] {
            let garbled = try await JSONOverHTTP.get(idlePort, "/grid/concerts/c1/seats?partitions=\(list)")
            #expect(garbled.status == 400 && (garbled.json["detail"] as? String)?.contains("distinct partition numbers") == true, "\(list): \(garbled.json)")
        }
        // A partition the topic does not have is the caller's mistake (400), not ownership
        // on the move (421, which a caller would retry for ever).
        for stray in [2, Int(Int32.max)] {  // the fixture's topics have partitions 0 and 1
            let outside = try await JSONOverHTTP.get(idlePort, "/grid/concerts/c1/seats?partitions=\(stray)", headers: [("x-pumphouse-forwarded", "1")])
            #expect(outside.status == 400 && (outside.json["detail"] as? String)?.contains("not \(stray)") == true, "\(stray): \(outside.json)")
        }
        let notOwned = try await JSONOverHTTP.get(idlePort, "/grid/concerts/c1/seats?partitions=\(route.partition)", headers: [("x-pumphouse-forwarded", "1")])
        #expect(notOwned.status == 421 && notOwned.json["error"] as? String == "misdirected", "\(notOwned.json)")
        let unknown = try await JSONOverHTTP.get(port(of: route.owner), "/grid/concerts/nope/summary?partitions=\(route.partition)")
        #expect(unknown.status == 404, "\(unknown.json)")
    }

    @Test("seats partitioned without their sales, or apart from them: the box office refuses the pipeline, naming the fix", arguments: [TicketingFixture.Partitioned.seatsAlone, .seatsAndSalesApart])
    func seatsWithoutSales(_ partitioned: TicketingFixture.Partitioned) async throws {
        let fixture = try await TicketingFixture(partitioned: partitioned)
        #expect {
            _ = try fixture.office("a")
        } throws: { error in
            "\(error)".contains("partition both (co_partitioned_with) or neither")
        }
    }
}

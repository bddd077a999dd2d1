import AsyncHTTPClient
import Foundation
import Hummingbird
import NIOCore
import PumphouseTestSupport
import PumphouseUnit
import ServiceLifecycle
import Testing
import Ticketing

/// The sample with its sales partitioned, served over HTTP as in `make demo`: the unit
/// owning a seat's sale decides it at once, and a request reaching the other unit is
/// forwarded there (one hop).
@Suite("The ticketing sample with partitioned sales, over HTTP", .localStack, .removingWhatItMakes, .serialized, .timeLimit(.minutes(3)))
struct PartitionedSalesTests {
    @Test("a purchase sent to the unit that does not own the seat's sale is forwarded and sold by the owner; /routing names each partition's owner and address; a forwarded request reaching a non-owner is refused (421), never passed on")
    func forwarded() async throws {
        // Before the routers, so their forwarding counters are the test backend's.
        TestMetricsBackend.bootstrap()
        let fixture = try await TicketingFixture(partitioned: .sales)
        let ports = try [FreePort.find(), FreePort.find()]
        let offices = try zip(["a", "b"], ports).map { try fixture.office($0, port: $1) }
        try await fixture.serving(offices, ports: ports) { try await fixture.running(offices) {
            // Each unit's view names both owners, with the addresses they announced.
            let tables = try await waitFor("both units to agree on the owners of the sales' partitions", timeout: .seconds(30)) { () async throws -> [RoutingTable]? in
                try await Task.sleep(for: .milliseconds(20))
                let tables = offices.compactMap { $0.unit.routingTable(of: Sale.contract) }
                let settled = tables.count == 2 && tables.allSatisfy { table in
                    table.settled && table.agrees(with: tables[0]) && table.partitions.allSatisfy { $0.address != nil }
                }
                return settled ? tables : nil
            }
            let table = tables[0]
            #expect(Set(table.partitions.compactMap(\.owner)) == Set(offices.map(\.unit.id)), "each unit owns one of the two partitions")
            let routing = try await JSONOverHTTP.get(ports[0], "/routing")
            let served = (routing.json["caches"] as? [[String: Any]])?.first
            #expect(routing.status == 200 && served?["cache"] as? String == "ticketing.Sale" && served?["partitioner"] as? String == "murmur2" && served?["settled"] as? Bool == true)
            #expect((served?["partitions"] as? [[String: Any]])?.compactMap { $0["address"] as? String }.sorted() == ports.map { "127.0.0.1:\($0)" }.sorted())
            #expect(served?["declaredBackups"] as? Int == 1 && (served?["partitions"] as? [[String: Any]])?.allSatisfy { ($0["backups"] as? [String])?.count == 1 } == true)
            // One cache's table by name; a replicated cache and an unknown name are refused
            // with what this unit does serve.
            let sale = try await JSONOverHTTP.get(ports[1], "/routing/ticketing.Sale")
            #expect(sale.status == 200 && sale.json["cache"] as? String == "ticketing.Sale", "\(sale.json)")
            let seat = try await JSONOverHTTP.get(ports[1], "/routing/ticketing.Seat")
            #expect(seat.status == 404 && seat.json["error"] as? String == "not-partitioned", "\(seat.json)")
            #expect((seat.json["detail"] as? String)?.contains("cache ticketing.Seat is replicated: every unit holds all of its keys and decides any of them, so it has no routing table; its partitioned caches: ticketing.Sale") == true, "\(seat.json)")
            let unknown = try await JSONOverHTTP.get(ports[1], "/routing/ticketing.Nope")
            #expect(unknown.status == 404 && unknown.json["error"] as? String == "unknown-cache", "\(unknown.json)")
            #expect((unknown.json["detail"] as? String)?.contains("this unit has no cache ticketing.Nope; its partitioned caches: ticketing.Sale (GET /routing lists them)") == true, "\(unknown.json)")

            _ = try await offices[0].open(TicketingFixture.concert("c1", rows: 1, seatsPerRow: 12))
            _ = try await waitFor("the seats on both units", timeout: .seconds(30)) { () async throws -> Bool? in
                try await Task.sleep(for: .milliseconds(20))
                for office in offices where (try? await office.seatMap("c1").count) != 12 { return nil }
                return true
            }
            // What each unit sees now, for a failure's message: ownership is not meant to
            // move during the test, and when it does this shows how.
            func views() -> String {
                offices.map { office in
                    let table = office.unit.routingTable(of: Sale.contract)
                    let routes = table?.partitions.map { "\($0.partition):\($0.owner ?? "-")@\($0.ownershipTerm)/\($0.address ?? "no address")" } ?? []
                    return "\(office.unit.id) sees \(table?.settled == true ? "settled" : "moving") \(routes.joined(separator: " "))"
                }.joined(separator: "; ")
            }
            // What each unit's forwarding should have counted, by the unit's index and the
            // partition: requests passed to the owner, and requests refused (421).
            var counted: [Int: [Int32: (forwarded: Int64, refused: Int64)]] = [:]
            for label in try await offices[0].seatMap("c1").map(\.seat) {
                let route = try #require(table.route(ofKey: Seat.key(concert: "c1", seat: label)))
                let other = try #require(offices.indices.first { !offices[$0].unit.id.isSameBytes(as: route.owner ?? "") })
                let elsewhere = ports[other]
                counted[other, default: [:]][route.partition, default: (0, 0)].forwarded += 1
                counted[other, default: [:]][route.partition, default: (0, 0)].refused += 1
                let hold = try await JSONOverHTTP.post(elsewhere, "/concerts/c1/seats/\(label)/reserve", ["buyer": "ann"])
                #expect(hold.status == 201, "reserve \(label): \(hold.json)")
                let holdID = try #require(hold.json["hold"] as? String)
                // One hop only: the other unit, asked directly as if forwarded, refuses.
                let refused = try await JSONOverHTTP.post(elsewhere, "/concerts/c1/seats/\(label)/purchase", ["hold": holdID, "buyer": "ann"], headers: [("x-pumphouse-forwarded", "1")])
                #expect(refused.status == 421 && refused.json["error"] as? String == "misdirected", "\(label): \(refused.json); \(views())")
                let bought = try await JSONOverHTTP.post(elsewhere, "/concerts/c1/seats/\(label)/purchase", ["hold": holdID, "buyer": "ann"])
                #expect(bought.status == 201, "purchase \(label) through the other unit: \(bought.json); \(views())")
                #expect(bought.json["unit"] as? String == route.owner, "\(label) was sold by its owner")
                // At the owner: the other unit may answer it from its backup copy of the
                // sale, or forward it, depending on when the sale reached it.
                let again = try await JSONOverHTTP.post(ports[1 - other], "/concerts/c1/seats/\(label)/purchase", ["hold": holdID, "buyer": "bob"])
                #expect(again.status == 409, "a second buyer of \(label) gets a conflict: \(again.json)")
            }
            for (index, partitions) in counted {
                for (partition, expected) in partitions {
                    func total(_ outcome: String) -> Int64 {
                        TestMetricsBackend.counter(
                            "pumphouse_unit_forwarded_requests_total",
                            [("unit", offices[index].unit.id), ("outcome", outcome), ("cache", "ticketing.Sale"), ("partition", String(partition))]
                        )
                    }
                    let counted = (forwarded: total("forwarded"), refused: total("refused"))
                    #expect(counted == expected, "\(offices[index].unit.id), partition \(partition): counted \(counted), expected \(expected)")
                }
            }
            _ = try await waitFor("both units to show the 12 sales", timeout: .seconds(30)) { () async throws -> Bool? in
                try await Task.sleep(for: .milliseconds(20))
                return offices.allSatisfy { $0.sales.count == 12 && $0.concerts["c1"]?.sold == 12 } ? true : nil
            }
        } }
    }
}

import Foundation
import PumphouseCommandLine
import PumphouseContracts
import PumphouseUnit
import PumphouseUnitHTTP
import Ticketing

/// Where a smart client sends a buyer: to the unit deciding the seat's sale, found in
/// the routing table the units serve, so no request takes the forwarding hop.
struct SaleRouting: Sendable {
    let table: RoutingTable
    /// The base URL of each partition's owner, nil where the owner is not a target.
    private let owners: [String?]

    init(_ table: RoutingTable, targets: [String]) {
        self.table = table
        owners = table.partitions.map { route in
            route.address.flatMap { address in
                targets.first { $0.isSameBytes(as: "http://\(address)") || $0.isSameBytes(as: "https://\(address)") }
            }
        }
    }

    /// The base URL of the unit that decides the sale of `seat` of `concert` (nil: any).
    func target(concert: String, seat: String) -> String? {
        guard let route = table.route(ofKey: Seat.key(concert: concert, seat: seat)), owners.indices.contains(Int(route.partition)) else { return nil }
        return owners[Int(route.partition)]
    }

    /// The table as a summary shows it: `cache[partition] owner@term`.
    var lines: [String] {
        table.partitions.map { "\(table.cache)[\($0.partition)] \($0.owner ?? "unowned")@\($0.ownershipTerm)" }
    }
}

extension BoxOfficeClient {
    /// Waits until every target serves the same settled routing table for the sales
    /// (each partition's owner named, at the term, by every unit, ownership not moving):
    /// an on-sale started earlier would meet 421s while partitions settle. nil when the
    /// box office partitions nothing (no table, or no /routing at all).
    func settledSaleRouting(_ targets: [String], timeout: Duration) async throws -> SaleRouting? {
        let deadline = ContinuousClock.now + timeout
        var last = "no answer yet"
        while ContinuousClock.now < deadline {
            var tables: [RoutingTable] = []
            for url in targets {
                let reply = try await get("/routing", at: url)
                if reply.status == 404 { return nil }
                guard reply.status == 200, let served = try? JSONDecoder().decode(RoutingEndpoints.Tables.self, from: Data(reply.body)) else {
                    last = "\(url) answered HTTP \(reply.status)"
                    break
                }
                guard let table = served.caches.first(where: { $0.cache.isSameBytes(as: Sale.contract.rawValue) }) else { return nil }
                // Each route where its number says: the routes are looked up by position.
                guard table.partitions.enumerated().allSatisfy({ Int($0.element.partition) == $0.offset }) else {
                    last = "\(url) answered a routing table whose partitions are not numbered 0 to \(table.partitions.count - 1) in order"
                    break
                }
                tables.append(table)
            }
            if tables.count == targets.count {
                // Settled over every unit: each unit's table can be settled while it has
                // not yet heard that the others loaded, and ownership then still moves.
                if tables.allSatisfy({ $0.settled && $0.members.count == targets.count && $0.agrees(with: tables[0]) }) {
                    return SaleRouting(tables[0], targets: targets)
                }
                last = tables.map { table in
                    "\(table.settled ? "settled" : "moving") over \(table.members.count) of \(targets.count) units: \(table.partitions.map { "\($0.owner ?? "-")@\($0.ownershipTerm)" }.joined(separator: " "))"
                }.joined(separator: " | ")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw DemoFailure("the units did not agree on a settled routing table for \(Sale.contract) within \(timeout); last seen: \(last)")
    }
}

import Foundation
import PumphouseCommandLine
import Synchronization

/// The on-sale burst: thousands of simulated buyers at once, each trying up to three
/// random seats (reserve, then purchase) at their seats' owners or through the grid.
struct OnSale {
    struct Order: Sendable, Hashable {
        let seat: String  // `<concert>/<label>`
        let order: String
        let buyer: String
    }

    struct Outcome: Sendable {
        var orders: [Order] = []
        /// Requests refused because the seat was taken (409/410): the contention itself.
        var conflicts = 0
        /// Purchases the log had not confirmed within the unit's timeout (503); their
        /// sale may or may not have gone through, which the checks settle.
        var unconfirmed = 0
        /// Anything else: unexpected statuses or transport errors, each described.
        var errors: [String] = []
        var buyersDone = 0
        var requests = 0
    }

    /// The outcome so far, shared by every buyer.
    final class Tally: Sendable {
        private let state = Mutex(Outcome())
        func withLock<T>(_ body: (inout Outcome) -> T) -> T { state.withLock { body(&$0) } }
    }

    let client: BoxOfficeClient
    /// Seat labels per concert id.
    let seats: [String: [String]]
    /// Where each seat is decided, for a smart client; nil: round-robin.
    let routing: SaleRouting?

    /// One buyer: returns its order, if it got one.
    func buyer(_ name: String, outcome: Tally) async {
        var rng = SystemRandomNumberGenerator()
        let concerts = seats.keys.sorted()
        for _ in 0..<3 {
            let concert = concerts.randomElement(using: &rng)!
            let label = seats[concert]!.randomElement(using: &rng)!
            do {
                if let order = try await attempt(concert: concert, seat: label, buyer: name, outcome: outcome) {
                    outcome.withLock { $0.orders.append(order); $0.buyersDone += 1 }
                    return
                }
            } catch {
                outcome.withLock { $0.errors.append("\(name) on \(concert)/\(label): \(error)") }
            }
        }
        outcome.withLock { $0.buyersDone += 1 }
    }

    /// Reserve then purchase at the seat's owner or units chosen by the grid (or `units`:
    /// one each, to make two buyers meet at different units). nil: the seat was taken or
    /// unconfirmed.
    func attempt(concert: String, seat label: String, buyer: String, outcome: Tally, units: (String, String)? = nil) async throws -> Order? {
        let path = "/concerts/\(concert)/seats/\(label)"
        let owner = routing?.target(concert: concert, seat: label)
        let units = units ?? owner.map { ($0, $0) }
        let reserved = try await client.post("\(path)/reserve", ["buyer": buyer], at: units?.0)
        outcome.withLock { $0.requests += 1 }
        guard reserved.status == 201, let hold = reserved.json?["hold"] as? String else {
            try settle(reserved, "reserve \(concert)/\(label)", outcome)
            return nil
        }
        var bought = try await client.post("\(path)/purchase", ["hold": hold, "buyer": buyer], at: units?.1)
        outcome.withLock { $0.requests += 1 }
        // 421: the seat's sale is decided elsewhere and its ownership is moving; the
        // answer says to retry shortly, as a smart client would.
        for _ in 0..<20 where bought.status == 421 {
            try await Task.sleep(for: .milliseconds(50))
            bought = try await client.post("\(path)/purchase", ["hold": hold, "buyer": buyer], at: units?.1)
            outcome.withLock { $0.requests += 1 }
        }
        guard bought.status == 201, let order = bought.json?["order"] as? String else {
            try settle(bought, "purchase \(concert)/\(label)", outcome)
            return nil
        }
        return Order(seat: "\(concert)/\(label)", order: order, buyer: buyer)
    }

    private func settle(_ reply: BoxOfficeClient.Reply, _ what: String, _ outcome: Tally) throws {
        switch reply.status {
        case 409, 410: outcome.withLock { $0.conflicts += 1 }
        case 503 where (reply.json?["detail"] as? String)?.contains("not confirmed") == true: outcome.withLock { $0.unconfirmed += 1 }
        default: throw DemoFailure("\(what): HTTP \(reply.status) \(String(decoding: reply.body.prefix(300), as: UTF8.self))")
        }
    }
}

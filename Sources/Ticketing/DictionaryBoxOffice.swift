import Foundation
import PumphouseContracts
import PumphouseObservability
import Synchronization

/// The bare ceiling of the on-sale benchmark: the box office's routes answered from one
/// process's dictionaries behind a lock, with no log, no replica and no database. What a
/// request costs here is the HTTP server's and the JSON's share; the rest of a unit's
/// cost is Pumphouse's. Nothing is shared between processes or survives a restart, so
/// this is a yardstick, never a box office. Keys and ids compare by their bytes, as the
/// units' box office and PostgreSQL compare them, so the ceiling answers what they do.
package final class DictionaryBoxOffice: BoxOfficeService {
    private struct State {
        var concerts: [ExactKey: Concert] = [:]
        var seats: [ExactKey: Seat] = [:]
        var sales: [ExactKey: Sale] = [:]
    }

    private let state = Mutex(State())
    private let holdDuration: Duration
    private let id: String

    package init(id: String, holdDuration: Duration = .seconds(120)) {
        self.id = id
        self.holdDuration = holdDuration
    }

    package var readiness: Readiness { Readiness(isReady: true, reason: "in memory") }

    package func open(_ spec: BoxOffice.NewConcert) throws(BoxOfficeError) -> BoxOffice.ConcertSummary {
        try BoxOfficeRules.check(spec)
        let concert = Concert(id: spec.id, name: spec.name, venue: spec.venue, startsAt: spec.startsAt, price: spec.price, seats: spec.rows * spec.seatsPerRow, sold: 0)
        let opened = state.withLock { state -> Bool in
            let key = ExactKey(spec.id)
            if let existing = state.concerts[key] {
                guard BoxOffice.opened(existing, as: spec) else { return false }
            } else {
                state.concerts[key] = concert
            }
            for rowIndex in 0..<spec.rows {
                let row = BoxOfficeRules.rowLabel(rowIndex)
                for number in 1...spec.seatsPerRow {
                    let id = Seat.key(concert: spec.id, seat: "\(row)-\(number)")
                    let seat = ExactKey(id)
                    if state.seats[seat] == nil {
                        state.seats[seat] = Seat(id: id, concert: spec.id, row: row, number: number, price: spec.price)
                    }
                }
            }
            return true
        }
        guard opened else { throw .conflict("concert \(spec.id) exists already, with other details") }
        return try summary(spec.id)
    }

    package func list() -> [BoxOffice.ConcertSummary] {
        let ids = state.withLock { BoxOffice.listed($0.concerts.values) }
        return ids.compactMap { try? summary($0) }
    }

    package func summary(_ id: String) throws(BoxOfficeError) -> BoxOffice.ConcertSummary {
        let now = BoxOffice.now()
        let found = state.withLock { state -> BoxOffice.ConcertSummary? in
            guard let concert = state.concerts[ExactKey(id)] else { return nil }
            var held = 0, sold = 0
            var revenue: Int64 = 0
            for seat in state.seats.values where seat.concert.isSameBytes(as: id) {
                if let sale = state.sales[ExactKey(seat.id)] {
                    sold += 1
                    revenue = BoxOfficeRules.adding(sale.price, to: revenue)
                } else if seat.isHeld(byOtherThan: nil, at: now) {
                    held += 1
                }
            }
            return BoxOffice.ConcertSummary(
                id: concert.id, name: concert.name, venue: concert.venue, startsAt: concert.startsAt, seats: concert.seats,
                sold: Int64(sold), held: held, free: max(0, concert.seats - sold - held), revenue: revenue
            )
        }
        guard let found else { throw .notFound("concert \(id)") }
        return found
    }

    package func seatMap(_ concert: String) throws(BoxOfficeError) -> [BoxOffice.SeatView] {
        let now = BoxOffice.now()
        let views = state.withLock { state -> [BoxOffice.SeatView]? in
            guard state.concerts[ExactKey(concert)] != nil else { return nil }
            return BoxOffice.inOrder(state.seats.values.filter { $0.concert.isSameBytes(as: concert) }
                .map { seat in
                    let status: BoxOffice.SeatView.Status = state.sales[ExactKey(seat.id)] != nil ? .sold : seat.isHeld(byOtherThan: nil, at: now) ? .held : .free
                    return BoxOffice.SeatView(seat: seat.label, row: seat.row, number: seat.number, price: seat.price, status: status, holdUntil: status == .held ? seat.holdUntil : nil)
                })
        }
        guard let views else { throw .notFound("concert \(concert)") }
        return views
    }

    package func reserve(concert: String, seat label: String, buyer: String) throws(BoxOfficeError) -> BoxOffice.Hold {
        try BoxOfficeRules.checkBuyer(buyer)
        let key = ExactKey(Seat.key(concert: concert, seat: label))
        let now = BoxOffice.now()
        let hold = BoxOffice.Hold(hold: BoxOfficeRules.newID("h-"), seat: label, holdUntil: now + Int64(holdDuration / .milliseconds(1)))
        let refusal = state.withLock { state -> BoxOfficeError? in
            guard var seat = state.seats[key] else { return .notFound("seat \(label) of concert \(concert)") }
            guard state.sales[key] == nil else { return .conflict("seat \(label) of \(concert) is sold") }
            guard !seat.isHeld(byOtherThan: nil, at: now) else { return .conflict("seat \(label) of \(concert) is held by another buyer") }
            seat.holder = hold.hold
            seat.holdUntil = hold.holdUntil
            state.seats[key] = seat
            return nil
        }
        if let refusal { throw refusal }
        return hold
    }

    /// The units' rule: a hold this process has not seen (it went to another process)
    /// does not stop the sale; a live hold of another buyer does.
    package func purchase(concert: String, seat label: String, hold: String, buyer: String) throws(BoxOfficeError) -> Sale {
        try BoxOfficeRules.checkBuyer(buyer)
        try BoxOfficeRules.checkHold(hold)
        let key = ExactKey(Seat.key(concert: concert, seat: label))
        let now = BoxOffice.now()
        let order = BoxOfficeRules.newID("ord-")
        let outcome = state.withLock { state -> Result<Sale, BoxOfficeError> in
            guard var seat = state.seats[key] else { return .failure(.notFound("seat \(label) of concert \(concert)")) }
            if let sold = state.sales[key] {
                return sold.buyer.isSameBytes(as: buyer) ? .success(sold) : .failure(.conflict("seat \(label) of \(concert) is sold"))
            }
            if seat.isHeld(byOtherThan: hold, at: now) { return .failure(.conflict("seat \(label) of \(concert) is held by another buyer")) }
            if seat.hasHold(hold), let lapsed = seat.holdUntil, lapsed <= now { return .failure(.holdExpired(seat: label, at: lapsed)) }
            let sale = Sale(seat: key.text, order: order, concert: concert, buyer: buyer, price: seat.price, unit: id, soldAt: now)
            state.sales[key] = sale
            state.concerts[ExactKey(concert)]?.sold += 1
            seat.releaseHold()
            state.seats[key] = seat
            return .success(sale)
        }
        return try outcome.get()
    }

    package func release(concert: String, seat label: String, hold: String) throws(BoxOfficeError) {
        let key = ExactKey(Seat.key(concert: concert, seat: label))
        let refusal = state.withLock { state -> BoxOfficeError? in
            guard var seat = state.seats[key] else { return .notFound("seat \(label) of concert \(concert)") }
            guard seat.hasHold(hold), !hold.isEmpty else { return .conflict("hold \(hold) does not hold seat \(label) of \(concert)") }
            seat.releaseHold()
            state.seats[key] = seat
            return nil
        }
        if let refusal { throw refusal }
    }
}

import Foundation
import Logging
import PumphouseContracts
import PumphouseUnit

/// The concert-ticketing logic of one processing unit, over three named caches.
///
/// Reads and holds are local: a reserve changes this unit's replica and publishes,
/// without waiting on anything. A purchase is the one step that waits for the log: it
/// creates the seat's `Sale`, and the first create of a seat's sale in log order wins
/// on every unit and in PostgreSQL. Two units selling the same seat at the same instant
/// therefore get one sale and one conflict, and a resend after a crash cannot sell it
/// again. Holds are advisory: units may briefly disagree on one during replication,
/// which can cost a buyer a failed purchase but never a second sale.
public struct BoxOffice: Sendable {
    public let unit: ProcessingUnit
    public let concerts: ReplicatedCache<Concert>
    public let seats: ReplicatedCache<Seat>
    public let sales: ReplicatedCache<Sale>
    public var holdDuration: Duration
    /// How long a purchase waits for its sale to come back on the log.
    public var confirmTimeout: Duration
    let logger: Logger

    /// Opens the three caches; call before the unit runs.
    public init(unit: ProcessingUnit, holdDuration: Duration = .seconds(120), confirmTimeout: Duration = .seconds(5), logger: Logger = Logger(label: "ticketing.box-office")) throws {
        self.unit = unit
        self.concerts = try unit.cache(Concert.self)
        self.seats = try unit.cache(Seat.self)
        self.sales = try unit.cache(Sale.self)
        self.holdDuration = holdDuration
        self.confirmTimeout = confirmTimeout
        self.logger = logger
    }

    static func now() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

    // MARK: Concerts

    public struct NewConcert: Codable, Sendable {
        public var id: String
        public var name: String
        public var venue: String
        public var startsAt: Int64
        public var price: Int64
        public var rows: Int
        public var seatsPerRow: Int

        public init(id: String, name: String, venue: String, startsAt: Int64, price: Int64, rows: Int, seatsPerRow: Int) {
            (self.id, self.name, self.venue, self.startsAt, self.price, self.rows, self.seatsPerRow) = (id, name, venue, startsAt, price, rows, seatsPerRow)
        }
    }

    /// Creates the concert and its seats. The concert itself is created (first in log
    /// order wins), so two units opening the same id cannot both lay out seats. Opening
    /// it again with the same details lays out the seats still missing (after a timeout
    /// or a crash half-way), so a retry is safe.
    public func open(_ spec: NewConcert) async throws(BoxOfficeError) -> ConcertSummary {
        try checkLoaded()
        try BoxOfficeRules.check(spec)
        let concert = Concert(
            id: spec.id, name: spec.name, venue: spec.venue, startsAt: spec.startsAt, price: spec.price,
            seats: spec.rows * spec.seatsPerRow, sold: 0
        )
        let created = try await cacheCall { () async throws(CacheError) in try await concerts.create(concert, timeout: confirmTimeout) }
        guard created || concerts[spec.id].map({ var same = $0; same.sold = 0; return same == concert }) == true else {
            throw .conflict("concert \(spec.id) exists already, with other details")
        }
        for rowIndex in 0..<spec.rows {
            let row = BoxOfficeRules.rowLabel(rowIndex)
            for number in 1...spec.seatsPerRow {
                let seat = Seat(id: Seat.key(concert: spec.id, seat: "\(row)-\(number)"), concert: spec.id, row: row, number: number, price: spec.price)
                if seats[seat.id] == nil {
                    try cacheCall { () throws(CacheError) in try seats.put(seat) }
                }
            }
            await Task.yield()  // a large hall is thousands of changes; let other requests in
        }
        return summary(of: concerts[spec.id] ?? concert)
    }

    public struct ConcertSummary: Codable, Sendable, Equatable {
        public var id: String
        public var name: String
        public var venue: String
        public var startsAt: Int64
        public var seats: Int
        /// The concert's sold counter (the sum of every unit's deltas).
        public var sold: Int64
        public var held: Int
        public var free: Int
        /// Cents taken, from the sales.
        public var revenue: Int64
    }

    public func list() throws(BoxOfficeError) -> [ConcertSummary] {
        try checkLoaded()
        return concerts.values.sorted { $0.startsAt == $1.startsAt ? $0.id < $1.id : $0.startsAt < $1.startsAt }.map(summary(of:))
    }

    public func summary(_ id: String) throws(BoxOfficeError) -> ConcertSummary {
        try checkLoaded()
        guard let concert = concerts[id] else { throw .notFound("concert \(id)") }
        return summary(of: concert)
    }

    private func summary(of concert: Concert) -> ConcertSummary {
        let now = Self.now()
        var held = 0, sold = 0
        var revenue: Int64 = 0
        for seat in seats.values where seat.concert == concert.id {
            if let sale = sales[seat.id] {
                sold += 1
                revenue += sale.price
            } else if seat.isHeld(byOtherThan: nil, at: now) {
                held += 1
            }
        }
        return ConcertSummary(
            id: concert.id, name: concert.name, venue: concert.venue, startsAt: concert.startsAt, seats: concert.seats,
            sold: concert.sold, held: held, free: max(0, concert.seats - sold - held), revenue: revenue
        )
    }

    // MARK: Seats

    public struct SeatView: Codable, Sendable, Equatable {
        /// `unknown`: the seat's sale lies in a partition of the partitioned sales that
        /// this unit does not keep; ask the seat's owner (GET /routing).
        public enum Status: String, Codable, Sendable { case free, held, sold, unknown }
        public var seat: String
        public var row: String
        public var number: Int
        public var price: Int64
        public var status: Status
        /// When a hold lapses (held seats only).
        public var holdUntil: Int64?
    }

    public func seatMap(_ concert: String) throws(BoxOfficeError) -> [SeatView] {
        try checkLoaded()
        guard concerts[concert] != nil else { throw .notFound("concert \(concert)") }
        let now = Self.now()
        return seats.values.filter { $0.concert == concert }
            .sorted { $0.row == $1.row ? $0.number < $1.number : $0.row < $1.row }
            .map { seat in
                let sale = sales.read(seat.id)
                let status: SeatView.Status =
                    sale.source == .notHeld ? .unknown : sale.value != nil ? .sold : seat.isHeld(byOtherThan: nil, at: now) ? .held : .free
                return SeatView(seat: seat.label, row: seat.row, number: seat.number, price: seat.price, status: status, holdUntil: status == .held ? seat.holdUntil : nil)
            }
    }

    public struct Hold: Codable, Sendable, Equatable {
        public var hold: String
        public var seat: String
        public var holdUntil: Int64
    }

    /// Holds a free seat for `holdDuration`. Local and immediate; see the type's note on
    /// why a hold is advisory.
    public func reserve(concert: String, seat label: String, buyer: String) throws(BoxOfficeError) -> Hold {
        try checkLoaded()
        try BoxOfficeRules.checkBuyer(buyer)
        let seat = try seat(concert, label)
        // Whether the seat is sold is known where its sale's partition is kept: a unit
        // that does not keep it sends the reserve to the owner.
        let sale = sales.read(seat.id)
        if sale.source == .notHeld {
            throw translate(.notOwner(cache: Sale.contract, key: seat.id, partition: sale.partition, owner: sale.owner))
        }
        guard sale.value == nil else { throw .conflict("seat \(label) of \(concert) is sold") }
        let now = Self.now()
        guard !seat.isHeld(byOtherThan: nil, at: now) else { throw .conflict("seat \(label) of \(concert) is held by another buyer") }
        let hold = Hold(hold: "h-\(UUID().uuidString.lowercased())", seat: label, holdUntil: now + Int64(holdDuration / .milliseconds(1)))
        try cacheCall { () throws(CacheError) in
            try seats.update(seat.id) {
                $0.holder = hold.hold
                $0.holdUntil = hold.holdUntil
            }
        }
        return hold
    }

    /// Sells the seat to the buyer holding `hold`: waits (up to `confirmTimeout`) for the
    /// log to say whether this sale was the seat's first. The same buyer asking again
    /// for a seat sold to them gets their sale back, so a purchase that timed out can be
    /// retried safely.
    public func purchase(concert: String, seat label: String, hold: String, buyer: String) async throws(BoxOfficeError) -> Sale {
        try checkLoaded()
        try BoxOfficeRules.checkBuyer(buyer)
        try BoxOfficeRules.checkHold(hold)
        let seat = try seat(concert, label)
        if let sold = sales[seat.id] {
            guard sold.buyer == buyer else { throw .conflict("seat \(label) of \(concert) is sold") }
            // A retry while this unit's sale is still on its way to the log: another
            // unit's may yet win the seat, so the buyer hears what the first attempt heard.
            guard sales.committed(seat.id) != nil else {
                throw .unavailable("the sale of seat \(label) of \(concert) is not confirmed by the log yet; retry the purchase in a moment")
            }
            return sold
        }
        let now = Self.now()
        if seat.isHeld(byOtherThan: hold, at: now) { throw .conflict("seat \(label) of \(concert) is held by another buyer") }
        if seat.holder == hold, let lapsed = seat.holdUntil, lapsed <= now { throw .holdExpired(seat: label, at: lapsed) }
        // The hold may not have reached this unit yet (the reserve went to another one):
        // the sale's create decides either way.
        let sale = Sale(seat: seat.id, order: "ord-\(UUID().uuidString.lowercased())", concert: concert, buyer: buyer, price: seat.price, unit: unit.id, soldAt: now)
        let office = self
        let won = try await cacheCall { () async throws(CacheError) in
            try await sales.create(sale, timeout: confirmTimeout, confirmation: .brokerAcknowledged) { won in
                if won { office.recordSale(sale) }
            }
        }
        guard won else { throw .conflict("seat \(label) of \(concert) was sold to another buyer first") }
        return sale
    }

    /// What follows a won sale, whenever the log confirms it: the concert's counter and
    /// the seat's hold. The sale stands if either fails; the failure is logged.
    private func recordSale(_ sale: Sale) {
        do {
            try concerts.increment(sale.concert, "sold", by: 1)
            try seats.update(sale.seat) { $0.releaseHold() }
        } catch {
            logger.error("sale \(sale.order) of \(sale.seat) stands, but its bookkeeping failed: \(error)")
        }
    }

    public func release(concert: String, seat label: String, hold: String) throws(BoxOfficeError) {
        try checkLoaded()
        let seat = try seat(concert, label)
        guard seat.holder == hold, !hold.isEmpty else { throw .conflict("hold \(hold) does not hold seat \(label) of \(concert)") }
        try cacheCall { () throws(CacheError) in
            try seats.update(seat.id) { $0.releaseHold() }
        }
    }

    // MARK: Helpers

    private func seat(_ concert: String, _ label: String) throws(BoxOfficeError) -> Seat {
        guard let seat = seats[Seat.key(concert: concert, seat: label)] else { throw .notFound("seat \(label) of concert \(concert)") }
        return seat
    }

    private func checkLoaded() throws(BoxOfficeError) {
        guard unit.isLoaded else { throw .unavailable("this unit is still loading its caches; retry in a moment or send the request to another unit") }
    }

    private func cacheCall<T>(_ body: () throws(CacheError) -> T) throws(BoxOfficeError) -> T {
        do { return try body() } catch { throw translate(error) }
    }

    private func cacheCall<T>(_ body: () async throws(CacheError) -> T) async throws(BoxOfficeError) -> T {
        do { return try await body() } catch { throw translate(error) }
    }

    func translate(_ error: CacheError) -> BoxOfficeError {
        switch error {
        case .missing(_, let key): .notFound(key)
        case .invalid(_, let key, let reason): .badRequest(field: "request", problem: "\(key): \(reason)")
        case .notOwner(let cache, let key, let partition, let owner):
            .misdirected(.init(
                owner: owner, address: owner == nil ? nil : unit.routingTable(of: cache)?.route(ofKey: key)?.address, cache: cache.rawValue, partition: partition
            ))
        case .backPressure, .closed, .archiveTimeout, .archiveFailed, .unconfirmed: .unavailable("\(error)")
        }
    }
}

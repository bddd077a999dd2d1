import Foundation
import Hummingbird
import Logging
import PumphouseContracts
import PumphouseUnit
import PumphouseUnitHTTP

/// The concert-ticketing logic of one processing unit, over three named caches.
///
/// A seat is sold by the first create of its `Sale` in log order, on every unit and in
/// PostgreSQL, so a resend after a crash cannot sell it again. Where seats and sales are
/// partitioned together (as in `make demo`), the unit owning a seat's partition decides
/// its hold and its sale at once, from its own memory, and the other units send those
/// requests there; what spans every seat of a concert (laying out the hall, the seat
/// map, the counts) is asked of each owner for its partitions (`OwnerFanOut`). Where
/// seats are replicated, any unit holds any seat: a hold is then advisory (units may
/// briefly disagree on one during replication, which can cost a buyer a failed
/// purchase but never a second sale).
package struct BoxOffice: Sendable {
    package let unit: ProcessingUnit
    package let concerts: ReplicatedCache<Concert>
    package let seats: ReplicatedCache<Seat>
    package let sales: ReplicatedCache<Sale>
    package var holdDuration: Duration
    /// How long a purchase waits for its sale to come back on the log.
    package var confirmTimeout: Duration
    /// Set where seats are partitioned: the owners asked for their share of a concert.
    let seatOwners: OwnerFanOut?
    let logger: Logger

    /// Opens the three caches; call before the unit runs.
    package init(unit: ProcessingUnit, holdDuration: Duration = .seconds(120), confirmTimeout: Duration = .seconds(5), logger: Logger = Logger(label: "ticketing.box-office")) throws {
        self.unit = unit
        self.concerts = try unit.cache(Concert.self)
        self.seats = try unit.cache(Seat.self)
        self.sales = try unit.cache(Sale.self)
        let together = seats.coPartitioned.contains(Sale.contract) || sales.coPartitioned.contains(Seat.contract)
        if seats.isPartitioned, !sales.isPartitioned || !together {
            throw BoxOfficeError.badRequest(
                field: "pipeline", problem: "ticketing.Seat is partitioned and not together with ticketing.Sale: a seat's hold and its sale are decided by one owner, so partition both (co_partitioned_with) or neither"
            )
        }
        self.seatOwners = seats.isPartitioned ? OwnerFanOut(unit: unit, cache: Seat.contract) : nil
        self.holdDuration = holdDuration
        self.confirmTimeout = confirmTimeout
        self.logger = logger
    }

    static func now() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

    // MARK: Concerts

    package struct NewConcert: Codable, Sendable {
        package var id: String
        package var name: String
        package var venue: String
        package var startsAt: Int64
        package var price: Int64
        package var rows: Int
        package var seatsPerRow: Int

        package init(id: String, name: String, venue: String, startsAt: Int64, price: Int64, rows: Int, seatsPerRow: Int) {
            (self.id, self.name, self.venue, self.startsAt, self.price, self.rows, self.seatsPerRow) = (id, name, venue, startsAt, price, rows, seatsPerRow)
        }
    }

    /// Creates the concert and its seats. The concert itself is created (first in log
    /// order wins), so two units opening the same id cannot both lay out seats. Opening
    /// it again with the same details lays out the seats still missing (after a timeout
    /// or a crash half-way), so a retry is safe. Where seats are partitioned, each owner
    /// lays out the seats of its partitions (``layOut(_:partitions:)``).
    package func open(_ spec: NewConcert) async throws(BoxOfficeError) -> ConcertSummary {
        try checkLoaded()
        try BoxOfficeRules.check(spec)
        let concert = Concert(
            id: spec.id, name: spec.name, venue: spec.venue, startsAt: spec.startsAt, price: spec.price,
            seats: spec.rows * spec.seatsPerRow, sold: 0
        )
        let created = try await cacheCall { () async throws(CacheError) in try await concerts.create(concert, timeout: confirmTimeout) }
        guard created || Self.opened(concerts[spec.id], as: spec) else {
            throw .conflict("concert \(spec.id) exists already, with other details")
        }
        guard let seatOwners else {
            try await layOut(spec) { _ in true }
            return summary(of: concerts[spec.id] ?? concert, partitions: nil)
        }
        let body: [UInt8]
        do { body = Array(try JSONEncoder().encode(spec)) } catch { throw .unavailable("the concert's details cannot be written as JSON: \(error)") }
        _ = try await gather(seatOwners, .post, "/grid/concerts/\(spec.id)/layout", body: body) { (local) async throws(BoxOfficeError) in
            if !local.isEmpty { try await layOut(spec) { local.contains($0.partition) } }
        } remote: { _ in }
        return try await summary(spec.id)
    }

    /// An owner's share of ``open(_:)``: lays out the concert's seats that fall in
    /// `partitions`, which this unit must own. The concert must have been opened with
    /// these details; its create reaches this unit through the log moments after the
    /// opener's, so this waits a moment for it.
    package func layOut(_ spec: NewConcert, partitions: [Int32]) async throws(BoxOfficeError) {
        try checkLoaded()
        try BoxOfficeRules.check(spec)
        let concert = try await concertArriving(spec.id)
        guard Self.opened(concert, as: spec) else { throw .conflict("concert \(spec.id) exists already, with other details") }
        try checkOwned(partitions)
        guard !partitions.isEmpty else { return }
        try await layOut(spec) { partitions.contains($0.partition) }
    }

    /// The concert, waiting a moment for it (up to 3 s, or `confirmTimeout` if shorter):
    /// an owner asked for its share may be asked moments before the concert's create
    /// reaches it through the log, and an unknown concert should not hold a caller long.
    private func concertArriving(_ id: String) async throws(BoxOfficeError) -> Concert {
        let deadline = ContinuousClock.now + min(confirmTimeout, .seconds(3))
        while true {
            if let concert = concerts[id] { return concert }
            guard ContinuousClock.now < deadline else { throw .notFound("concert \(id)") }
            do { try await Task.sleep(for: .milliseconds(5)) } catch { throw .unavailable("the request was cancelled") }
        }
    }

    /// Puts the concert's seats still missing among those `lays` chooses.
    private func layOut(_ spec: NewConcert, where lays: (CacheRead<Seat>) -> Bool) async throws(BoxOfficeError) {
        for rowIndex in 0..<spec.rows {
            let row = BoxOfficeRules.rowLabel(rowIndex)
            for number in 1...spec.seatsPerRow {
                let seat = Seat(id: Seat.key(concert: spec.id, seat: "\(row)-\(number)"), concert: spec.id, row: row, number: number, price: spec.price)
                let held = seats.read(seat.id)
                if held.value == nil, lays(held) {
                    try cacheCall { () throws(CacheError) in try seats.put(seat) }
                }
            }
            await Task.yield()  // a large hall is thousands of changes; let other requests in
        }
    }

    /// Whether `concert` is the one `spec` opens (its counter aside).
    package static func opened(_ concert: Concert?, as spec: NewConcert) -> Bool {
        guard let concert else { return false }
        return concert.name.isSameBytes(as: spec.name) && concert.venue.isSameBytes(as: spec.venue) && concert.startsAt == spec.startsAt
            && concert.price == spec.price && concert.seats == spec.rows * spec.seatsPerRow
    }

    package struct ConcertSummary: Codable, Sendable, Equatable {
        package var id: String
        package var name: String
        package var venue: String
        package var startsAt: Int64
        package var seats: Int
        /// The concert's sold counter (the sum of every unit's deltas).
        package var sold: Int64
        package var held: Int
        package var free: Int
        /// Cents taken, from the sales.
        package var revenue: Int64
    }

    /// Every concert's summary, by start time; the concerts are summed up at once, each
    /// asking the seats' owners at once (`gather`), so the list waits for the slowest
    /// owner once rather than for every owner once per concert.
    package func list() async throws(BoxOfficeError) -> [ConcertSummary] {
        try checkLoaded()
        let ids = Self.listed(concerts.values)
        return try await Self.concurrently(ids.count) { (index) async throws(BoxOfficeError) in try await summary(ids[index]) }
    }

    package func summary(_ id: String) async throws(BoxOfficeError) -> ConcertSummary {
        try checkLoaded()
        guard let concert = concerts[id] else { throw .notFound("concert \(id)") }
        guard let seatOwners else { return summary(of: concert, partitions: nil) }
        let parts = try await gather(seatOwners, .get, "/grid/concerts/\(id)/summary") { (local) throws(BoxOfficeError) in
            summary(of: concert, partitions: local)
        } remote: { (body) throws(BoxOfficeError) in
            try decode(ConcertSummary.self, body)
        }
        var whole = parts[0]
        for part in parts.dropFirst() {
            whole.held += part.held
            whole.free += part.free
            whole.revenue = BoxOfficeRules.adding(part.revenue, to: whole.revenue)
        }
        return whole
    }

    /// An owner's share of ``summary(_:)``: held, free and revenue count only the seats
    /// in `partitions`, which this unit must own; `seats` and `sold` are the concert's.
    package func summary(_ id: String, partitions: [Int32]) async throws(BoxOfficeError) -> ConcertSummary {
        summary(of: try await share(of: id, partitions), partitions: partitions)
    }

    /// The concert's counts over the seats of `partitions` (nil: every seat, where seats
    /// are replicated). Free seats are the laid-out ones neither sold nor held.
    private func summary(of concert: Concert, partitions: [Int32]?) -> ConcertSummary {
        let now = Self.now()
        var held = 0, sold = 0, laidOut = 0
        var revenue: Int64 = 0
        for seat in seats(of: concert.id, partitions: partitions) {
            laidOut += 1
            if let sale = sales[seat.id] {
                sold += 1
                revenue = BoxOfficeRules.adding(sale.price, to: revenue)
            } else if seat.isHeld(byOtherThan: nil, at: now) {
                held += 1
            }
        }
        return ConcertSummary(
            id: concert.id, name: concert.name, venue: concert.venue, startsAt: concert.startsAt, seats: concert.seats,
            sold: concert.sold, held: held, free: max(0, (partitions == nil ? concert.seats : laidOut) - sold - held), revenue: revenue
        )
    }

    /// The seats of a concert this unit holds in `partitions` (nil: all it holds).
    private func seats(of concert: String, partitions: [Int32]?) -> [Seat] {
        let candidates = partitions.map { $0.flatMap(seats.values(inPartition:)) } ?? seats.values
        return candidates.filter { $0.concert.isSameBytes(as: concert) }
    }

    // MARK: Seats

    package struct SeatView: Codable, Sendable, Equatable {
        /// `unknown`: the seat's sale lies in a partition of the partitioned sales that
        /// this unit does not keep; ask the seat's owner (GET /routing).
        package enum Status: String, Codable, Sendable { case free, held, sold, unknown }
        package var seat: String
        package var row: String
        package var number: Int
        package var price: Int64
        package var status: Status
        /// When a hold lapses (held seats only).
        package var holdUntil: Int64?
    }

    package func seatMap(_ concert: String) async throws(BoxOfficeError) -> [SeatView] {
        try checkLoaded()
        guard concerts[concert] != nil else { throw .notFound("concert \(concert)") }
        guard let seatOwners else { return Self.inOrder(seatViews(seats(of: concert, partitions: nil))) }
        let parts = try await gather(seatOwners, .get, "/grid/concerts/\(concert)/seats") { (local) throws(BoxOfficeError) in
            seatViews(seats(of: concert, partitions: local))
        } remote: { (body) throws(BoxOfficeError) in
            try decode([SeatView].self, body)
        }
        return Self.inOrder(parts.flatMap { $0 })
    }

    /// An owner's share of ``seatMap(_:)``: the seats in `partitions`, which this unit
    /// must own.
    package func seatMap(_ concert: String, partitions: [Int32]) async throws(BoxOfficeError) -> [SeatView] {
        _ = try await share(of: concert, partitions)
        return Self.inOrder(seatViews(seats(of: concert, partitions: partitions)))
    }

    /// The concerts' ids in the order `list()` gives them: by start time, then by id's bytes.
    package static func listed(_ concerts: some Sequence<Concert>) -> [String] {
        concerts.sorted { $0.startsAt == $1.startsAt ? ExactKey($0.id) < ExactKey($1.id) : $0.startsAt < $1.startsAt }.map(\.id)
    }

    /// A seat map's order: by row's bytes, then by number.
    package static func inOrder(_ views: [SeatView]) -> [SeatView] {
        views.sorted { $0.row.isSameBytes(as: $1.row) ? $0.number < $1.number : ExactKey($0.row) < ExactKey($1.row) }
    }

    private func seatViews(_ seats: [Seat]) -> [SeatView] {
        let now = Self.now()
        return seats.map { seat in
            let sale = sales.read(seat.id)
            let status: SeatView.Status =
                sale.source == .notHeld ? .unknown : sale.value != nil ? .sold : seat.isHeld(byOtherThan: nil, at: now) ? .held : .free
            return SeatView(seat: seat.label, row: seat.row, number: seat.number, price: seat.price, status: status, holdUntil: status == .held ? seat.holdUntil : nil)
        }
    }

    package struct Hold: Codable, Sendable, Equatable {
        package var hold: String
        package var seat: String
        package var holdUntil: Int64
    }

    /// Holds a free seat for `holdDuration`. Local and immediate, at the seat's owner
    /// where seats are partitioned; see the type's note on when a hold is advisory.
    package func reserve(concert: String, seat label: String, buyer: String) throws(BoxOfficeError) -> Hold {
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
        let hold = Hold(hold: BoxOfficeRules.newID("h-"), seat: label, holdUntil: now + Int64(holdDuration / .milliseconds(1)))
        // Decided again on the seat as the cache holds it under its lock: two reserves
        // that both passed the check above would otherwise both be granted, the later
        // replacing the earlier, whose buyer would then be refused at purchase.
        var taken = false
        try cacheCall { () throws(CacheError) in
            try seats.update(seat.id) {
                guard !$0.isHeld(byOtherThan: nil, at: now) else {
                    taken = true
                    return
                }
                $0.holder = hold.hold
                $0.holdUntil = hold.holdUntil
            }
        }
        guard !taken else { throw .conflict("seat \(label) of \(concert) is held by another buyer") }
        return hold
    }

    /// Sells the seat to the buyer holding `hold`: waits (up to `confirmTimeout`) for the
    /// log to say whether this sale was the seat's first. The same buyer asking again
    /// for a seat sold to them gets their sale back, so a purchase that timed out can be
    /// retried safely.
    package func purchase(concert: String, seat label: String, hold: String, buyer: String) async throws(BoxOfficeError) -> Sale {
        try checkLoaded()
        try BoxOfficeRules.checkBuyer(buyer)
        try BoxOfficeRules.checkHold(hold)
        let seat = try seat(concert, label)
        if let sold = sales[seat.id] {
            guard sold.buyer.isSameBytes(as: buyer) else { throw .conflict("seat \(label) of \(concert) is sold") }
            // A retry while this unit's sale is still on its way to the log: another
            // unit's may yet win the seat, so the buyer hears what the first attempt heard.
            guard sales.committed(seat.id) != nil else {
                throw .unavailable("the sale of seat \(label) of \(concert) is not confirmed by the log yet; retry the purchase in a moment")
            }
            return sold
        }
        let now = Self.now()
        if seat.isHeld(byOtherThan: hold, at: now) { throw .conflict("seat \(label) of \(concert) is held by another buyer") }
        if seat.hasHold(hold), let lapsed = seat.holdUntil, lapsed <= now { throw .holdExpired(seat: label, at: lapsed) }
        // The hold may not have reached this unit yet (the reserve went to another one):
        // the sale's create decides either way.
        let sale = Sale(seat: seat.id, order: BoxOfficeRules.newID("ord-"), concert: concert, buyer: buyer, price: seat.price, unit: unit.id, soldAt: now)
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
        do throws(CacheError) {
            try concerts.increment(sale.concert, "sold", by: 1)
            try seats.update(sale.seat) { $0.releaseHold() }
        } catch {
            // The error's log-safe form: its full text names the seat, a key, which is row data.
            logger.error("a sale stands, but its bookkeeping (the concert's sold count, the seat's hold) failed: \(error.logSafeDescription)")
        }
    }

    package func release(concert: String, seat label: String, hold: String) throws(BoxOfficeError) {
        try checkLoaded()
        let seat = try seat(concert, label)
        guard seat.hasHold(hold), !hold.isEmpty else { throw .conflict("hold \(hold) does not hold seat \(label) of \(concert)") }
        try cacheCall { () throws(CacheError) in
            try seats.update(seat.id) { $0.releaseHold() }
        }
    }

    // MARK: Helpers

    /// The seat, at a unit that may change it. Where seats are partitioned only the
    /// owner of its partition may (a backup's copy can be behind the owner's holds), so
    /// any other unit sends the request there.
    private func seat(_ concert: String, _ label: String) throws(BoxOfficeError) -> Seat {
        let key = Seat.key(concert: concert, seat: label)
        let read = seats.read(key)
        if seats.isPartitioned, read.source != .owner {
            throw translate(.notOwner(cache: Seat.contract, key: key, partition: read.partition, owner: read.owner))
        }
        guard let seat = read.value else { throw .notFound("seat \(label) of concert \(concert)") }
        return seat
    }

    /// Refuses an owner's share of a fan-out unless this unit owns each of `partitions`
    /// of the seats (misdirected: the asker's routing table is behind; it retries).
    private func checkOwned(_ partitions: [Int32]) throws(BoxOfficeError) {
        guard seats.isPartitioned else {
            throw .badRequest(field: OwnerFanOut.partitionsParameter, problem: "the seats are replicated here, so every unit answers for all of them: leave out the partitions")
        }
        // Out of range is the caller's mistake, not ownership on the move: a 421 would
        // have it retry for ever (and a metric be made for every number it sent).
        if let stray = partitions.first(where: { Int($0) >= seats.partitionCount }) {
            throw .badRequest(field: OwnerFanOut.partitionsParameter, problem: "\(Seat.contract) has partitions 0 to \(seats.partitionCount - 1), not \(stray)")
        }
        for partition in partitions where seats.source(ofPartition: partition) != .owner {
            let route = unit.routingTable(of: Seat.contract)?.partitions.first { $0.partition == partition }
            throw .misdirected(Misdirection(owner: route?.owner, address: route?.address, cache: Seat.contract.rawValue, partition: partition))
        }
    }

    /// The partitions this unit's routing table says it owns, as its cache sees them: a
    /// claim folded but not yet current there (the partition still loading) is a retry
    /// for the caller, never an answer with those seats missing.
    private func checkOwnedHere(_ partitions: [Int32]) throws(BoxOfficeError) {
        for partition in partitions where seats.source(ofPartition: partition) != .owner {
            throw .unavailable("partition \(partition) of \(Seat.contract) is becoming this unit's (its ownership moves); retry in a moment")
        }
    }

    /// One part per owner of the seats: `local`'s over this unit's own partitions (which
    /// its cache must hold as their owner), then `remote`'s reading of each other owner's
    /// answer to `path` for its partitions.
    private func gather<Part>(
        _ owners: OwnerFanOut, _ method: HTTPRequest.Method, _ path: String, body: [UInt8]? = nil,
        local: ([Int32]) async throws(BoxOfficeError) -> Part, remote: ([UInt8]) throws(BoxOfficeError) -> Part
    ) async throws(BoxOfficeError) -> [Part] {
        let plan: OwnerFanOut.Plan
        do { plan = try owners.plan() } catch { throw .fanOut(error) }
        try checkOwnedHere(plan.local)
        let local = try await local(plan.local)
        let remoteShares = plan.remote
        let answers = try await Self.concurrently(remoteShares.count) { (index) async throws(BoxOfficeError) in
            do throws(FanOutFailed) { return try await owners.ask(remoteShares[index], method, path, body: body) } catch { throw .fanOut(error) }
        }
        var parts = [local]
        for answer in answers { parts.append(try remote(answer)) }
        return parts
    }

    /// `count` results of `body`, run at once and returned in index order; the first
    /// error (in index order) is thrown once all have ended.
    private static func concurrently<T: Sendable>(
        _ count: Int, _ body: @escaping @Sendable (Int) async throws(BoxOfficeError) -> T
    ) async throws(BoxOfficeError) -> [T] {
        let results = await withTaskGroup(of: (Int, Result<T, BoxOfficeError>).self) { group in
            for index in 0..<count {
                group.addTask {
                    do throws(BoxOfficeError) { return (index, .success(try await body(index))) } catch { return (index, .failure(error)) }
                }
            }
            var results = [Result<T, BoxOfficeError>?](repeating: nil, count: count)
            for await (index, result) in group { results[index] = result }
            return results
        }
        return try results.map { (result) throws(BoxOfficeError) in try result!.get() }
    }

    /// The concert an owner is asked for its share of, once it is loaded, the concert has
    /// reached it, and it owns each of `partitions`.
    private func share(of concert: String, _ partitions: [Int32]) async throws(BoxOfficeError) -> Concert {
        try checkLoaded()
        let found = try await concertArriving(concert)
        try checkOwned(partitions)
        return found
    }

    private func decode<T: Decodable>(_ type: T.Type, _ body: [UInt8]) throws(BoxOfficeError) -> T {
        do { return try JSONDecoder().decode(type, from: Data(body)) } catch { throw .unavailable("another unit's answer is not \(T.self): \(error)") }
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

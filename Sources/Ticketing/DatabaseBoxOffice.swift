import DequeModule
import Foundation
import Logging
import PumphouseContracts
import PumphouseObservability
import PumphousePostgres
import PumphouseUnit
import Synchronization

/// The database-first twin of the box office: the same routes and rules, with every
/// request answered by PostgreSQL directly, no cache and no log. It is the opponent of
/// the on-sale benchmark, so it is built to be fast: a pool of connections, each
/// statement prepared, and a purchase that is one statement (one round trip, one
/// transaction) locking the seat's row.
///
/// It keeps no sold counter on the concert row: a counter there would serialise every
/// purchase of a concert on one row lock, which no database-first design that wants
/// throughput would do; summaries count the sales instead.
package final class DatabaseBoxOffice: BoxOfficeService {
    package let tables: Tables
    private let pool: PostgresPool
    private let holdDuration: Duration
    private let id: String
    private let statements: Statements

    /// The three tables, shaped like Migrations/0004_ticketing.sql's.
    package struct Tables: Sendable {
        package let concert: String
        package let seat: String
        package let sale: String

        /// `prefix_concert`, `prefix_seat` and `prefix_sale`; `ticketing` names the
        /// sample's own tables.
        package init(prefix: String) throws(BoxOfficeError) {
            guard !prefix.isEmpty, prefix.count <= 40, prefix.first!.isLetter,
                  prefix.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }) else {
                throw .badRequest(field: "tables", problem: "a table prefix is 1 to 40 lowercase ASCII letters, digits or '_', starting with a letter, not \"\(prefix)\"")
            }
            (concert, seat, sale) = ("\(prefix)_concert", "\(prefix)_seat", "\(prefix)_sale")
        }
    }

    package init(pool: PostgresPool, tables: Tables, id: String, holdDuration: Duration = .seconds(120)) {
        self.pool = pool
        self.tables = tables
        self.id = id
        self.holdDuration = holdDuration
        self.statements = Statements(tables)
    }

    package var readiness: Readiness { Readiness(isReady: true, reason: "serving from PostgreSQL") }

    /// The purchase: lock the seat's row; insert the sale if no live hold of another
    /// buyer keeps it, and none exists (the sale's key is the seat); clear the hold of a
    /// seat it sold. One statement, so one round trip and one transaction. Parameters:
    /// $1 seat key, $2 order id, $3 buyer, $4 hold id, $5 the seller's id. Answers one
    /// row: whether the seat exists, its holder and hold end (ms), the order id and
    /// sale time (ms) if this call sold it, and the buyer and order of a sale seen
    /// already.
    package static func purchaseSQL(_ tables: Tables) -> String {
        """
        WITH seat AS (
            SELECT id, concert, price_cents, holder, hold_until FROM \(tables.seat) WHERE id = $1 FOR UPDATE
        ), sold AS (
            INSERT INTO \(tables.sale) (seat, order_id, concert, buyer, price_cents, unit, sold_at)
            SELECT id, $2, concert, $3, price_cents, $5, now() FROM seat
            WHERE holder IS NULL OR hold_until IS NULL
               OR (holder = $4 AND hold_until > now()) OR (holder <> $4 AND hold_until <= now())
            ON CONFLICT (seat) DO NOTHING
            RETURNING seat, order_id, sold_at
        ), freed AS (
            UPDATE \(tables.seat) SET holder = NULL, hold_until = NULL WHERE id IN (SELECT seat FROM sold)
        )
        SELECT (SELECT count(*) FROM seat),
               (SELECT holder FROM seat),
               (SELECT (extract(epoch FROM hold_until) * 1000)::bigint FROM seat),
               (SELECT order_id FROM sold),
               (SELECT (extract(epoch FROM sold_at) * 1000)::bigint FROM sold),
               (SELECT price_cents FROM seat),
               earlier.buyer, earlier.order_id, (extract(epoch FROM earlier.sold_at) * 1000)::bigint
        FROM (SELECT 1) one LEFT JOIN \(tables.sale) earlier ON earlier.seat = $1
        """
    }

    private struct Statements: Sendable {
        let purchase: PostgresPreparedStatement
        let reserve: PostgresPreparedStatement
        let release: PostgresPreparedStatement
        let summary: PostgresPreparedStatement
        let seats: PostgresPreparedStatement

        /// Named after the tables, so twins on other tables can share a connection.
        init(_ tables: Tables) {
            purchase = PostgresPreparedStatement(name: "\(tables.concert)_purchase", sql: DatabaseBoxOffice.purchaseSQL(tables))
            // A hold is taken only on a seat no live hold keeps and no sale has. A holder
            // without an end keeps nothing, as `Seat.isHeld` and the purchase read it.
            reserve = PostgresPreparedStatement(name: "\(tables.concert)_reserve", sql: """
                WITH seat AS (SELECT id FROM \(tables.seat) WHERE id = $1),
                held AS (
                    UPDATE \(tables.seat) SET holder = $2, hold_until = to_timestamp($3::bigint / 1000.0)
                    WHERE id = $1 AND (holder IS NULL OR hold_until IS NULL OR hold_until <= now())
                      AND NOT EXISTS (SELECT 1 FROM \(tables.sale) WHERE seat = $1)
                    RETURNING id
                )
                SELECT (SELECT count(*) FROM seat), (SELECT count(*) FROM held), EXISTS (SELECT 1 FROM \(tables.sale) WHERE seat = $1)
                """)
            release = PostgresPreparedStatement(name: "\(tables.concert)_release", sql: """
                WITH seat AS (SELECT id FROM \(tables.seat) WHERE id = $1),
                freed AS (UPDATE \(tables.seat) SET holder = NULL, hold_until = NULL WHERE id = $1 AND holder = $2 RETURNING id)
                SELECT (SELECT count(*) FROM seat), (SELECT count(*) FROM freed)
                """)
            summary = PostgresPreparedStatement(name: "\(tables.concert)_summary", sql: """
                SELECT c.id, c.name, c.venue, (extract(epoch FROM c.starts_at) * 1000)::bigint, c.seats,
                       (SELECT count(*) FROM \(tables.sale) s WHERE s.concert = c.id),
                       (SELECT count(*) FROM \(tables.seat) t WHERE t.concert = c.id AND t.hold_until > now()
                            AND NOT EXISTS (SELECT 1 FROM \(tables.sale) s WHERE s.seat = t.id)),
                       (SELECT coalesce(sum(price_cents), 0) FROM \(tables.sale) s WHERE s.concert = c.id)
                FROM \(tables.concert) c WHERE $1::text IS NULL OR c.id = $1
                ORDER BY c.starts_at, c.id
                """)
            seats = PostgresPreparedStatement(name: "\(tables.concert)_seats", sql: """
                SELECT t.seat_row, t.number, t.price_cents, s.seat IS NOT NULL,
                       CASE WHEN t.hold_until > now() THEN (extract(epoch FROM t.hold_until) * 1000)::bigint END
                FROM \(tables.seat) t LEFT JOIN \(tables.sale) s ON s.seat = t.id
                WHERE t.concert = $1 ORDER BY t.seat_row, t.number
                """)
        }
    }

    package func open(_ spec: BoxOffice.NewConcert) async throws(BoxOfficeError) -> BoxOffice.ConcertSummary {
        try BoxOfficeRules.check(spec)
        let tables = self.tables
        let same = try await database { db in
            try await db.transaction { tx -> Bool in
                try await tx.query(
                    "INSERT INTO \(tables.concert) (id, name, venue, starts_at, price_cents, seats, sold) VALUES ($1, $2, $3, to_timestamp($4::bigint / 1000.0), $5, $6, 0) ON CONFLICT (id) DO NOTHING",
                    [spec.id, spec.name, spec.venue, spec.startsAt, spec.price, spec.rows * spec.seatsPerRow]
                )
                let existing = try await tx.query(
                    "SELECT name = $2 AND venue = $3 AND starts_at = to_timestamp($4::bigint / 1000.0) AND price_cents = $5 AND seats = $6 FROM \(tables.concert) WHERE id = $1",
                    [spec.id, spec.name, spec.venue, spec.startsAt, spec.price, spec.rows * spec.seatsPerRow]
                ).scalar(Bool.self)
                guard existing == true else { return false }
                // Every seat in one statement; a retry lays out only the missing ones.
                try await tx.query("""
                    INSERT INTO \(tables.seat) (id, concert, seat_row, number, price_cents)
                    SELECT $1 || '/' || chr(65 + r) || '-' || n, $1, chr(65 + r), n, $2
                    FROM generate_series(0, $3::int - 1) r, generate_series(1, $4::int) n
                    ON CONFLICT (id) DO NOTHING
                    """, [spec.id, spec.price, spec.rows, spec.seatsPerRow])
                return true
            }
        }
        guard same else { throw .conflict("concert \(spec.id) exists already, with other details") }
        return try await summary(spec.id)
    }

    package func list() async throws(BoxOfficeError) -> [BoxOffice.ConcertSummary] {
        let summary = statements.summary
        let rows = try await database { db in try await db.query(summary, [String?.none]).rows }
        return try rows.map(Self.summary(from:))
    }

    package func summary(_ id: String) async throws(BoxOfficeError) -> BoxOffice.ConcertSummary {
        let summary = statements.summary
        let rows = try await database { db in try await db.query(summary, [id]).rows }
        guard let row = rows.first else { throw .notFound("concert \(id)") }
        return try Self.summary(from: row)
    }

    private static func summary(from row: [String?]) throws(BoxOfficeError) -> BoxOffice.ConcertSummary {
        func number(_ index: Int) throws(BoxOfficeError) -> Int64 {
            guard let text = row[index], let value = Int64(text) else { throw .unavailable("PostgreSQL answered an unexpected summary row") }
            return value
        }
        let seats = Int(try number(4)), sold = try number(5), held = Int(try number(6))
        return BoxOffice.ConcertSummary(
            id: row[0] ?? "", name: row[1] ?? "", venue: row[2] ?? "", startsAt: try number(3), seats: seats,
            sold: sold, held: held, free: max(0, seats - Int(sold) - held), revenue: try number(7)
        )
    }

    package func seatMap(_ concert: String) async throws(BoxOfficeError) -> [BoxOffice.SeatView] {
        let seats = statements.seats
        let rows = try await database { db in try await db.query(seats, [concert]).rows }
        if rows.isEmpty { _ = try await summary(concert) }  // not found, or a concert without seats
        return rows.map { row in
            let sold = row[3] == "t"
            let holdUntil = row[4].flatMap { Int64($0) }
            let status: BoxOffice.SeatView.Status = sold ? .sold : holdUntil != nil ? .held : .free
            let number = Int(row[1] ?? "") ?? 0
            return BoxOffice.SeatView(seat: "\(row[0] ?? "")-\(number)", row: row[0] ?? "", number: number, price: Int64(row[2] ?? "") ?? 0, status: status, holdUntil: status == .held ? holdUntil : nil)
        }
    }

    package func reserve(concert: String, seat label: String, buyer: String) async throws(BoxOfficeError) -> BoxOffice.Hold {
        try BoxOfficeRules.checkBuyer(buyer)
        let hold = BoxOffice.Hold(hold: BoxOfficeRules.newID("h-"), seat: label, holdUntil: BoxOffice.now() + Int64(holdDuration / .milliseconds(1)))
        let reserve = statements.reserve
        let key = Seat.key(concert: concert, seat: label)
        let row = try await database { db in try await db.query(reserve, [key, hold.hold, hold.holdUntil]).rows.first }
        guard let row, row[0] == "1" else { throw .notFound("seat \(label) of concert \(concert)") }
        guard row[1] == "1" else {
            throw .conflict(row[2] == "t" ? "seat \(label) of \(concert) is sold" : "seat \(label) of \(concert) is held by another buyer")
        }
        return hold
    }

    package func purchase(concert: String, seat label: String, hold: String, buyer: String) async throws(BoxOfficeError) -> Sale {
        try BoxOfficeRules.checkBuyer(buyer)
        try BoxOfficeRules.checkHold(hold)
        let key = Seat.key(concert: concert, seat: label)
        let order = BoxOfficeRules.newID("ord-")
        let purchase = statements.purchase
        let id = self.id
        let row = try await database { db in try await db.query(purchase, [key, order, buyer, hold, id]).rows.first }
        guard let row, row[0] == "1" else { throw .notFound("seat \(label) of concert \(concert)") }
        let price = Int64(row[5] ?? "") ?? 0
        if row[3] != nil {
            return Sale(seat: key, order: order, concert: concert, buyer: buyer, price: price, unit: id, soldAt: Int64(row[4] ?? "") ?? BoxOffice.now())
        }
        if let earlier = row[6] {
            guard earlier.isSameBytes(as: buyer), let earlierOrder = row[7] else { throw .conflict("seat \(label) of \(concert) is sold") }
            return Sale(seat: key, order: earlierOrder, concert: concert, buyer: buyer, price: price, unit: id, soldAt: Int64(row[8] ?? "") ?? 0)
        }
        if let holder = row[1], !holder.isSameBytes(as: hold) { throw .conflict("seat \(label) of \(concert) is held by another buyer") }
        if row[1] != nil, let lapsed = row[2].flatMap({ Int64($0) }) { throw .holdExpired(seat: label, at: lapsed) }
        // Nothing inserted and no earlier sale seen: a purchase that waited on the seat's
        // lock saw the seat freed by the sale it waited for, but its statement's snapshot
        // began before that sale. Read again, so the buyer's own concurrent retry gets
        // their sale back as the units and the bare ceiling answer it.
        let sale = tables.sale
        let sold = try await database { db in
            try await db.query("SELECT buyer, order_id, (extract(epoch FROM sold_at) * 1000)::bigint FROM \(sale) WHERE seat = $1", [key]).rows.first
        }
        if let sold, let soldTo = sold[0], soldTo.isSameBytes(as: buyer), let soldOrder = sold[1] {
            return Sale(seat: key, order: soldOrder, concert: concert, buyer: buyer, price: price, unit: id, soldAt: Int64(sold[2] ?? "") ?? 0)
        }
        throw .conflict("seat \(label) of \(concert) was sold to another buyer first")
    }

    package func release(concert: String, seat label: String, hold: String) async throws(BoxOfficeError) {
        let release = statements.release
        let key = Seat.key(concert: concert, seat: label)
        let row = try await database { db in try await db.query(release, [key, hold]).rows.first }
        guard let row, row[0] == "1" else { throw .notFound("seat \(label) of concert \(concert)") }
        guard row[1] == "1", !hold.isEmpty else { throw .conflict("hold \(hold) does not hold seat \(label) of \(concert)") }
    }

    /// A pooled connection for `body`; any database failure is the box office's 503.
    private func database<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws(BoxOfficeError) -> T {
        do {
            return try await pool.withConnection(body)
        } catch let error as BoxOfficeError {
            throw error
        } catch {
            throw .unavailable("PostgreSQL: \(error)")
        }
    }
}

/// A fixed set of connections shared by concurrent requests: each request borrows one
/// for its statements, and waits in line when all are busy. Each connection runs its
/// blocking libpq calls on its own thread, so waiting requests hold no thread.
///
/// A wait is bounded (`acquireTimeout`, then a 503 to retry) and ends when its request
/// is cancelled: with every connection stuck (a row lock held elsewhere, a server that
/// stopped answering), requests would otherwise queue without limit, and a caller that
/// gave up would still be handed a connection ahead of those still waiting.
package final class PostgresPool: Sendable {
    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<PostgresConnection, any Error>
    }

    private struct State {
        var idle: [PostgresConnection]
        /// First come, first served; a Deque, so handing a connection on is O(1) however
        /// many wait.
        var waiters: Deque<Waiter> = []
        var nextID: UInt64 = 0
    }

    /// All connections stayed busy for the whole wait.
    package struct Exhausted: Error, CustomStringConvertible {
        package let connections: Int
        package let waited: Duration
        package var description: String { "all \(connections) connections stayed busy for \(waited); retry in a moment" }
    }

    private let state: Mutex<State>
    private let all: [PostgresConnection]
    private let expiries = DeadlineSweeper()
    package let acquireTimeout: Duration
    package var size: Int { all.count }

    package static func connect(configuration: PostgresConfiguration, size: Int, acquireTimeout: Duration = .seconds(5), logger: Logger) async throws -> PostgresPool {
        var connections: [PostgresConnection] = []
        do {
            for _ in 0..<size { connections.append(try await PostgresConnection.connect(configuration: configuration, logger: logger)) }
        } catch {
            for connection in connections { await connection.close() }
            throw error
        }
        return PostgresPool(connections, acquireTimeout: acquireTimeout)
    }

    private init(_ connections: [PostgresConnection], acquireTimeout: Duration) {
        all = connections
        state = Mutex(State(idle: connections))
        self.acquireTimeout = acquireTimeout
    }

    package func withConnection<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        let connection = try await acquire()
        defer { giveBack(connection) }
        return try await body(connection)
    }

    private func acquire() async throws -> PostgresConnection {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        var expiry: DeadlineSweeper.Token?
        defer { expiry.map(expiries.cancel) }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<PostgresConnection, any Error>) in
                // Read under the lock the cancellation handler takes: cancelled before
                // this, the request waits for nothing (the handler found no waiter to
                // take out); cancelled after, the handler finds the waiter.
                var cancelled = false
                let idle = state.withLock { state -> PostgresConnection? in
                    if let connection = state.idle.popLast() { return connection }
                    cancelled = Task.isCancelled
                    if !cancelled { state.waiters.append(Waiter(id: id, continuation: continuation)) }
                    return nil
                }
                if let idle {
                    continuation.resume(returning: idle)
                } else if cancelled {
                    continuation.resume(throwing: CancellationError())
                } else {
                    // Once the waiter is in place, so that the expiry always finds it (or
                    // finds it already served, and does nothing).
                    let (connections, waited) = (all.count, acquireTimeout)
                    expiry = expiries.schedule(at: .now + acquireTimeout) { [weak self] in
                        self?.withdraw(id, Exhausted(connections: connections, waited: waited))
                    }
                }
            }
        } onCancel: {
            withdraw(id, CancellationError())
        }
    }

    /// Takes waiter `id` out of the line and fails it with `error`, if it still waits.
    private func withdraw(_ id: UInt64, _ error: any Error) {
        let waiter = state.withLock { state -> Waiter? in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index)
        }
        waiter?.continuation.resume(throwing: error)
    }

    private func giveBack(_ connection: PostgresConnection) {
        let waiter = state.withLock { state -> Waiter? in
            guard let waiter = state.waiters.popFirst() else {
                state.idle.append(connection)
                return nil
            }
            return waiter
        }
        waiter?.continuation.resume(returning: connection)
    }

    package func close() async {
        for connection in all { await connection.close() }
    }
}

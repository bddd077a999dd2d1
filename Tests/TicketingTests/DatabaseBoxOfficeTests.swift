import Foundation
import Logging
import PumphousePostgres
import PumphouseTestSupport
import Testing
import Ticketing

/// The database-first twin against the real local PostgreSQL, on tables of its own made
/// from the sample's migration.
@Suite("The database-first twin", .localStack, .removingWhatItMakes, .serialized, .timeLimit(.minutes(2)))
struct DatabaseBoxOfficeTests {
    static let logger = TestStack.logger("ticketing.twin.tests")

    /// Runs `body` with a twin on fresh `<prefix>_concert/_seat/_sale` tables, dropped after.
    func withTwin(pool size: Int = 8, _ body: (DatabaseBoxOffice) async throws -> Void) async throws {
        let prefix = TestStack.uniqueName("tw")
        let configuration = PostgresConfiguration(url: TestStack.postgresURL)
        let migration = try String(contentsOfFile: "\(PumphouseProcess.repository)/Migrations/0004_ticketing.sql", encoding: .utf8)
        let admin = try await PostgresConnection.connect(configuration: configuration, logger: Self.logger)
        try await admin.execute(script: migration.replacingOccurrences(of: "ticketing_", with: "\(prefix)_"))
        let pool = try await PostgresPool.connect(configuration: configuration, size: size, logger: Self.logger)
        do {
            try await body(DatabaseBoxOffice(pool: pool, tables: try DatabaseBoxOffice.Tables(prefix: prefix), id: "twin-test"))
        } catch {
            await pool.close()
            try? await admin.execute(script: "DROP TABLE \(prefix)_concert, \(prefix)_seat, \(prefix)_sale")
            await admin.close()
            throw error
        }
        await pool.close()
        try await admin.execute(script: "DROP TABLE \(prefix)_concert, \(prefix)_seat, \(prefix)_sale")
        await admin.close()
    }

    static func concert(_ id: String) -> BoxOffice.NewConcert {
        BoxOffice.NewConcert(id: id, name: "Twin \(id)", venue: "Hall", startsAt: 1_795_000_000_000, price: 4500, rows: 2, seatsPerRow: 5)
    }

    @Test("a pool whose connections all stay busy bounds each wait (Exhausted, naming the count), a cancelled waiter leaves at once, and the line goes on first come, first served")
    func poolWaits() async throws {
        let pool = try await PostgresPool.connect(configuration: PostgresConfiguration(url: TestStack.postgresURL), size: 1, acquireTimeout: .milliseconds(300), logger: Self.logger)
        let (held, hold) = AsyncStream<Void>.makeStream()
        let (release, releasing) = AsyncStream<Void>.makeStream()
        let holder = Task {
            try await pool.withConnection { _ in
                hold.yield()
                for await _ in release {}
            }
        }
        for await _ in held { break }
        // Every connection busy: the wait ends at its bound, with the reason.
        let started = ContinuousClock.now
        await #expect {
            try await pool.withConnection { db in try await db.query("SELECT 1") }
        } throws: { error in
            (error as? PostgresPool.Exhausted)?.description.contains("all 1 connections stayed busy") == true
        }
        #expect(ContinuousClock.now - started < .seconds(5), "the wait was bounded by its 300 ms, not longer")
        // A cancelled waiter leaves at once, long before its bound. The pause only makes
        // it likely that the request waits in line when cancelled; cancelled before it
        // gets there, it must leave at once just the same.
        let cancelled = Task { try await pool.withConnection { db in try await db.query("SELECT 1") } }
        try await Task.sleep(for: .milliseconds(50))
        let cancelledAt = ContinuousClock.now
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        #expect(ContinuousClock.now - cancelledAt < .milliseconds(250))
        // Once the connection is given back, the next request gets it.
        releasing.finish()
        try await holder.value
        #expect(try await pool.withConnection { db in try await db.query("SELECT 1").rows.count } == 1)
        await pool.close()
    }

    @Test("twenty buyers purchasing the same seat at once, holds or not: one sale, the others a conflict")
    func noSeatSoldTwice() async throws {
        try await withTwin { twin in
            let opened = try await twin.open(Self.concert("c1"))
            #expect(opened.seats == 10 && opened.free == 10)
            let outcomes = await withTaskGroup(of: Result<Sale, BoxOfficeError>.self) { group in
                for buyer in 0..<20 {
                    group.addTask {
                        do throws(BoxOfficeError) {
                            // Half reserve first (most will be refused: the seat is held),
                            // half buy with a hold the twin never gave.
                            let hold = buyer.isMultiple(of: 2) ? ((try? await twin.reserve(concert: "c1", seat: "A-1", buyer: "b\(buyer)"))?.hold ?? "h-none") : "h-none"
                            return .success(try await twin.purchase(concert: "c1", seat: "A-1", hold: hold, buyer: "b\(buyer)"))
                        } catch {
                            return .failure(error)
                        }
                    }
                }
                var all: [Result<Sale, BoxOfficeError>] = []
                for await outcome in group { all.append(outcome) }
                return all
            }
            let sales = outcomes.compactMap { try? $0.get() }
            #expect(sales.count == 1)
            for case .failure(let error) in outcomes {
                #expect(error.code == "conflict", "\(error)")
            }
            let summary = try await twin.summary("c1")
            #expect(summary.sold == 1 && summary.revenue == 4500, "\(summary)")
            let sale = try #require(sales.first)
            // The winner asking again gets the same sale; anyone else a conflict.
            let again = try await twin.purchase(concert: "c1", seat: "A-1", hold: "h-other", buyer: sale.buyer)
            #expect(again.order == sale.order)
            // A buyer is its bytes: ANGSTROM SIGN and Å are equal Swift Strings, not one buyer.
            let angstrom = try await twin.purchase(concert: "c1", seat: "A-2", hold: "h-none", buyer: "\u{212B}se")
            #expect(try await twin.purchase(concert: "c1", seat: "A-2", hold: "h-none", buyer: "\u{212B}se").order == angstrom.order)
            await #expect(throws: BoxOfficeError.conflict("seat A-2 of c1 is sold")) {
                try await twin.purchase(concert: "c1", seat: "A-2", hold: "h-none", buyer: "\u{C5}se")
            }
            await #expect(throws: BoxOfficeError.self) { try await twin.reserve(concert: "c1", seat: "A-1", buyer: "late") }
            let map = try await twin.seatMap("c1")
            #expect(map.count == 10 && map.filter { $0.status == .sold }.map(\.seat) == ["A-1", "A-2"])

            // One buyer retrying a purchase many times at once: every attempt gets the one
            // sale, as at the units, also those that waited on the seat's lock for it.
            for seat in ["A-3", "A-4", "A-5"] {
                let hold = try await twin.reserve(concert: "c1", seat: seat, buyer: "retrier").hold
                let attempts = await withTaskGroup(of: Result<Sale, BoxOfficeError>.self) { group in
                    for _ in 0..<8 {
                        group.addTask {
                            do throws(BoxOfficeError) { return .success(try await twin.purchase(concert: "c1", seat: seat, hold: hold, buyer: "retrier")) } catch { return .failure(error) }
                        }
                    }
                    var all: [Result<Sale, BoxOfficeError>] = []
                    for await outcome in group { all.append(outcome) }
                    return all
                }
                let orders = Set(attempts.compactMap { try? $0.get().order })
                #expect(orders.count == 1 && attempts.allSatisfy { (try? $0.get()) != nil }, "seat \(seat): \(attempts)")
            }
        }
    }

    @Test("the units' rules: a live hold of another buyer stops a purchase, the holder's own purchase clears the hold, unknown seats are 404")
    func rules() async throws {
        try await withTwin(pool: 2) { twin in
            _ = try await twin.open(Self.concert("c2"))
            let hold = try await twin.reserve(concert: "c2", seat: "B-3", buyer: "alice")
            await #expect(throws: BoxOfficeError.conflict("seat B-3 of c2 is held by another buyer")) {
                try await twin.purchase(concert: "c2", seat: "B-3", hold: "h-bob", buyer: "bob")
            }
            #expect(try await twin.summary("c2").held == 1)
            let sale = try await twin.purchase(concert: "c2", seat: "B-3", hold: hold.hold, buyer: "alice")
            #expect(sale.price == 4500 && sale.seat == "c2/B-3")
            #expect(try await twin.summary("c2").held == 0)
            await #expect(throws: BoxOfficeError.notFound("seat Z-9 of concert c2")) {
                try await twin.purchase(concert: "c2", seat: "Z-9", hold: "h", buyer: "alice")
            }
            // Opening again with the same details is a safe retry; other details conflict.
            #expect(try await twin.open(Self.concert("c2")).sold == 1)
            var other = Self.concert("c2")
            other.price = 1
            await #expect(throws: BoxOfficeError.self) { try await twin.open(other) }
        }
    }
}

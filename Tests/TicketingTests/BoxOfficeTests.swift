import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import PumphouseKafka
import PumphousePipeline
import PumphouseTestSupport
import PumphouseUnit
import ServiceLifecycle
import Testing
import Ticketing

/// Private ticketing topics per test, rebuilt from the topics (no reader or writer).
struct TicketingFixture {
    static let logger = TestStack.logger("ticketing.tests")
    let name: String
    let directory: String
    let pipeline: PipelineConfiguration

    /// Which caches are partitioned (one backup each); concerts stay replicated.
    enum Partitioned {
        case nothing, sales, seatsAndSales
        /// Seats partitioned and sales not, or both but apart: pipelines the box office
        /// refuses.
        case seatsAlone, seatsAndSalesApart
    }

    init(partitioned: Partitioned = .nothing) async throws {
        let name = TestStack.uniqueName("tk")
        self.name = name
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(name).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let caches = ["Concert", "Seat", "Sale"].map { entity in
            let mode = switch (entity, partitioned) {
            case ("Sale", .sales), ("Sale", .seatsAndSales), ("Seat", .seatsAlone), ("Seat", .seatsAndSalesApart), ("Sale", .seatsAndSalesApart):
                ", mode: partitioned, backups: 1"
            case ("Seat", .seatsAndSales): ", mode: partitioned, backups: 1, co_partitioned_with: [ticketing.Sale]"
            default: ""
            }
            return "  ticketing.\(entity): { topic: \(name).\(entity.lowercased()), partitions: 2, load: topic, mapping: custom\(mode) }"
        }
        try """
        kafka: { brokers: "\(TestStack.kafkaBrokers)" }
        postgres: { url: "\(TestStack.postgresURL)" }
        schemas: \(PumphouseProcess.repository)/Schemas
        migrations: \(PumphouseProcess.repository)/Migrations
        member_topic: \(name).members
        caches:
        \(caches.joined(separator: "\n"))
        """.write(toFile: "\(directory)/pipeline.yaml", atomically: true, encoding: .utf8)
        pipeline = try PipelineConfiguration.load(path: "\(directory)/pipeline.yaml", environment: [:])
        let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(connection: pipeline.kafka), logger: Self.logger)
        try await admin.createTopics(pipeline.topicSpecifications)
    }

    /// `port`: where the unit says it serves HTTP (0: it serves none).
    func office(_ id: String, hold: Duration = .seconds(60), port: Int = 0) throws -> BoxOffice {
        var configuration = UnitConfiguration(pipeline: pipeline, unitID: "\(name)-\(id)", address: "127.0.0.1:\(port)", spoolDirectory: "\(directory)/spool")
        configuration.heartbeatInterval = .milliseconds(200)
        configuration.memberTimeout = .seconds(2)
        return try BoxOffice(unit: ProcessingUnit(configuration: configuration, logger: Self.logger), holdDuration: hold, confirmTimeout: .seconds(30))
    }

    /// Runs the offices' units for the length of `body`, then stops them gracefully.
    func running<T>(_ offices: [BoxOffice], _ body: () async throws -> T) async throws -> T {
        let group = ServiceGroup(configuration: .init(services: offices.map { .init(service: $0.unit) }, logger: Self.logger))
        let task = Task { try await group.run() }
        defer { task.cancel() }
        for office in offices { try await office.unit.loaded() }
        let result = try await body()
        await group.triggerGracefulShutdown()
        try await task.value
        return result
    }

    /// Serves each office's routes (`TicketingAPI.router`) on its port while `body` runs.
    func serving<T>(_ offices: [BoxOffice], ports: [Int], _ body: () async throws -> T) async throws -> T {
        let servers = ServiceGroup(configuration: .init(
            services: zip(offices, ports).map { office, port in
                .init(service: Application(router: TicketingAPI.router(office, admin: nil), configuration: .init(address: .hostname("127.0.0.1", port: port))))
            },
            logger: Self.logger
        ))
        let serving = Task { try await servers.run() }
        defer { serving.cancel() }
        let result = try await body()
        await servers.triggerGracefulShutdown()
        try await serving.value
        return result
    }

    static func concert(_ id: String, rows: Int = 2, seatsPerRow: Int = 25) -> BoxOffice.NewConcert {
        BoxOffice.NewConcert(id: id, name: "Test \(id)", venue: "Hall", startsAt: 1_795_000_000_000, price: 4500, rows: rows, seatsPerRow: seatsPerRow)
    }
}

@Suite("The ticketing sample against the local broker", .localStack, .removingWhatItMakes, .serialized, .timeLimit(.minutes(3)))
struct BoxOfficeTests {
    @Test("two units selling the same 50 seats at the same instant: each seat is sold once, the other buyer gets a conflict")
    func noSeatSoldTwice() async throws {
        let fixture = try await TicketingFixture()
        let offices = try ["a", "b"].map { try fixture.office($0) }
        try await fixture.running(offices) {
            _ = try await offices[0].open(TicketingFixture.concert("c1"))
            let seats = try await waitFor("the seats on the second unit", timeout: .seconds(30)) { () async throws -> [String]? in
                try await Task.sleep(for: .milliseconds(20))
                let map = try? await offices[1].seatMap("c1")
                return map?.count == 50 ? map!.map(\.seat) : nil
            }
            // Each unit holds every seat for its own buyer (holds are local), then both buy.
            let outcomes = try await withThrowingTaskGroup(of: (String, Int, Result<Sale, BoxOfficeError>).self) { group in
                for seat in seats {
                    for (index, office) in offices.enumerated() {
                        group.addTask {
                            let buyer = "buyer-\(index)"
                            do throws(BoxOfficeError) {
                                let hold = try office.reserve(concert: "c1", seat: seat, buyer: buyer)
                                return (seat, index, .success(try await office.purchase(concert: "c1", seat: seat, hold: hold.hold, buyer: buyer)))
                            } catch {
                                return (seat, index, .failure(error))
                            }
                        }
                    }
                }
                var outcomes: [String: [Int: Result<Sale, BoxOfficeError>]] = [:]
                for try await (seat, index, result) in group { outcomes[seat, default: [:]][index] = result }
                return outcomes
            }
            for seat in seats {
                let sold = outcomes[seat]!.values.compactMap { try? $0.get() }
                #expect(sold.count == 1, "seat \(seat): \(outcomes[seat]!)")
                for case .failure(let error) in outcomes[seat]!.values {
                    guard case .conflict = error else {
                        Issue.record("seat \(seat): the losing buyer got \(error), not a conflict")
                        continue
                    }
                }
            }
            // Both units agree on every sale and on the sold counter (deltas from both).
            let expected = Dictionary(uniqueKeysWithValues: outcomes.compactMap { seat, results in results.values.compactMap { try? $0.get() }.first.map { (Seat.key(concert: "c1", seat: seat), $0.order) } })
            _ = try await waitFor("both units to show the 50 sales and a sold count of 50", timeout: .seconds(30)) { () async throws -> Bool? in
                try await Task.sleep(for: .milliseconds(20))
                let agree = offices.allSatisfy { office in
                    Dictionary(uniqueKeysWithValues: office.sales.values.map { ($0.seat, $0.order) }) == expected && office.concerts["c1"]?.sold == 50
                }
                return agree ? true : nil
            }
            #expect(try await offices[0].summary("c1").free == 0)
        }
    }

    @Test("buyers reserving one seat at the same instant at its unit: one hold is granted, every other buyer is told the seat is held, and the seat holds the granted hold")
    func oneHoldPerSeat() async throws {
        let fixture = try await TicketingFixture()
        let office = try fixture.office("a")
        try await fixture.running([office]) {
            _ = try await office.open(TicketingFixture.concert("c7", rows: 1, seatsPerRow: 4))
            for round in 0..<4 {
                let seat = "A-\(round + 1)"
                let results = await withTaskGroup(of: Result<BoxOffice.Hold, BoxOfficeError>.self) { group in
                    for buyer in 0..<32 {
                        group.addTask {
                            do throws(BoxOfficeError) { return .success(try office.reserve(concert: "c7", seat: seat, buyer: "b\(buyer)")) } catch { return .failure(error) }
                        }
                    }
                    var results: [Result<BoxOffice.Hold, BoxOfficeError>] = []
                    for await result in group { results.append(result) }
                    return results
                }
                let granted = results.compactMap { try? $0.get() }
                #expect(granted.count == 1, "seat \(seat): \(granted.count) holds granted")
                for case .failure(let error) in results {
                    guard case .conflict = error else {
                        Issue.record("seat \(seat): a refused reserve got \(error), not a conflict")
                        continue
                    }
                }
                #expect(office.seats[Seat.key(concert: "c7", seat: seat)]?.holder == granted.first?.hold)
            }
        }
    }

    /// One purchase of `seat` in concert c9 for b1: true if told to retry (the log has not
    /// decided), false if sold, which it may be only once the log has decided the sale.
    /// A retry's refusal says why (`reason`).
    static func purchaseOrRetry(_ office: BoxOffice, seat: String, hold: String, _ what: String, reason expected: String? = nil) async throws -> Bool {
        do {
            let sale = try await office.purchase(concert: "c9", seat: seat, hold: hold, buyer: "b1")
            let decided = office.sales.committed(Seat.key(concert: "c9", seat: seat))
            #expect(decided?.order == sale.order, "\(what) was told the seat is theirs before the log decided: \(sale), log: \(String(describing: decided))")
            return false
        } catch .unavailable(let reason) {
            if let expected { #expect(reason.contains(expected), "\(reason)") }
            return true
        } catch {
            throw error
        }
    }

    @Test("a purchase retried before the log has decided its sale is told to retry (503), never told the seat is theirs; once decided, the retry gets that sale")
    func retryBeforeTheLogDecides() async throws {
        let fixture = try await TicketingFixture()
        let office = try fixture.office("a")
        try await fixture.running([office]) {
            _ = try await office.open(TicketingFixture.concert("c9", rows: 1, seatsPerRow: 8))
            // Whether the log answers before a wait of nothing runs out is a race (a busy
            // machine can be slower to give up than the broker is to answer), so what is
            // checked is the rule: an answer that the seat is theirs only once the log has
            // decided the sale, and a retry otherwise. A seat whose first attempt the log
            // outran is set aside for the next, until one shows the retry.
            var retried = false
            for place in try await office.seatMap("c9").map(\.seat) where !retried {
                let key = Seat.key(concert: "c9", seat: place)
                let hold = try office.reserve(concert: "c9", seat: place, buyer: "b1")
                var hasty = office
                hasty.confirmTimeout = .zero
                // The first attempt stops waiting at once; asked again at once after it.
                guard try await Self.purchaseOrRetry(hasty, seat: place, hold: hold.hold, "a purchase with no time to wait") else { continue }
                retried = try await Self.purchaseOrRetry(office, seat: place, hold: hold.hold, "a retry", reason: "not confirmed by the log yet")
                let decided = try await waitFor("the log to decide the sale", timeout: .seconds(30)) { () async throws -> Sale? in
                    try await Task.sleep(for: .milliseconds(10))
                    return office.sales.committed(key)
                }
                let again = try await office.purchase(concert: "c9", seat: place, hold: hold.hold, buyer: "b1")
                #expect(again.order == decided.order)
            }
            #expect(retried, "on every seat the log decided before the purchase stopped waiting, or before its retry")
        }
    }

    @Test("the HTTP API: JSON errors with their status codes, and the reserve-purchase-release flow")
    func httpAPI() async throws {
        let fixture = try await TicketingFixture()
        let office = try fixture.office("api", hold: .milliseconds(400))
        try await fixture.running([office]) {
            let app = Application(router: TicketingAPI.router(office, admin: nil))
            try await app.test(.router) { client in
                func call(_ method: HTTPRequest.Method, _ uri: String, _ body: String? = nil) async throws -> (HTTPResponse.Status, [String: Any]) {
                    try await client.execute(uri: uri, method: method, body: body.map { ByteBuffer(string: $0) }) { response in
                        (response.status, (try? JSONSerialization.jsonObject(with: Data(buffer: response.body))) as? [String: Any] ?? [:])
                    }
                }
                var (status, json) = try await call(.post, "/concerts", #"{"id": "bad id!", "name": "x", "venue": "y", "startsAt": 0, "price": 1, "rows": 1, "seatsPerRow": 1}"#)
                #expect(status == .badRequest && json["error"] as? String == "bad-request" && (json["detail"] as? String)?.contains("id:") == true, "\(json)")
                (status, json) = try await call(.post, "/concerts", #"{"id": 7}"#)
                #expect(status == .badRequest && (json["detail"] as? String)?.contains("body") == true, "\(json)")
                (status, json) = try await call(.post, "/concerts", #"{"id": "c2", "name": "Night", "venue": "Hall", "startsAt": 1795000000000, "price": 4500, "rows": 2, "seatsPerRow": 3}"#)
                #expect(status == .created && json["seats"] as? Int == 6, "\(json)")
                (status, json) = try await call(.post, "/concerts", #"{"id": "c2", "name": "Night", "venue": "Hall", "startsAt": 1795000000000, "price": 4500, "rows": 2, "seatsPerRow": 3}"#)
                #expect(status == .created && json["seats"] as? Int == 6, "opening it again with the same details is a safe retry: \(json)")
                (status, json) = try await call(.post, "/concerts", #"{"id": "c2", "name": "Day", "venue": "Hall", "startsAt": 1795000000000, "price": 4500, "rows": 2, "seatsPerRow": 3}"#)
                #expect(status == .conflict, "the same id with other details: \(json)")
                (status, json) = try await call(.get, "/concerts/nope/seats")
                #expect(status == .notFound && json["error"] as? String == "not-found")
                (status, json) = try await call(.post, "/concerts/c2/seats/Z-9/reserve", #"{"buyer": "ann"}"#)
                #expect(status == .notFound)

                (status, json) = try await call(.post, "/concerts/c2/seats/A-1/reserve", #"{"buyer": "ann"}"#)
                #expect(status == .created)
                let hold = try #require(json["hold"] as? String)
                (status, json) = try await call(.post, "/concerts/c2/seats/A-1/reserve", #"{"buyer": "bob"}"#)
                #expect(status == .conflict, "a held seat: \(json)")
                (status, json) = try await call(.post, "/concerts/c2/seats/A-1/purchase", #"{"hold": "someone-else", "buyer": "bob"}"#)
                #expect(status == .conflict, "a purchase with another buyer's hold: \(json)")
                (status, json) = try await call(.post, "/concerts/c2/seats/A-1/purchase", #"{"hold": "\#(hold)", "buyer": "ann; DROP TABLE x"}"#)
                #expect(status == .created && json["buyer"] as? String == "ann; DROP TABLE x", "\(json)")
                let order = try #require(json["order"] as? String)
                (status, json) = try await call(.post, "/concerts/c2/seats/A-1/purchase", #"{"hold": "\#(hold)", "buyer": "ann; DROP TABLE x"}"#)
                #expect(status == .created && json["order"] as? String == order, "a retried purchase answers with the same sale: \(json)")
                (status, json) = try await call(.post, "/concerts/c2/seats/A-1/purchase", #"{"hold": "\#(hold)", "buyer": "ann"}"#)
                #expect(status == .conflict, "buying a seat sold to someone else: \(json)")

                // A hold lapses (400 ms here); the lapsed buyer is told so.
                (status, json) = try await call(.post, "/concerts/c2/seats/A-2/reserve", #"{"buyer": "cy"}"#)
                let lapsing = try #require(json["hold"] as? String)
                try await Task.sleep(for: .milliseconds(500))  // the hold's own clock, not synchronisation
                (status, json) = try await call(.post, "/concerts/c2/seats/A-2/purchase", #"{"hold": "\#(lapsing)", "buyer": "cy"}"#)
                #expect(status == .gone && json["error"] as? String == "hold-expired", "\(json)")

                (status, json) = try await call(.post, "/concerts/c2/seats/A-3/reserve", #"{"buyer": "dee"}"#)
                let released = try #require(json["hold"] as? String)
                (status, _) = try await call(.post, "/concerts/c2/seats/A-3/release", #"{"hold": "wrong"}"#)
                #expect(status == .conflict)
                (status, _) = try await call(.post, "/concerts/c2/seats/A-3/release", #"{"hold": "\#(released)"}"#)
                #expect(status == .ok)

                (status, json) = try await call(.get, "/concerts/c2/summary")
                #expect(status == .ok && json["sold"] as? Int == 1 && json["held"] as? Int == 0 && json["free"] as? Int == 5, "\(json)")
                (status, _) = try await call(.get, "/readyz")
                #expect(status == .ok)
            }
        }
    }
}

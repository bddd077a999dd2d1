import Foundation
import Logging
import PumphouseCommandLine
import PumphouseContracts
import PumphousePipeline
import PumphousePostgres
import PumphouseReplay
import PumphouseUnit
import PumphouseUnitHTTP
import PumphouseWriter
import Ticketing

/// The demo's verdict, from three independent views: what buyers were told, what
/// PostgreSQL holds, and what each unit holds; each against a replay of the topics.
struct DemoChecks {
    let configuration: PipelineConfiguration
    let concerts: [String]
    let client: BoxOfficeClient
    let urls: [String]
    let timeout: Duration
    let logger: Logger

    /// `unconfirmed`: purchases answered 503, which may or may not have gone through;
    /// `contested`: the seats two units bought at once.
    func run(orders: [OnSale.Order], unconfirmed: Int, contested: [String], report: inout DemoReport) async throws {
        // 1. No seat confirmed to two buyers.
        report.check("no seat confirmed to two buyers (\(orders.count) orders)", Self.seatsConfirmedTwice(orders))
        report.check("buyers got seats", orders.isEmpty ? "no purchase succeeded" : nil)

        let db = try await PostgresConnection.connect(configuration: configuration.postgres, logger: logger)
        do {
            try await run(orders: orders, unconfirmed: unconfirmed, contested: contested, db: db, report: &report)
        } catch {
            await db.close()
            throw error
        }
        await db.close()
    }

    private func run(orders: [OnSale.Order], unconfirmed: Int, contested: [String], db: PostgresConnection, report: inout DemoReport) async throws {
        // 2. The writer drains: the database equals a replay of every topic.
        let draining = ContinuousClock.now
        var folds: [ContractName: [ExactKey: JSONObject]] = [:]
        let replays = try await Self.replayEqualsDatabase(configuration: configuration, db: db, timeout: timeout, logger: logger)
        for replayed in replays {
            folds[replayed.contract] = replayed.fold
            let differences = replayed.differences
            report.check("PostgreSQL equals a replay of \(replayed.contract)'s topic (\(replayed.fold.count) entities)", differences.isEmpty ? nil : "\(differences.count) difference(s), e.g. \(differences[0])")
        }
        report.check("no change a unit numbered is missing from the topics (sequence gaps)", Self.missingNumbers(replays))
        report.drain = ContinuousClock.now - draining

        // 3. Every confirmed order is the seat's one sale in the database, and each
        //    concert's sold counter equals its sales.
        let sold = Self.sales(try await db.query("SELECT seat, order_id FROM ticketing_sale WHERE concert = ANY($1)", [concerts]).rows)
        report.check("every confirmed order is its seat's sale in PostgreSQL (\(sold.count) sales)", Self.ordersNotSold(orders, sold))
        report.check(
            "every sale in PostgreSQL was a purchase a buyer made (\(orders.count) confirmed, \(unconfirmed) unconfirmed)",
            sold.count <= orders.count + unconfirmed ? nil : "\(sold.count) sales for \(orders.count + unconfirmed) purchases"
        )
        let confirmedSeats = Set(orders.map { ExactKey($0.seat) })
        let confirmedContested = contested.filter { confirmedSeats.contains(ExactKey($0)) }
        report.check(
            "each contested seat was sold once, to the buyer told so",
            contested.allSatisfy { sold[ExactKey($0)] != nil } && confirmedContested.count + unconfirmed >= contested.count
                ? nil : "\(contested.filter { sold[ExactKey($0)] == nil }.count) contested seat(s) unsold, \(contested.count - confirmedContested.count) without a confirmed buyer"
        )
        report.sales = sold.count
        let counters = try await db.query(
            "SELECT c.id, c.sold, count(s.seat) FROM ticketing_concert c LEFT JOIN ticketing_sale s ON s.concert = c.id WHERE c.id = ANY($1) GROUP BY c.id, c.sold", [concerts]
        ).rows
        let off = counters.filter { $0[1] != $0[2] }.map { "\($0[0]!): sold \($0[1]!) vs \($0[2]!) sales" }
        report.check("each concert's sold counter (deltas) equals its sales", counters.count == concerts.count && off.isEmpty ? nil : off.isEmpty ? "concerts missing in PostgreSQL" : off.joined(separator: "; "))

        // 4. Every unit holds exactly the replayed state: all of a replicated cache, and
        // of a partitioned one the partitions its routing table makes it owner or
        // backup of.
        for url in urls {
            logger.info("comparing the unit at \(url) with the replay")
            var mismatch: String?
            let deadline = ContinuousClock.now + timeout
            repeat {
                mismatch = try await compare(unit: url, with: folds)
                if mismatch == nil { break }
                try await Task.sleep(for: .milliseconds(200))
            } while ContinuousClock.now < deadline
            report.check("unit at \(url) equals the replay and PostgreSQL after the rebuild (of partitioned caches, its partitions)", mismatch)
        }
    }

    /// What buyers were told against itself: the seats confirmed to more than one buyer,
    /// as a failure; nil if none. Seats are told apart by their bytes.
    static func seatsConfirmedTwice(_ orders: [OnSale.Order]) -> String? {
        let twice = Dictionary(grouping: orders) { ExactKey($0.seat) }.filter { $0.value.count > 1 }
        return twice.isEmpty ? nil : "\(twice.count) seat(s) confirmed twice, e.g. \(twice.keys.sorted()[0])"
    }

    /// Seat to order id, from rows of (seat, order id) read in plain SQL.
    static func sales(_ rows: [[String?]]) -> [ExactKey: String] {
        Dictionary(rows.compactMap { row in row[0].map { (ExactKey($0), row[1] ?? "") } }, uniquingKeysWith: { first, _ in first })
    }

    /// What buyers were told against a table: the confirmed orders that are not their
    /// seat's sale there, as a failure; nil if every one is.
    static func ordersNotSold(_ orders: [OnSale.Order], _ sold: [ExactKey: String]) -> String? {
        let lost = orders.filter { order in sold[ExactKey(order.seat)].map { !$0.isSameBytes(as: order.order) } ?? true }
        return lost.isEmpty ? nil : "\(lost.count) confirmed order(s) missing or replaced, e.g. \(lost[0].seat)"
    }

    /// Every order buyers were told of (answered 201) stands as its seat's sale in
    /// PostgreSQL, waiting up to `timeout` for the write-behind, and PostgreSQL equals a
    /// fold of the topics with no hole in a unit's numbering; prints
    /// `LABEL_fold_differences` and `LABEL_sequence_gaps` (a benchmark's checks).
    static func ordersStand(
        _ orders: [OnSale.Order], concerts: [String], configuration: PipelineConfiguration, config: String, label: String, timeout: Duration, logger: Logger
    ) async throws {
        guard let table = configuration.cache(Sale.contract)?.mapping?.table else {
            throw UsageError("\(config) maps no table for \(Sale.contract)")
        }
        let db = try await PostgresConnection.connect(configuration: configuration.postgres, logger: logger)
        do {
            let deadline = ContinuousClock.now + timeout
            while let lost = ordersNotSold(orders, sales(try await db.query("SELECT seat, order_id FROM \(table) WHERE concert = ANY($1)", [concerts]).rows)) {
                guard ContinuousClock.now < deadline else { throw DemoFailure("PostgreSQL, \(timeout) after the last answer: \(lost)") }
                try await Task.sleep(for: .milliseconds(100))
            }
            try await foldEqualsDatabase(configuration: configuration, db: db, label: label, timeout: timeout, logger: logger)
            FileHandle.standardError.write(Data("\(label): PostgreSQL holds every sale answered and equals a fold of the topics\n".utf8))
        } catch {
            await db.close()
            throw error
        }
        await db.close()
    }

    /// `replayEqualsDatabase` as a benchmark's check: prints `LABEL_fold_differences` and
    /// `LABEL_sequence_gaps`, and fails on a difference or a hole in a unit's numbering.
    @discardableResult
    static func foldEqualsDatabase(configuration: PipelineConfiguration, db: PostgresConnection, label: String, timeout: Duration, logger: Logger) async throws -> [Replayed] {
        let replayed = try await replayEqualsDatabase(configuration: configuration, db: db, timeout: timeout, logger: logger)
        let differences = replayed.flatMap { result in result.differences.map { "\(result.contract): \($0)" } }
        print("\(label)_fold_differences=\(differences.count)")
        guard differences.isEmpty else { throw DemoFailure("PostgreSQL differs from a fold of the topics in \(differences.count) place(s), e.g. \(differences[0])") }
        print("\(label)_sequence_gaps=\(replayed.flatMap(\.gaps).count)")
        if let missing = missingNumbers(replayed) { throw DemoFailure("the topics miss changes the units numbered: \(missing)") }
        return replayed
    }

    /// A fold of each ticketing topic compared with PostgreSQL, again and again until they
    /// agree or `timeout` passes: the writer may still be catching up. The differences
    /// left are empty when the write-behind has happened; the gaps, when no change a
    /// unit numbered is missing from the topic (docs/operations.md, sequence gaps).
    static func replayEqualsDatabase(configuration: PipelineConfiguration, db: PostgresConnection, timeout: Duration, logger: Logger) async throws -> [Replayed] {
        var results: [Replayed] = []
        for contract in [Concert.contract, Seat.contract, Sale.contract] {
            let replay = try TopicReplay(configuration: configuration, cache: contract, logger: logger)
            var differences: [TopicReplay.Difference] = []
            var fold: [ExactKey: JSONObject] = [:]
            var gaps: [SequenceGap] = []
            let deadline = ContinuousClock.now + timeout
            repeat {
                logger.info("replaying \(contract)")
                let state = try await replay.fold(timeout: timeout)
                logger.info("comparing \(state.entities.count) replayed \(contract) entities with PostgreSQL")
                differences = try await replay.verify(state, on: db)
                fold = state.entities
                gaps = state.sequenceGaps
                if differences.isEmpty { break }
                try await Task.sleep(for: .milliseconds(500))
            } while ContinuousClock.now < deadline
            if !differences.isEmpty {
                // What the log holds for the first keys that differ, for whoever has to
                // find out why: each message's place, origin, sequence and field names.
                let keys = Set(differences.prefix(3).map { ExactKey($0.key) })
                let traced = try await replay.fold(timeout: timeout, tracing: keys)
                for (key, lines) in traced.traces.sorted(by: { $0.key < $1.key }) {
                    FileHandle.standardError.write(Data("\(contract) \(key): \(lines.count) message(s) in the topic\n".utf8))
                    for line in lines { FileHandle.standardError.write(Data("  \(line)\n".utf8)) }
                }
            }
            results.append(Replayed(contract: contract, fold: fold, differences: differences, gaps: gaps))
        }
        return results
    }

    /// One topic's fold and how it compares.
    struct Replayed {
        var contract: ContractName
        var fold: [ExactKey: JSONObject]
        var differences: [TopicReplay.Difference]
        /// Holes in the units' numbering the fold found in the topic.
        var gaps: [SequenceGap]
    }

    /// nil when no fold found a hole in a unit's numbering, else how many and the first.
    static func missingNumbers(_ replayed: [Replayed]) -> String? {
        let gaps = replayed.flatMap(\.gaps)
        guard let first = gaps.first else { return nil }
        return "\(gaps.count) gap(s) missing \(gaps.missingChanges) change(s), e.g. \(first)"
    }

    /// nil when the unit's caches equal the folds, else the first difference.
    private func compare(unit url: String, with folds: [ContractName: [ExactKey: JSONObject]]) async throws -> String? {
        let reply = try await client.get("/admin/state", at: url)
        guard reply.status == 200, case .object(let caches) = try JSONParser().parse(reply.body) else { return "GET /admin/state: HTTP \(reply.status)" }
        let routing = try await client.get("/routing", at: url)
        guard routing.status == 200, let tables = try? JSONDecoder().decode(RoutingEndpoints.Tables.self, from: Data(routing.body)) else {
            return "GET /routing: HTTP \(routing.status)"
        }
        for (contract, fold) in folds {
            guard case .object(let held)? = caches[contract.rawValue] else { return "no \(contract) in the unit's state" }
            var expected = fold.mapValues(Self.withoutNulls)
            if let table = tables.caches.first(where: { $0.cache.isSameBytes(as: contract.rawValue) }) {
                guard let kept = Self.partitionsKept(by: url, in: table) else { return "\(contract): the unit at \(url) is not in its own routing table" }
                expected = expected.filter { key, _ in table.route(ofKey: key.text).map { kept.contains($0.partition) } ?? false }
            }
            var actual: [ExactKey: JSONObject] = [:]
            for member in held { if case .object(let fields) = member.value { actual[ExactKey(member.name)] = Self.withoutNulls(fields) } }
            if actual != expected {
                let key = Set(actual.keys).symmetricDifference(expected.keys).first ?? expected.keys.first { actual[$0] != expected[$0] } ?? ExactKey("?")
                return "\(contract) differs (\(actual.count) entities vs \(expected.count) replayed), e.g. key \(key): unit \(actual[key].map { "\($0)" } ?? "none"), replay \(expected[key].map { "\($0)" } ?? "none")"
            }
        }
        return nil
    }

    /// The partitions the unit at `url` owns or backs up, as its routing table says; nil
    /// if the table names no owner at that address (the unit is known there only by the
    /// address it serves).
    static func partitionsKept(by url: String, in table: RoutingTable) -> Set<Int32>? {
        guard let id = table.partitions.first(where: { route in route.address.map { url.isSameBytes(as: "http://\($0)") } ?? false })?.owner else {
            return nil
        }
        return Set(table.partitions.filter { route in
            route.owner.map { $0.isSameBytes(as: id) } == true || route.backups.contains { $0.isSameBytes(as: id) }
        }.map(\.partition))
    }

    /// A field set to null and a field left out mean the same, and field order means
    /// nothing.
    static func withoutNulls(_ object: JSONObject) -> JSONObject {
        JSONObject(object.filter { $0.value != .null }.sorted { ExactKey($0.name) < ExactKey($1.name) })
    }
}

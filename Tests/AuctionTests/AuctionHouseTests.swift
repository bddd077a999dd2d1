import Auctions
import Foundation
import Hummingbird
import Logging
import PumphouseContracts
import PumphouseKafka
import PumphousePipeline
import PumphousePostgres
import PumphouseTestSupport
import PumphouseUnit
import PumphouseWriter
import ServiceLifecycle
import Synchronization
import Testing

/// Private auction topics and tables per test, written by a real writer.
struct AuctionFixture {
    static let logger = TestStack.logger("auction.tests")
    static let partitions = 4
    let name: String
    let directory: String
    let pipeline: PipelineConfiguration

    init() async throws {
        let name = TestStack.uniqueName("au")
        self.name = name
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(name).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try """
        kafka: { brokers: "\(TestStack.kafkaBrokers)" }
        postgres: { url: "\(TestStack.postgresURL)" }
        schemas: \(PumphouseProcess.repository)/Schemas
        migrations: \(PumphouseProcess.repository)/Migrations
        member_topic: \(name).members
        caches:
          auction.Auction:
            topic: \(name).auction
            partitions: \(Self.partitions)
            load: topic
            mode: partitioned
            backups: 1
            co_partitioned_with: [auction.Bid]
            mapping:
              table: \(name)_auction
              columns:
                id: id
                title: title
                seller: seller
                starting_price_cents: { field: startingPrice, type: bigint }
                increment_cents: { field: increment, type: bigint }
                ends_at: { field: endsAt, transform: epoch_ms_to_timestamp }
          auction.Bid:
            topic: \(name).bid
            partitions: \(Self.partitions)
            load: topic
            mode: partitioned
            backups: 1
            partition_key_after: "@"
            mapping:
              table: \(name)_bid
              columns:
                id: id
                auction: auction
                number: { field: number, type: bigint }
                bidder: bidder
                amount_cents: { field: amount, type: bigint }
                unit: unit
                placed_at: { field: placedAt, transform: epoch_ms_to_timestamp }
        writers:
          \(name):
            caches: [auction.Auction, auction.Bid]
            batch: { max_messages: 500, max_wait_ms: 20 }
        """.write(toFile: "\(directory)/pipeline.yaml", atomically: true, encoding: .utf8)
        pipeline = try PipelineConfiguration.load(path: "\(directory)/pipeline.yaml", environment: [:])
        let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(connection: pipeline.kafka), logger: Self.logger)
        try await admin.createTopics(pipeline.topicSpecifications)
        let db = try await PostgresConnection.connect(configuration: pipeline.postgres, logger: Self.logger)
        do {
            try await pipeline.migrate(on: db, logger: Self.logger)
            try await db.execute(script: "CREATE TABLE \(name)_auction (LIKE auction_auction INCLUDING ALL); CREATE TABLE \(name)_bid (LIKE auction_bid INCLUDING ALL)")
        } catch {
            await db.close()
            throw error
        }
        await db.close()
    }

    /// A unit with short heartbeats (a member timeout of 2 s), so ownership settles fast.
    /// `port`: where the unit says it serves HTTP (0: it serves none).
    func house(_ id: String, port: Int = 0) throws -> AuctionHouse {
        var configuration = UnitConfiguration(pipeline: pipeline, unitID: "\(name)-\(id)", address: "127.0.0.1:\(port)", spoolDirectory: "\(directory)/\(id)")
        configuration.heartbeatInterval = .milliseconds(200)
        configuration.memberTimeout = .seconds(2)
        return try AuctionHouse(unit: ProcessingUnit(configuration: configuration, logger: Self.logger))
    }

    /// Runs a writer until PostgreSQL holds `count` bids, then returns them by auction and
    /// number, read with plain SQL.
    func writtenBids(_ count: Int) async throws -> [String: [Int64: (bidder: String, amount: Int64)]] {
        let writer = try DataWriter(configuration: pipeline, writer: name, logger: Self.logger)
        let task = Task { try await writer.run() }
        defer { task.cancel() }
        let db = try await PostgresConnection.connect(configuration: pipeline.postgres, logger: Self.logger)
        defer { Task { await db.close() } }
        _ = try await waitFor("\(count) bids in \(name)_bid", timeout: .seconds(60)) { () -> Bool? in
            try await Task.sleep(for: .milliseconds(50))
            return try await db.query("SELECT count(*) FROM \(name)_bid").scalar(Int.self) == count ? true : nil
        }
        task.cancel()
        _ = await task.result
        #expect(writer.statistics.deadLettered == 0, "\(writer.statistics)")
        var bids: [String: [Int64: (bidder: String, amount: Int64)]] = [:]
        for row in try await db.query("SELECT auction, number, bidder, amount_cents FROM \(name)_bid").rows {
            bids[row[0]!, default: [:]][Int64(row[1]!)!] = (row[2]!, Int64(row[3]!)!)
        }
        return bids
    }
}

/// Runs the houses' units as services for the length of `body`, then stops them gracefully.
func running<T>(_ houses: [AuctionHouse], _ body: () async throws -> T) async throws -> T {
    let group = ServiceGroup(configuration: .init(services: houses.map { .init(service: $0.unit) }, logger: AuctionFixture.logger))
    let task = Task { try await group.run() }
    defer { task.cancel() }
    for house in houses {
        _ = try await waitFor("unit \(house.unit.id) to load its caches", timeout: .seconds(60)) { () -> Bool? in
            try await Task.sleep(for: .milliseconds(20))
            return house.unit.isLoaded ? true : nil
        }
    }
    let result = try await body()
    await group.triggerGracefulShutdown()
    try await task.value
    return result
}

/// Waits until every house serves the same settled routing table for the auctions, whose
/// owners are exactly `owners`.
func settledOwners(_ houses: [AuctionHouse], owners: Set<String>) async throws -> RoutingTable {
    try await waitFor("the houses to agree on the auctions' owners \(owners.sorted())", timeout: .seconds(30)) { () async throws -> RoutingTable? in
        try await Task.sleep(for: .milliseconds(20))
        let tables = houses.compactMap { $0.unit.routingTable(of: Auction.contract) }
        guard tables.count == houses.count, tables.allSatisfy({ $0.settled && $0.agrees(with: tables[0]) }) else { return nil }
        return Set(tables[0].partitions.compactMap(\.owner)) == owners ? tables[0] : nil
    }
}

@Suite("The online-auction sample against the local broker and PostgreSQL", .localStack, .removingWhatItMakes, .serialized, .timeLimit(.minutes(3)))
struct AuctionHouseTests {
    static let day: Int64 = 86_400_000

    /// Whether `error` sends the request to `owner`, at the route's address and partition.
    static func names(_ error: any Error, owner: String, route: RoutingTable.Route?) -> Bool {
        guard let misdirection = (error as? AuctionError)?.misdirection, let route else { return false }
        return misdirection.owner == owner && misdirection.address == route.address && misdirection.partition == route.partition
            && misdirection.cache == Auction.contract.rawValue
    }

    @Test("the owner of an auction's partition decides its bids, numbered from 1 without gaps, each at least the increment above the last; a low bid is told the minimum, a bid at another unit names the owner, an ended auction refuses bids, and PostgreSQL holds every accepted bid")
    func ownerDecides() async throws {
        let fixture = try await AuctionFixture()
        let houses = try ["a", "b"].map { try fixture.house($0) }
        let byID = Dictionary(uniqueKeysWithValues: houses.map { ($0.unit.id, $0) })
        var accepted: [Bid] = []
        try await running(houses) {
            let table = try await settledOwners(houses, owners: Set(houses.map(\.unit.id)))
            let ends = Int64(Date().timeIntervalSince1970 * 1000) + Self.day
            for index in 0..<8 {
                let id = "lot-\(index)"
                let owner = try #require(table.route(ofKey: id)?.owner)
                let other = try #require(houses.first { !$0.unit.id.isSameBytes(as: owner) })
                let spec = Auction(id: id, title: "Lot \(index)", seller: "seller", startingPrice: 1000, increment: 100, endsAt: ends)
                await #expect { try await other.open(spec) } throws: { Self.names($0, owner: owner, route: table.route(ofKey: id)) }
                let house = try #require(byID[owner])
                #expect(try await house.open(spec).minimumBid == 1000)
                // Opening it again with the same details is a safe retry.
                #expect(try await house.open(spec).bids == 0)
                await #expect(throws: AuctionError.tooLow(minimum: 1000)) { try await house.bid(auction: id, bidder: "ann", amount: 999) }
                accepted.append(try await house.bid(auction: id, bidder: "ann", amount: 1000))
                await #expect(throws: AuctionError.tooLow(minimum: 1100)) { try await house.bid(auction: id, bidder: "bob", amount: 1099) }
                accepted.append(try await house.bid(auction: id, bidder: "bob", amount: 1250 + Int64(index)))
                await #expect { try await other.bid(auction: id, bidder: "cy", amount: 5000) } throws: { Self.names($0, owner: owner, route: table.route(ofKey: id)) }
                let standing = try house.standing(id)
                #expect(standing.bids == 2 && standing.highBid == 1250 + Int64(index) && standing.leader == "bob" && standing.minimumBid == 1350 + Int64(index) && standing.decidedHere)
                #expect(try house.history(id).map(\.number) == [1, 2])
                // The backup serves the standing too, saying it does not decide it.
                _ = try await waitFor("the backup of \(id) to hold both bids", timeout: .seconds(10)) { () async throws -> Bool? in
                    try await Task.sleep(for: .milliseconds(10))
                    return (try? other.standing(id))?.bids == 2 ? true : nil
                }
                #expect(try other.standing(id).decidedHere == false)
            }
            // A bid another producer wrote with a `number` far from its key's (Int64.max,
            // which the schema allows) does not trap the next bid: that is numbered from
            // the key the walk found.
            let forgedID = "lot-forged"
            let forgedOwnerID = try #require(table.route(ofKey: forgedID)?.owner)
            let forgedOwner = try #require(byID[forgedOwnerID])
            _ = try await forgedOwner.open(Auction(id: forgedID, title: "Forged", seller: "seller", startingPrice: 1000, increment: 100, endsAt: ends))
            let forged = Bid(id: Bid.key(auction: forgedID, number: 1), auction: forgedID, number: .max, bidder: "zed", amount: 2000, unit: "elsewhere", placedAt: 0)
            #expect(try await forgedOwner.unit.cache(Bid.self).create(forged, timeout: .seconds(10), confirmation: .brokerAcknowledged))
            accepted.append(forged)
            let next = try await forgedOwner.bid(auction: forgedID, bidder: "ann", amount: 2100)
            #expect(next.number == 2 && next.id == "2@lot-forged")
            accepted.append(next)
            #expect(try forgedOwner.standing(forgedID).bids == 2)
            // An auction that has ended refuses bids.
            let ended = Auction(id: "lot-ended", title: "Gone", seller: "seller", startingPrice: 1000, increment: 100, endsAt: 1)
            let endedOwner = try #require(table.route(ofKey: ended.id)?.owner)
            let owner = try #require(byID[endedOwner])
            #expect(try await owner.open(ended).open == false)
            await #expect(throws: AuctionError.closed(at: 1)) { try await owner.bid(auction: ended.id, bidder: "ann", amount: 5000) }
            let noneOwnerID = try #require(table.route(ofKey: "lot-none")?.owner)
            let noneOwner = try #require(byID[noneOwnerID])
            await #expect(throws: AuctionError.notFound("auction lot-none")) { try await noneOwner.bid(auction: "lot-none", bidder: "ann", amount: 5000) }
            await #expect(throws: AuctionError.badRequest(field: "amount", problem: "must be a positive number of cents up to \(AuctionRules.maximumCents), not 0")) { try await owner.bid(auction: "lot-0", bidder: "ann", amount: 0) }
        }
        let written = try await fixture.writtenBids(accepted.count)
        for bid in accepted {
            let row = written[bid.auction]?[bid.number]
            #expect(row?.bidder == bid.bidder && row?.amount == bid.amount, "bid \(bid.id) in PostgreSQL")
        }
    }

    @Test("over HTTP, a bid sent to the unit that does not own the auction is forwarded once and accepted by the owner; /routing tells smart clients the partition key; errors are JSON with their status")
    func forwardedOverHTTP() async throws {
        let fixture = try await AuctionFixture()
        let ports = try [FreePort.find(), FreePort.find()]
        let houses = try zip(["a", "b"], ports).map { try fixture.house($0, port: $1) }
        let servers = ServiceGroup(configuration: .init(
            services: zip(houses, ports).map { house, port in
                .init(service: Application(router: AuctionAPI.router(house), configuration: .init(address: .hostname("127.0.0.1", port: port))))
            },
            logger: AuctionFixture.logger
        ))
        let serving = Task { try await servers.run() }
        defer { serving.cancel() }
        try await running(houses) {
            let table = try await settledOwners(houses, owners: Set(houses.map(\.unit.id)))
            _ = try await waitFor("the owners' addresses in the routing table", timeout: .seconds(30)) { () async throws -> Bool? in
                try await Task.sleep(for: .milliseconds(20))
                return houses.allSatisfy { $0.unit.routingTable(of: Auction.contract)?.partitions.allSatisfy { $0.address != nil } == true } ? true : nil
            }
            let id = "lot-http"
            let owner = try #require(table.route(ofKey: id)?.owner)
            // The port of the unit that does not own the auction.
            let elsewhere = try #require(zip(houses, ports).first { !$0.0.unit.id.isSameBytes(as: owner) }?.1)
            let opened = try await JSONOverHTTP.post(elsewhere, "/auctions", ["id": id, "title": "Forwarded", "seller": "s", "startingPrice": 700, "increment": 50, "endsAt": 1_900_000_000_000])
            #expect(opened.status == 201, "\(opened.json)")
            let bid = try await JSONOverHTTP.post(elsewhere, "/auctions/\(id)/bids", ["bidder": "ann", "amount": 700])
            #expect(bid.status == 201 && bid.json["number"] as? Int == 1 && bid.json["unit"] as? String == owner, "\(bid.json)")
            let low = try await JSONOverHTTP.post(elsewhere, "/auctions/\(id)/bids", ["bidder": "bob", "amount": 720])
            #expect(low.status == 409 && low.json["error"] as? String == "too-low" && (low.json["detail"] as? String)?.contains("750") == true, "\(low.json)")
            // Marked as forwarded already, a request at a non-owner is refused, never passed on.
            let looped = try await JSONOverHTTP.post(elsewhere, "/auctions/\(id)/bids", ["bidder": "bob", "amount": 800], headers: [("x-pumphouse-forwarded", "1")])
            #expect(looped.status == 421 && looped.json["error"] as? String == "misdirected", "\(looped.json)")
            let bad = try await JSONOverHTTP.post(elsewhere, "/auctions/\(id)/bids", ["bidder": "bob"])
            #expect(bad.status == 400 && bad.json["error"] as? String == "bad-request", "\(bad.json)")
            let json = try await JSONOverHTTP.get(ports[0], "/routing/auction.Bid").json
            #expect(json["partitionKeyAfter"] as? String == "@" && json["partitioner"] as? String == "murmur2", "\(json)")
        }
        await servers.triggerGracefulShutdown()
    }

    @Test("bidders racing on one auction at its owner, and on after the owner stops and its backup takes over: the accepted bids are numbered 1...n without a gap or a repeat, each at least the increment above the one before, every accepted bid is in PostgreSQL, and no other is")
    func raceAndTakeOver() async throws {
        let fixture = try await AuctionFixture()
        let houses = try ["a", "b"].map { try fixture.house($0) }
        let increment: Int64 = 10
        final class Accepted: Sendable {
            let bids = Mutex<[Bid]>([])
        }
        let accepted = Accepted()
        /// Eight bidders, each bidding the minimum (or a step or two above) until it has
        /// `rounds` bids accepted.
        func race(on id: String, at house: AuctionHouse, rounds: Int) async throws {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for bidder in 0..<8 {
                    group.addTask {
                        var won = 0
                        var step: Int64 = 0
                        while won < rounds {
                            step = (step + 1) % 3
                            let minimum = try house.standing(id).minimumBid
                            do {
                                let bid = try await house.bid(auction: id, bidder: "bidder-\(bidder)", amount: minimum + step * increment)
                                accepted.bids.withLock { $0.append(bid) }
                                won += 1
                            } catch AuctionError.tooLow {
                                // Overtaken between reading the standing and bidding.
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        let (first, second) = (houses[0], houses[1])
        let id = try await running([second]) { () async throws -> String in
            let id = try await running([first]) { () async throws -> String in
                let table = try await settledOwners(houses, owners: Set(houses.map(\.unit.id)))
                // An auction the first unit owns, so that stopping it moves the auction.
                let id = try #require((0..<64).map { "lot-race-\($0)" }.first { table.route(ofKey: $0)?.owner == first.unit.id })
                _ = try await first.open(Auction(id: id, title: "Raced", seller: "seller", startingPrice: 100, increment: increment, endsAt: Int64(Date().timeIntervalSince1970 * 1000) + Self.day))
                try await race(on: id, at: first, rounds: 5)
                return id
            }
            // The first unit stopped: its backup owns the auction now, and goes on from
            // the last bid the first accepted.
            _ = try await settledOwners([second], owners: [second.unit.id])
            try await race(on: id, at: second, rounds: 3)
            return id
        }
        let bids = accepted.bids.withLock { $0 }.sorted { $0.number < $1.number }
        #expect(bids.map(\.number) == Array(1...Int64(bids.count)), "numbered without a gap or a repeat")
        for (earlier, later) in zip(bids, bids.dropFirst()) {
            #expect(later.amount >= earlier.amount + increment, "bid \(later.number) raises bid \(earlier.number) by the increment at least")
        }
        let written = try await fixture.writtenBids(bids.count)
        #expect(written.keys.sorted() == [id])
        #expect(written[id]?.count == bids.count)
        for bid in bids {
            #expect(written[id]?[bid.number]?.bidder == bid.bidder && written[id]?[bid.number]?.amount == bid.amount, "bid \(bid.number) in PostgreSQL")
        }
    }
}

import ArgumentParser
import Auctions
import Foundation
import Logging
import PumphouseCommandLine
import PumphouseContracts
import PumphousePipeline
import PumphousePostgres
import PumphouseReplay
import PumphouseUnit
import Synchronization

/// `make demo`'s second part: three auction units, a writer and a reader; bidders on every
/// unit at once; the owner of an auction's partition killed with SIGKILL during the
/// bidding and started again; then checks of what bidders were told against PostgreSQL
/// and a replay of the topics.
struct AuctionDemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the auction demo on the local stack: three units, a writer and a reader; bidders on every unit; an owner killed during the bidding; then checks. Exits 0 only if every check passed.",
        discussion: "Expects the stack up, the database migrated and the topics created (make demo does all three). It stops every process it started."
    )

    @OptionGroup var pipeline: PipelineOptions

    @Option(help: "Auctions opened for the run.")
    var auctions = 8

    @Option(help: "Bidders, bidding at once for the whole run.")
    var bidders = 24

    @Option(help: "Seconds of bidding; an owner is killed a quarter of the way in.")
    var seconds = 15

    @Option(help: "First HTTP port of the three units (they take this port and the next two).")
    var basePort = 8091

    @Option(help: "Directory for the units' spools and every process's log.")
    var workDirectory = ".pumphouse/auction-demo"

    @Option(help: "Seconds each wait (units ready, ownership settled, writer drained) may take before the demo fails.")
    var timeoutS = 120

    func validate() throws {
        guard (1...1000).contains(auctions) else { throw ValidationError("--auctions must be between 1 and 1000, not \(auctions)") }
        guard (1...1000).contains(bidders) else { throw ValidationError("--bidders must be between 1 and 1000, not \(bidders)") }
        guard (4...3600).contains(seconds) else { throw ValidationError("--seconds must be between 4 and 3600, not \(seconds)") }
        guard (1...65533).contains(basePort) else { throw ValidationError("--base-port must leave room for three ports below 65536") }
        guard (1...86_400).contains(timeoutS) else { throw ValidationError("--timeout-s must be from 1 to 86400 seconds, not \(timeoutS)") }
    }

    func run() async throws {
        let configuration = try pipeline.load()
        for contract in [Auction.contract, Bid.contract] where configuration.cache(contract) == nil {
            throw UsageError("\(pipeline.config) declares no \(contract) cache; the auction demo needs auction.Auction and auction.Bid (see deploy/local/pipeline.yaml)")
        }
        let binaries = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let logs = URL(fileURLWithPath: workDirectory).appendingPathComponent("logs")
        let processes = try DemoProcesses(binaries: binaries, logs: logs)
        let units = (0..<3).map { "auction-unit-\($0 + 1)" }
        let urls = (0..<3).map { "http://127.0.0.1:\(basePort + $0)" }
        let client = AuctionClient(urls: urls)
        var report = AuctionDemoReport()
        for url in urls where (try? await client.get("/healthz", at: url)) != nil {
            report.failures.append("something already answers at \(url): stop it (an earlier demo's unit?) or pass --base-port")
        }
        if report.failures.isEmpty {
            do {
                try await demo(configuration, processes, units, urls, client, &report)
            } catch {
                report.failures.append("\(error)")
            }
        }
        await processes.stopAll()
        await client.shutdown()
        report.print(logs: logs.path)
        if !report.failures.isEmpty { throw ExitCode(1) }
    }

    private func demo(_ configuration: PipelineConfiguration, _ processes: DemoProcesses, _ units: [String], _ urls: [String], _ client: AuctionClient, _ report: inout AuctionDemoReport) async throws {
        let logger = Logger(label: "auction.demo")
        let config = pipeline.config
        step("starting from empty auction tables and spools")
        try await Self.forget(configuration, logger: logger)
        try? FileManager.default.removeItem(atPath: "\(workDirectory)/spool")
        step("starting the auction writer, a data reader and three units")
        try processes.start("writer", "pumphouse", ["writer", "--config", config, "--writer", "auction"])
        try processes.start("reader", "pumphouse", ["reader", "--config", config])
        func startUnit(_ index: Int) throws {
            try processes.start(units[index], "auction", [
                "unit", "--config", config, "--id", units[index], "--address", "127.0.0.1:\(basePort + index)", "--http-port", "\(basePort + index)",
                "--spool-directory", "\(workDirectory)/spool",
            ])
        }
        for index in units.indices { try startUnit(index) }
        try await awaitReady(processes, units, urls, client, what: "the units to load their caches")
        let table = try await settledRouting(urls, client, owners: Set(units))
        report.routing = table.partitions.map { "partition \($0.partition): owner \($0.owner ?? "none") at \($0.address ?? "?"), backups \($0.backups.joined(separator: ", ")), ownership term \($0.ownershipTerm)" }

        let run = String(Int(Date().timeIntervalSince1970), radix: 36)
        let ids = (0..<auctions).map { "\(run)-lot-\($0)" }
        step("opening \(auctions) auctions through every unit in turn (each forwarded to its owner)")
        let ends = Int64(Date().timeIntervalSince1970 * 1000) + Int64(seconds + timeoutS) * 1000
        for (index, id) in ids.enumerated() {
            let body: [String: any Sendable] = ["id": id, "title": "Lot \(index)", "seller": "seller-\(index % 3)", "startingPrice": 1000, "increment": 50, "endsAt": ends]
            let reply = try await client.post("/auctions", body, at: urls[index % urls.count])
            guard reply.status == 201 else { throw DemoFailure("opening auction \(id): HTTP \(reply.status) \(String(decoding: reply.body, as: UTF8.self))") }
        }

        // The victim: the unit owning the first auction's partition.
        let route = try require(table.route(ofKey: ids[0]), "no route for \(ids[0])")
        let victimPartition = route.partition
        let victim = try require(route.owner.flatMap { owner in units.firstIndex { $0.isSameBytes(as: owner) } }, "no owner of partition \(victimPartition)")
        step("\(bidders) bidders for \(seconds) s; \(units[victim]), owner of partition \(victimPartition), killed with SIGKILL a quarter of the way in")
        let tally = BidTally()
        let started = ContinuousClock.now
        let (bidders, deadline) = (self.bidders, started + .seconds(seconds))
        let bidding = Task { await Self.bid(on: ids, bidders: bidders, client: client, until: deadline, tally: tally, victimPartition: victimPartition, table: table) }
        try await Task.sleep(until: started + .seconds(seconds) / 4)
        await processes.kill([units[victim]])
        let killed = ContinuousClock.now
        tally.killed(at: killed)
        // Started again once its partitions have failed over, with its id and spool.
        _ = try await settledRouting(urls.enumerated().filter { $0.offset != victim }.map(\.element), client, owners: Set(units).subtracting([units[victim]]))
        report.failoverSettled = ContinuousClock.now - killed
        try startUnit(victim)
        try await awaitReady(processes, units, urls, client, what: "the killed unit to start again")
        await bidding.value
        report.bids = tally.snapshot()

        step("checks: every accepted bid in PostgreSQL, numbered without a gap, each raising the last; PostgreSQL equals a replay of the topics")
        try await AuctionDemoChecks(configuration: configuration, auctions: ids, timeout: .seconds(timeoutS), logger: logger).run(report: &report)
        // A killed owner resends, once started again, the changes the broker had not
        // acknowledged; behind its successor's claim they are fenced, and the writer
        // dead-letters them. Anything else dead-lettered is a defect.
        let port = configuration.writer(named: "auction")?.httpPort ?? 9304
        if let metrics = try? await client.get("/metrics", at: "http://127.0.0.1:\(port)"), metrics.status == 200 {
            let text = String(decoding: metrics.body, as: UTF8.self)
            let metric = "pumphouse_writer_dead_lettered_total"
            let (fenced, staleClaim) = (#"reason="fenced""#, #"reason="stale-claim""#)
            report.fenced = PrometheusText.sum(metric, in: text) - PrometheusText.sum(metric, in: text, excluding: [fenced])
            let other = PrometheusText.sum(metric, in: text, excluding: [fenced, staleClaim])
            report.check("the writer dead-lettered nothing but fenced changes", other == 0 ? nil : "\(other) other dead letter(s); see \(processes.logPath("writer"))")
        } else {
            report.check("the writer dead-lettered nothing but fenced changes", "the writer's /metrics at port \(port) did not answer")
        }
        _ = try await settledRouting(urls, client, owners: Set(units))
    }

    /// Bidders bid until `deadline`: each reads an auction's minimum from any unit and
    /// bids it, or a step or two above, at the next unit in turn.
    private static func bid(on ids: [String], bidders: Int, client: AuctionClient, until deadline: ContinuousClock.Instant, tally: BidTally, victimPartition: Int32, table: RoutingTable) async {
        await withTaskGroup(of: Void.self) { group in
            for bidder in 0..<bidders {
                group.addTask {
                    var generator = SystemRandomNumberGenerator()
                    while ContinuousClock.now < deadline {
                        let id = ids.randomElement(using: &generator)!
                        do {
                            let standing = try await client.get("/auctions/\(id)", at: client.anyURL)
                            guard standing.status == 200, let minimum = standing.json["minimumBid"] as? Int else {
                                tally.retried()
                                try await Task.sleep(for: .milliseconds(20))
                                continue
                            }
                            let amount = minimum + 50 * Int.random(in: 0...2, using: &generator)
                            let reply = try await client.post("/auctions/\(id)/bids", ["bidder": "bidder-\(bidder)", "amount": amount], at: client.anyURL)
                            switch reply.status {
                            case 201:
                                let json = reply.json
                                guard let number = json["number"] as? Int, let placed = json["amount"] as? Int, let who = json["bidder"] as? String else {
                                    tally.failed("a 201 without a bid: \(String(decoding: reply.body, as: UTF8.self))")
                                    continue
                                }
                                tally.accepted(AcceptedBid(auction: id, number: Int64(number), bidder: who, amount: Int64(placed)), inVictimPartition: table.route(ofKey: id)?.partition == victimPartition)
                            case 409: tally.outbid()
                            case 421, 503:
                                tally.retried()
                                try await Task.sleep(for: .milliseconds(20))
                            default:
                                tally.failed("HTTP \(reply.status): \(String(decoding: reply.body, as: UTF8.self))")
                            }
                        } catch {
                            // The killed unit refuses connections until it is back.
                            tally.retried()
                            try? await Task.sleep(for: .milliseconds(20))
                        }
                    }
                }
            }
        }
    }

    /// Waits until every unit at `urls` serves the same settled table for the auctions,
    /// owned by exactly `owners`.
    private func settledRouting(_ urls: [String], _ client: AuctionClient, owners: Set<String>) async throws -> RoutingTable {
        let wanted = Set(owners.map { ExactKey($0) })
        let what = "the units at \(urls.joined(separator: ", ")) to agree that \(owners.sorted().joined(separator: ", ")) own the auctions"
        return try await until(what) { () async throws -> RoutingTable? in
            var tables: [RoutingTable] = []
            for url in urls {
                guard let table = await routingTable(at: url, client) else { return nil }
                tables.append(table)
            }
            guard let first = tables.first, tables.allSatisfy({ $0.settled && $0.agrees(with: first) }) else { return nil }
            let named: [ExactKey] = first.partitions.compactMap { route in route.owner.map { ExactKey($0) } }
            return Set(named) == wanted ? first : nil
        }
    }

    private func routingTable(at url: String, _ client: AuctionClient) async -> RoutingTable? {
        guard let reply = try? await client.get("/routing/\(Auction.contract.rawValue)", at: url), reply.status == 200 else { return nil }
        return try? JSONDecoder().decode(RoutingTable.self, from: reply.body)
    }

    private func awaitReady(_ processes: DemoProcesses, _ units: [String], _ urls: [String], _ client: AuctionClient, what: String) async throws {
        try await processes.awaitReady(units, at: urls, timeout: .seconds(timeoutS), what: what) { try? await client.get("/readyz", at: $0).status }
    }

    static func forget(_ configuration: PipelineConfiguration, logger: Logger) async throws {
        let topics = [Auction.contract, Bid.contract].compactMap { configuration.cache($0)?.topic }
        try await DemoSupport.forget(tables: ["auction_auction", "auction_bid"], topics: topics, configuration: configuration, logger: logger)
    }

    private func until<T>(_ what: String, _ probe: () async throws -> T?) async throws -> T {
        try await DemoSupport.until(what, timeout: .seconds(timeoutS), probe)
    }

    private func step(_ text: String) { DemoSupport.step("auction demo", text) }
}

/// `value`, or a demo failure saying what was missing.
func require<T>(_ value: T?, _ what: @autoclosure () -> String) throws -> T {
    guard let value else { throw DemoFailure(what()) }
    return value
}

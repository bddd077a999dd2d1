import ArgumentParser
import Foundation
import Logging
import PumphouseCommandLine
import PumphouseContracts
import PumphousePipeline
import PumphousePostgres
import PumphouseUnit
import Ticketing

#if canImport(Glibc)
import Glibc
#endif

/// `ticketing failover`: the failover benchmark (docs/benchmarks.md). Kills the owner of
/// a sales partition with SIGKILL, again and again, and times how long the partition
/// takes to accept a purchase again: the member timeout the survivors wait out, their
/// claim's trip through the log, and the first sale the new owner decides.
struct FailoverBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "failover",
        abstract: "Kill the owner of a sales partition with SIGKILL --kills times; print how long until the partition accepted a purchase again, as key=value lines.",
        discussion: """
            Starts --units ticketing units (this executable's `unit`, at ports from --base-port, with the default member timeout) on the pipeline file, which must declare ticketing.Sale partitioned. Each round waits until every live unit serves one settled routing table, holds a seat of the next partition, kills that partition's owner, and sends the purchase to a surviving unit every --attempt-ms until one is answered 201 (a non-owner forwards it); the time from the kill to that answer is the round's failover. The killed unit is then started again with its id and spool, and takes its partitions back. At the end PostgreSQL must hold every sale answered 201 and equal a fold of the topics.
            """
    )

    @OptionGroup var pipeline: PipelineOptions

    @Option(help: "SIGKILLs, one per round.")
    var kills = 20

    @Option(help: "Rounds after the kills in which the owner is paused (SIGSTOP) past the member timeout instead, then resumed and asked to sell in the partition it lost.")
    var zombies = 2

    @Option(help: "Units to run (at least 2: a survivor must take over).")
    var units = 3

    @Option(help: "The first unit's HTTP port; the others follow it.")
    var basePort = 9471

    @Option(help: "Milliseconds between purchase attempts after a kill.")
    var attemptMs = 10

    @Option(help: "Seats sold before the kills, to measure each unit's share of the sales it keeps.")
    var shareSales = 600

    @Option(help: "Directory for the units' spools and logs.")
    var workDirectory = ".pumphouse/failover"

    @Option(help: "Seconds any one wait may take (a round's failover, a settled routing table, the write-behind) before the run fails.")
    var timeoutS = 120

    func validate() throws {
        guard (1...1_000).contains(kills) else { throw ValidationError("--kills must be between 1 and 1000, not \(kills)") }
        guard (0...100).contains(zombies) else { throw ValidationError("--zombies must be between 0 and 100, not \(zombies)") }
        guard (2...16).contains(units) else { throw ValidationError("--units must be between 2 and 16, not \(units)") }
        guard (1...(65535 - units)).contains(basePort) else { throw ValidationError("--base-port must leave room for \(units) ports below 65536") }
        guard (1...1_000).contains(attemptMs) else { throw ValidationError("--attempt-ms must be between 1 and 1000, not \(attemptMs)") }
        guard (1...86_400).contains(timeoutS) else { throw ValidationError("--timeout-s must be from 1 to 86400 seconds, not \(timeoutS)") }
        guard (1...2_600).contains(shareSales) else { throw ValidationError("--share-sales must be between 1 and 2600, not \(shareSales)") }
    }

    func run() async throws {
        let configuration = try pipeline.load()
        guard let sales = configuration.cache(Sale.contract), sales.mode.isPartitioned else {
            throw UsageError("\(pipeline.config) must declare \(Sale.contract) with mode: partitioned: failover moves a partition's ownership")
        }
        let fleet = try BenchUnits(config: pipeline.config, basePort: basePort, workDirectory: workDirectory)
        let processes = fleet.processes
        let ids = (0..<units).map { "failover-unit-\($0)" }
        let urls = ids.indices.map(fleet.url)
        let client = BoxOfficeClient(targets: urls, timeout: .seconds(5), adminToken: processes.adminToken)
        let logger = Logger(label: "ticketing.failover")
        do {
            try await fleet.prepare(urls, client: client)
            for index in ids.indices { try fleet.start(index, id: ids[index]) }
            try await measureShare(ids: ids, urls: urls, backups: sales.mode.backups ?? 0, processes: processes, client: client)
            var rounds = try await kill(rounds: kills + zombies, zombies: zombies, ids: ids, urls: urls, partitions: sales.partitions, fleet: fleet, client: client)
            await processes.stopAll()
            let zombieSales = rounds.flatMap(\.zombieSales)
            print("failover_zombie_rounds=\(zombies)")
            print("failover_zombie_sales_answered=\(zombieSales.count)")
            rounds += zombieSales
            // Each round ends in sales answered 201; all of them must reach PostgreSQL.
            print("failover_sales_answered=\(rounds.count)")
            let times = rounds.filter { !$0.zombie }.map(\.failover).sorted()
            let member = UnitConfiguration(pipeline: configuration, unitID: "-", address: "-", spoolDirectory: "-").memberTimeout
            print("failover_kills=\(times.count)")
            print("member_timeout_ms=\(Self.milliseconds(member))")
            print("failover_p50_ms=\(Self.milliseconds(Self.percentile(times, 50)))")
            print("failover_p99_ms=\(Self.milliseconds(Self.percentile(times, 99)))")
            print("failover_max_ms=\(Self.milliseconds(times.last ?? .zero))")
            print("failover_min_ms=\(Self.milliseconds(times.first ?? .zero))")
            let orders = rounds.map { OnSale.Order(seat: Seat.key(concert: $0.concert, seat: $0.seat), order: $0.order, buyer: "") }
            try await DemoChecks.ordersStand(
                orders, concerts: Array(Set(rounds.map(\.concert))), configuration: configuration, config: pipeline.config, label: "failover", timeout: .seconds(timeoutS), logger: logger
            )
        } catch {
            await processes.stopAll()
            await client.shutdown()
            throw error
        }
        await client.shutdown()
    }

    /// One round: which partition lost its owner, how long it took to sell again, and
    /// the sale that showed it.
    struct Round {
        var partition: Int32
        var failover: Duration
        var concert: String
        var seat: String
        var order: String
        /// A round whose owner was paused, not killed (its failover is not timed).
        var zombie = false
        /// Sales the resumed zombie answered 201: each must stand in PostgreSQL.
        var zombieSales: [Round] = []
    }

    private func kill(rounds: Int, zombies: Int, ids: [String], urls: [String], partitions: Int, fleet: BenchUnits, client: BoxOfficeClient) async throws -> [Round] {
        let processes = fleet.processes
        let run = String(Int(Date().timeIntervalSince1970), radix: 36)
        let concert = "failover-\(run)"
        var opened = false
        var done: [Round] = []
        var used = Set<String>()
        for round in 0..<rounds {
            try await processes.awaitReady(ids, at: urls, client: client, timeout: .seconds(timeoutS), what: "the units to be ready")
            guard let routing = try await client.settledSaleRouting(urls, timeout: .seconds(timeoutS)) else {
                throw DemoFailure("the units serve no routing table for \(Sale.contract)")
            }
            if !opened {
                try await client.openBenchmarkConcert(concert, name: "Failover \(run)", rows: 26, seatsPerRow: 100, at: urls[0])
                opened = true
            }
            let partition = Int32(round % partitions)
            guard let owner = routing.table.partitions[Int(partition)].owner, let victim = ids.firstIndex(where: { $0.isSameBytes(as: owner) }) else {
                throw DemoFailure("partition \(partition) of \(Sale.contract) is owned by none of this run's units: \(routing.lines.joined(separator: ", "))")
            }
            // A free seat of the partition, held before the kill, so that the purchase
            // is the first change the new owner decides for it.
            guard let seat = Self.seat(in: partition, of: concert, routing: routing.table, skipping: used) else {
                throw DemoFailure("concert \(concert) has no free seat left in partition \(partition)")
            }
            used.insert(seat)
            let survivors = urls.indices.filter { $0 != victim }.map { urls[$0] }
            let buyer = "failover-buyer-\(round)"
            let hold = try await Self.reserve(concert: concert, seat: seat, buyer: buyer, at: survivors[0], client: client, timeout: .seconds(timeoutS))
            let zombie = round >= rounds - zombies
            guard !zombie else {
                done.append(try await pause(victim, ids: ids, urls: urls, survivors: survivors, partition: partition, concert: concert, seat: seat, hold: hold, buyer: buyer, used: &used, routing: routing, processes: processes, client: client))
                continue
            }
            let killed = ContinuousClock.now
            await processes.kill([ids[victim]])
            let order = try await purchase(concert: concert, seat: seat, hold: hold, buyer: buyer, survivors: survivors, since: killed, client: client)
            let failover = order.at - killed
            done.append(Round(partition: partition, failover: failover, concert: concert, seat: seat, order: order.id))
            FileHandle.standardError.write(Data("failover: round \(round + 1): killed \(ids[victim]), owner of \(Sale.contract)[\(partition)]; a survivor sold in it \(Self.milliseconds(failover)) ms later\n".utf8))
            try fleet.start(victim, id: ids[victim])
        }
        return done
    }

    /// A zombie round: the owner is paused (SIGSTOP) until a survivor has sold in its
    /// partition, then resumed and at once asked, directly and marked as forwarded so it
    /// cannot pass the request on, to sell other seats of that partition for a while.
    /// Whatever it answers 201 must stand in PostgreSQL at the end; the answer the unit
    /// should give is a refusal (421 or 503) until it has read the claim that deposed it.
    private func pause(
        _ victim: Int, ids: [String], urls: [String], survivors: [String], partition: Int32, concert: String, seat: String, hold: String, buyer: String,
        used: inout Set<String>, routing: SaleRouting, processes: DemoProcesses, client: BoxOfficeClient
    ) async throws -> Round {
        guard let pid = processes.pid(ids[victim]) else { throw DemoFailure("\(ids[victim]) is not running") }
        // Seats for the zombie to be asked about, held at a survivor beforehand.
        var asked: [(seat: String, hold: String)] = []
        for index in 0..<5 {
            guard let extra = Self.seat(in: partition, of: concert, routing: routing.table, skipping: used) else { break }
            used.insert(extra)
            asked.append((extra, try await Self.reserve(concert: concert, seat: extra, buyer: "\(buyer)-z\(index)", at: survivors[0], client: client, timeout: .seconds(timeoutS))))
        }
        let paused = ContinuousClock.now
        Foundation.kill(pid, SIGSTOP)
        let order: (id: String, at: ContinuousClock.Instant)
        do {
            order = try await purchase(concert: concert, seat: seat, hold: hold, buyer: buyer, survivors: survivors, since: paused, client: client)
        } catch {
            Foundation.kill(pid, SIGCONT)
            throw error
        }
        Foundation.kill(pid, SIGCONT)
        var answers: [Int: Int] = [:]
        var sold: [Round] = []
        let until = ContinuousClock.now + .seconds(3)
        while ContinuousClock.now < until, sold.count < asked.count {
            for (index, extra) in asked.enumerated() where !sold.contains(where: { $0.seat == extra.seat }) {
                guard let reply = try? await client.post(
                    "/concerts/\(concert)/seats/\(extra.seat)/purchase", ["hold": extra.hold, "buyer": "\(buyer)-z\(index)"], at: urls[victim], headers: [("x-pumphouse-forwarded", "1")]
                ) else { continue }
                answers[reply.status, default: 0] += 1
                if reply.status == 201, let id = reply.json?["order"] as? String {
                    sold.append(Round(partition: partition, failover: .zero, concert: concert, seat: extra.seat, order: id, zombie: true))
                }
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let seen = answers.sorted { $0.key < $1.key }.map { "\($0.value)x HTTP \($0.key)" }.joined(separator: ", ")
        FileHandle.standardError.write(Data("failover: zombie round: paused \(ids[victim]), owner of \(Sale.contract)[\(partition)]; a survivor sold in it \(Self.milliseconds(order.at - paused)) ms later; resumed, the zombie answered \(seen)\n".utf8))
        return Round(partition: partition, failover: order.at - paused, concert: concert, seat: seat, order: order.id, zombie: true, zombieSales: sold)
    }

    /// Sells `--share-sales` seats through their owners, waits until the units keep
    /// every sale on its owner and its backups, and prints the largest unit's share of
    /// the sales and the units' resident memory.
    private func measureShare(ids: [String], urls: [String], backups: Int, processes: DemoProcesses, client: BoxOfficeClient) async throws {
        try await processes.awaitReady(ids, at: urls, client: client, timeout: .seconds(timeoutS), what: "the units to be ready")
        guard let routing = try await client.settledSaleRouting(urls, timeout: .seconds(timeoutS)) else {
            throw DemoFailure("the units serve no routing table for \(Sale.contract)")
        }
        let concert = "failover-share-\(String(Int(Date().timeIntervalSince1970), radix: 36))"
        let seatsPerRow = 100
        let rows = (shareSales + seatsPerRow - 1) / seatsPerRow
        try await client.openBenchmarkConcert(concert, name: "Share \(concert)", rows: rows, seatsPerRow: seatsPerRow, at: urls[0])
        let labels = (0..<shareSales).map { "\(BoxOfficeRules.rowLabel($0 / seatsPerRow))-\($0 % seatsPerRow + 1)" }
        let timeout = Duration.seconds(timeoutS)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, label) in labels.enumerated() {
                if index >= 16 { try await group.next() }
                group.addTask {
                    let owner = routing.target(concert: concert, seat: label) ?? urls[0]
                    let hold = try await Self.reserve(concert: concert, seat: label, buyer: "share-\(index)", at: owner, client: client, timeout: timeout)
                    let bought = try await client.post("/concerts/\(concert)/seats/\(label)/purchase", ["hold": hold, "buyer": "share-\(index)"], at: owner)
                    guard bought.status == 201 else { throw DemoFailure("buying seat \(label) of \(concert) at \(owner): HTTP \(bought.status)") }
                }
            }
            try await group.waitForAll()
        }
        // Every sale on its owner and each backup: the units' counts add up to that.
        let copies = shareSales * (1 + min(backups, ids.count - 1))
        let deadline = ContinuousClock.now + .seconds(timeoutS)
        var held: [Int] = []
        while true {
            held = []
            for url in urls { held.append(try await Self.saleEntities(at: url, client: client)) }
            // Sales of earlier runs on the same tables are not on this pipeline's topics.
            if held.reduce(0, +) == copies { break }
            guard ContinuousClock.now < deadline else { throw DemoFailure("the units keep \(held) sales after \(timeoutS) s; expected \(copies) copies of \(shareSales) sales in all") }
            try await Task.sleep(for: .milliseconds(200))
        }
        let rss = ids.compactMap { processes.pid($0) }.map(Self.residentMiB)
        print("partitioned_units=\(ids.count)")
        print("partitioned_entity_share=\(String(format: "%.3f", Double(held.max() ?? 0) / Double(shareSales)))")
        print("partitioned_rss_mb=\(rss.max() ?? 0)")
        FileHandle.standardError.write(Data("failover: \(shareSales) sales kept by the units as \(held) (owner and \(backups) backup(s) each); resident memory \(rss) MiB\n".utf8))
    }

    /// `pumphouse_unit_cache_entities` for the sales, from a unit's /metrics.
    static func saleEntities(at url: String, client: BoxOfficeClient) async throws -> Int {
        let reply = try await client.get("/metrics", at: url)
        for line in String(decoding: reply.body, as: UTF8.self).split(separator: "\n") where line.hasPrefix("pumphouse_unit_cache_entities{") && line.contains("cache=\"\(Sale.contract)\"") {
            if let value = line.split(separator: " ").last.flatMap({ Double($0) }) { return Int(value) }
        }
        throw DemoFailure("\(url)/metrics has no pumphouse_unit_cache_entities for \(Sale.contract)")
    }

    /// A process's resident memory in MiB (VmRSS), 0 if it cannot be read.
    static func residentMiB(_ pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kib = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
        else { return 0 }
        return kib / 1024
    }

    /// The first free seat label of `concert` (26 rows of 100) whose sale falls in `partition`.
    static func seat(in partition: Int32, of concert: String, routing: RoutingTable, skipping used: Set<String>) -> String? {
        for row in 0..<26 {
            for number in 1...100 {
                let label = "\(BoxOfficeRules.rowLabel(row))-\(number)"
                if !used.contains(label), routing.route(ofKey: Seat.key(concert: concert, seat: label))?.partition == partition { return label }
            }
        }
        return nil
    }

    private static func reserve(concert: String, seat: String, buyer: String, at url: String, client: BoxOfficeClient, timeout: Duration) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while true {
            // The concert reaches each unit through the log: retry until this one has it.
            let reply = try await client.post("/concerts/\(concert)/seats/\(seat)/reserve", ["buyer": buyer], at: url)
            if reply.status == 201 || reply.status == 200, let hold = reply.json?["hold"] as? String { return hold }
            guard reply.status == 404 || reply.status == 503 || reply.status == 421, ContinuousClock.now < deadline else {
                throw DemoFailure("reserving seat \(seat) at \(url): HTTP \(reply.status) \(String(decoding: reply.body.prefix(300), as: UTF8.self))")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Sends the purchase to the survivors in turn until one is answered 201; returns
    /// the order and when the answer came.
    private func purchase(
        concert: String, seat: String, hold: String, buyer: String, survivors: [String], since killed: ContinuousClock.Instant, client: BoxOfficeClient
    ) async throws -> (id: String, at: ContinuousClock.Instant) {
        var attempt = 0
        var last = "no answer"
        var answers: [String: Int] = [:]
        defer {
            let seen = answers.sorted { $0.key < $1.key }.map { "\($0.value)x \($0.key)" }.joined(separator: ", ")
            FileHandle.standardError.write(Data("failover: \(attempt) attempt(s) to buy seat \(seat): \(seen)\n".utf8))
        }
        while ContinuousClock.now - killed < .seconds(timeoutS) {
            let url = survivors[attempt % survivors.count]
            attempt += 1
            do {
                let sent = ContinuousClock.now
                let reply = try await client.post("/concerts/\(concert)/seats/\(seat)/purchase", ["hold": hold, "buyer": buyer], at: url)
                answers["HTTP \(reply.status)\(ContinuousClock.now - sent > .seconds(1) ? " after > 1 s" : "")", default: 0] += 1
                if reply.status == 201 {
                    let answered = ContinuousClock.now
                    guard let order = reply.json?["order"] as? String else { throw DemoFailure("a sale answered 201 at \(url) names no order") }
                    return (order, answered)
                }
                // 421 and 503 are the expected answers while ownership moves; anything
                // else is a failure of the run.
                guard reply.status == 421 || reply.status == 503 else {
                    throw DemoFailure("purchasing seat \(seat) at \(url) after the kill: HTTP \(reply.status) \(String(decoding: reply.body.prefix(300), as: UTF8.self))")
                }
                last = "HTTP \(reply.status)"
            } catch let error as DemoFailure {
                throw error
            } catch {
                last = "\(error)"
                answers["\(type(of: error))", default: 0] += 1
            }
            try await Task.sleep(for: .milliseconds(attemptMs))
        }
        throw DemoFailure("no survivor sold seat \(seat) within \(timeoutS) s of the kill; last answer: \(last)")
    }

    /// The `p`-th percentile (nearest rank) of sorted `values`.
    static func percentile(_ values: [Duration], _ p: Int) -> Duration {
        guard !values.isEmpty else { return .zero }
        let rank = Int((Double(p) / 100 * Double(values.count)).rounded(.up))
        return values[min(values.count, max(1, rank)) - 1]
    }

    static func milliseconds(_ duration: Duration) -> Int { Int(duration / .milliseconds(1)) }
}

import ArgumentParser
import Foundation
import Logging
import PumphouseCommandLine
import PumphouseContracts
import PumphousePipeline
import PumphousePostgres
import PumphouseReplay
import PumphouseUnit
import Synchronization
import Ticketing

/// `make demo`: three units, a writer and a reader on the local stack; an on-sale burst;
/// a full outage and rebuild through the reverse pump; then checks and a summary.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the on-sale demo on the local stack: three units, a writer and a reader; a burst of buyers; every unit killed and rebuilt; then checks. Exits 0 only if every check passed.",
        discussion: "Expects the stack up, the database migrated and the topics created (make demo does all three). It stops every process it started."
    )

    @OptionGroup var pipeline: PipelineOptions

    @Option(help: "Simulated buyers, all started at once.")
    var buyers = 4000

    @Option(help: "Rows per concert (two concerts go on sale).")
    var rows = 20

    @Option(help: "Seats per row.")
    var seatsPerRow = 50

    @Option(help: "Seats contested on purpose: two buyers, each at a unit of their own, reserve and then purchase the same seat at the same instant.")
    var contested = 100

    @Option(help: "First HTTP port of the three units (they take this port and the next two).")
    var basePort = 8081

    @Option(help: "Send buyers through this gateway (e.g. nginx with deploy/nginx/ticketing.conf) instead of to their seats' owners.")
    var grid: String?

    @Flag(help: "Send buyers to the units round-robin, so a unit forwards what another decides, instead of to their seats' owners as the units' GET /routing names them (a smart client).")
    var roundRobin = false

    @Option(help: "Directory for the units' spools and every process's log.")
    var workDirectory = ".pumphouse/demo"

    @Flag(help: "Keep the ticketing tables, the ticketing writer's offsets and the units' spools from earlier runs (by default the demo starts from empty tables). Only with a broker that kept its topics: make demo empties the in-memory broker, and offsets beyond a topic's end leave units loading.")
    var keepData = false

    @Flag(inversion: .prefixedNo, help: "After the checks, run the same on-sale against the database-first twin (the same routes served straight from PostgreSQL) and print both side by side.")
    var twin = true

    @Option(help: "The twin's PostgreSQL connections in all, split over its processes.")
    var twinPool = 8

    @Option(help: "Seconds each wait (units ready, rebuild, writer drained) may take before the demo fails.")
    var timeoutS = 180

    func validate() throws {
        guard buyers > 0, buyers <= 200_000 else { throw ValidationError("--buyers must be between 1 and 200000") }
        guard (1...26).contains(rows) else { throw ValidationError("--rows must be between 1 and 26") }
        guard (1...500).contains(seatsPerRow) else { throw ValidationError("--seats-per-row must be between 1 and 500") }
        guard contested >= 0, contested <= rows * seatsPerRow else { throw ValidationError("--contested must be between 0 and the seats of one concert (\(rows * seatsPerRow))") }
        guard (1...65533).contains(basePort) else { throw ValidationError("--base-port must leave room for three ports below 65536") }
        guard (1...86_400).contains(timeoutS) else { throw ValidationError("--timeout-s must be from 1 to 86400 seconds, not \(timeoutS)") }
        guard (1...256).contains(twinPool) else { throw ValidationError("--twin-pool must be between 1 and 256, not \(twinPool)") }
    }

    func run() async throws {
        let configuration = try pipeline.load()
        let binaries = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let work = URL(fileURLWithPath: workDirectory)
        let processes = try DemoProcesses(binaries: binaries, logs: work.appendingPathComponent("logs"))
        let units = (0..<3).map { "demo-unit-\($0 + 1)" }
        let urls = (0..<3).map { "http://127.0.0.1:\(basePort + $0)" }
        let client = BoxOfficeClient(targets: grid.map { [$0] } ?? urls, adminToken: processes.adminToken)
        var report = DemoReport()
        // Interrupted, the demo still stops what it started.
        let interrupted = [SIGINT, SIGTERM].map { signal in
            Foundation.signal(signal, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signal, queue: .global())
            source.setEventHandler {
                Task {
                    await processes.stopAll(grace: .seconds(5))
                    Foundation.exit(130)
                }
            }
            source.resume()
            return source
        }
        defer { interrupted.forEach { $0.cancel() } }
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
        report.print(logs: work.appendingPathComponent("logs").path)
        if !report.failures.isEmpty { throw ExitCode(1) }
    }

    private func demo(_ configuration: PipelineConfiguration, _ processes: DemoProcesses, _ units: [String], _ urls: [String], _ client: BoxOfficeClient, _ report: inout DemoReport) async throws {
        let config = pipeline.config
        let logger = Logger(label: "ticketing.demo")
        if !keepData {
            step("starting from empty ticketing tables and spools")
            try await Self.forget(configuration, logger: logger)
            try? FileManager.default.removeItem(atPath: "\(workDirectory)/spool")
        }
        step("starting the ticketing writer, a data reader and three units")
        try processes.start("writer", "pumphouse", ["writer", "--config", config, "--writer", "ticketing"])
        try processes.start("reader", "pumphouse", ["reader", "--config", config])
        func startUnits() throws {
            for (index, id) in units.enumerated() {
                try processes.startUnit(id, config: config, port: basePort + index, spoolDirectory: "\(workDirectory)/spool")
            }
        }
        try startUnits()
        try await processes.awaitReady(units, at: urls, client: client, timeout: .seconds(timeoutS), what: "the units to load their caches")
        let routing = try await client.settledSaleRouting(urls, timeout: .seconds(timeoutS))
        report.routing = routing?.lines ?? []

        // Two concerts with fresh ids, so runs on the same database never mix.
        let run = String(Int(Date().timeIntervalSince1970), radix: 36)
        let concerts = ["\(run)-a", "\(run)-b"]
        let sampler = WriteBehindSampler(configuration: configuration, concerts: concerts, logger: logger)
        let sampling = Task { await sampler.run() }
        let burst = try await onSale(client, urls, concerts: concerts, servers: ("unit", "units"), routing: grid == nil && !roundRobin ? routing : nil)
        report.units = burst
        report.contestedSeats = contested
        let result = burst.outcome
        let labels = burst.labels
        if let error = result.errors.first { report.failures.append("\(result.errors.count) buyer request(s) failed unexpectedly, e.g. \(error)") }

        // What the units measured, before the outage resets their counters; kept in the
        // work directory too, where `deploy/check --metrics` finds what the binaries
        // export (the names the dashboard and the autoscalers query).
        let dumps = URL(fileURLWithPath: workDirectory).appendingPathComponent("metrics")
        try FileManager.default.createDirectory(at: dumps, withIntermediateDirectories: true)
        for (url, unit) in zip(urls, units) {
            let metrics = try await client.get("/metrics", at: url)
            report.unitMetrics.add(String(decoding: metrics.body, as: UTF8.self))
            try Data(metrics.body).write(to: dumps.appendingPathComponent("unit-\(unit).prom"))
        }
        report.check("the units' metrics show one owner and its backups for every partition", ownershipMetricsProblem(configuration, report.unitMetrics, units: units.count))

        // A won sale's follow-up (its concert's counter) runs in the selling unit when the
        // log decides the sale; killing a unit before that would lose it (docs/ticketing.md).
        _ = try await until("every unit's creates to be decided by the log (GET /admin/undecided)") { () async throws -> Bool? in
            for url in urls {
                let reply = try await client.get("/admin/undecided", at: url)
                guard reply.status == 200, let creates = reply.json?["creates"] as? Int else {
                    throw DemoFailure("GET /admin/undecided at \(url): HTTP \(reply.status)")
                }
                if creates > 0 { return nil }
            }
            return true
        }
        step("full outage: every unit killed with SIGKILL while the writer catches up; then restarted")
        await processes.kill(units)
        sampling.cancel()
        await sampling.value
        report.writeBehindSamples = sampler.samples()
        let restarted = ContinuousClock.now
        try startUnits()
        try await processes.awaitReady(units, at: urls, client: client, timeout: .seconds(timeoutS), what: "the restarted units to rebuild their caches")
        report.rebuild = ContinuousClock.now - restarted

        step("checks: no seat sold twice; units, database and a replay of the topics agree")
        try await DemoChecks(configuration: configuration, concerts: concerts, client: client, urls: urls, timeout: .seconds(timeoutS), logger: logger)
            .run(orders: result.orders, unconfirmed: result.unconfirmed, contested: labels[concerts[0]]!.prefix(contested).map { "\(concerts[0])/\($0)" }, report: &report)
        let writerMetrics = try? await client.get("/metrics", at: "http://127.0.0.1:\(configuration.writer(named: "ticketing")?.httpPort ?? 9303)")
        if let port = configuration.reader.httpPort, let readerMetrics = try? await client.get("/metrics", at: "http://127.0.0.1:\(port)"), readerMetrics.status == 200 {
            try Data(readerMetrics.body).write(to: dumps.appendingPathComponent("reader.prom"))
        }
        if let writerMetrics {
            try Data(writerMetrics.body).write(to: dumps.appendingPathComponent("writer.prom"))
            let metrics = String(decoding: writerMetrics.body, as: UTF8.self)
            report.deadLetters = PrometheusText.sum("pumphouse_writer_dead_lettered_total", in: metrics, excluding: [#"reason="stale-claim""#])
            report.staleClaims = PrometheusText.sum("pumphouse_writer_dead_lettered_total", in: metrics) - report.deadLetters
            report.check("the writer dead-lettered nothing", report.deadLetters == 0 ? nil : "\(report.deadLetters) dead letter(s); see \(processes.logPath("writer"))")
        } else {
            report.check("the writer dead-lettered nothing", "the writer's /metrics did not answer, so its dead letters are unknown")
        }
        if twin { try await twinOnSale(configuration, processes, units, logger: logger, report: &report) }
    }

    /// What the units' /metrics, added up, should say of the partitioned caches once
    /// ownership has settled: each partition owned by one unit and followed by its
    /// backups. nil if they say it.
    private func ownershipMetricsProblem(_ configuration: PipelineConfiguration, _ metrics: PrometheusText, units: Int) -> String? {
        // The ticketing units' caches only: the pipeline file may declare other samples'.
        let ticketing = [Concert.contract, Seat.contract, Sale.contract]
        let partitioned = configuration.caches.filter { cache in cache.mode.isPartitioned && ticketing.contains(cache.contract) }
        let partitions = partitioned.reduce(0) { $0 + $1.partitions }
        let backups = partitioned.reduce(0) { $0 + $1.partitions * min($1.mode.backups ?? 0, units - 1) }
        let owners = Int(metrics.sum("pumphouse_unit_partition_owner"))
        let owned = Int(metrics.sum("pumphouse_unit_owned_partitions"))
        let following = Int(metrics.sum("pumphouse_unit_partition_backup"))
        guard owners == partitions, owned == partitions, following == backups else {
            return "expected \(partitions) partition(s) owned and \(backups) backed up; the units report pumphouse_unit_partition_owner \(owners), pumphouse_unit_owned_partitions \(owned), pumphouse_unit_partition_backup \(following)"
        }
        return nil
    }

    /// The same on-sale against the database-first twin (docs/benchmarks.md): as many
    /// HTTP server processes as units, the same routes, the same buyers, answered
    /// straight from PostgreSQL, so the summary shows the two side by side. The units
    /// stop first, so the twin has the machine the units had.
    private func twinOnSale(_ configuration: PipelineConfiguration, _ processes: DemoProcesses, _ units: [String], logger: Logger, report: inout DemoReport) async throws {
        step("the same on-sale against the database-first twin: \(units.count) processes serving the same routes from PostgreSQL (tables \(Self.twinTables)_*), \(twinPool) connections in all")
        await processes.stop(units)
        let db = try await PostgresConnection.connect(configuration: configuration.postgres, logger: logger)
        do {
            for table in ["concert", "seat", "sale"] {
                try await db.query("CREATE TABLE IF NOT EXISTS \(Self.twinTables)_\(table) (LIKE ticketing_\(table) INCLUDING ALL)")
            }
            try await db.query("TRUNCATE \(Self.twinTables)_concert, \(Self.twinTables)_seat, \(Self.twinTables)_sale")
        } catch {
            await db.close()
            throw DemoFailure("laying out the twin's tables failed: \(error)")
        }
        let urls = (0..<units.count).map { "http://127.0.0.1:\(basePort + $0)" }
        let client = BoxOfficeClient(targets: urls)
        let perServer = (twinPool + units.count - 1) / units.count
        do {
            for (index, url) in urls.enumerated() {
                let name = "twin-\(index + 1)"
                // The database's URL reaches the twin in its environment, never on its command line.
                try processes.start(name, "ticketing", [
                    "twin", "--http-port", "\(basePort + index)", "--http-host", "127.0.0.1", "--tables", Self.twinTables,
                    "--pool", "\(perServer)", "--id", name,
                ], environment: ["PUMPHOUSE_POSTGRES_URL": configuration.postgres.url])
                _ = try await until("\(name) to answer at \(url)") { () async throws -> Bool? in
                    if let status = processes.exited(name) { throw DemoFailure("\(name) exited with status \(status); see \(processes.logPath(name))") }
                    return (try? await client.get("/healthz", at: url))?.status == 200 ? true : nil
                }
            }
        } catch {
            await client.shutdown()
            await db.close()
            throw error
        }
        let run = String(Int(Date().timeIntervalSince1970), radix: 36)
        do {
            let burst = try await onSale(client, urls, concerts: ["\(run)-twin-a", "\(run)-twin-b"], servers: ("twin process", "twin processes"))
            report.twin = burst
            if let error = burst.outcome.errors.first { report.failures.append("\(burst.outcome.errors.count) request(s) to the twin failed unexpectedly, e.g. \(error)") }
            // What the buyers were told, against the twin's table read in plain SQL (its
            // seat key alone cannot hold two sales, so the buyers' side is the check).
            report.check("the twin confirmed no seat to two buyers (\(burst.outcome.orders.count) orders)", DemoChecks.seatsConfirmedTwice(burst.outcome.orders))
            let sold = DemoChecks.sales(try await db.query("SELECT seat, order_id FROM \(Self.twinTables)_sale").rows)
            report.check("every order the twin confirmed is its seat's sale in its table (\(sold.count) sales)", DemoChecks.ordersNotSold(burst.outcome.orders, sold))
        } catch {
            await client.shutdown()
            await db.close()
            throw error
        }
        await client.shutdown()
        await db.close()
    }

    /// One on-sale against `urls`: two concerts opened, every seat shown by every server,
    /// the contested seats (two buyers, each at a server of their own, at once), then
    /// every buyer at once.
    /// `routing`: buyers go to their seats' owners; nil: round-robin (or the gateway).
    private func onSale(_ client: BoxOfficeClient, _ urls: [String], concerts: [String], servers: (one: String, many: String), routing: SaleRouting? = nil) async throws -> DemoReport.Burst {
        for (index, id) in concerts.enumerated() {
            let opened = try await client.post("/concerts", [
                "id": id, "name": index == 0 ? "The Pumps: Reunion" : "Write-Behind Orchestra", "venue": "Harbour Hall",
                "startsAt": Int64(Date().timeIntervalSince1970 * 1000) + 86_400_000, "price": 4500 + 1000 * index,
                "rows": rows, "seatsPerRow": seatsPerRow,
            ], at: urls[0])
            guard opened.status == 201 else { throw DemoFailure("opening concert \(id): HTTP \(opened.status) \(String(decoding: opened.body, as: UTF8.self))") }
        }
        let seatCount = rows * seatsPerRow
        var labels: [String: [String]] = [:]
        for id in concerts {
            labels[id] = try await until("every \(servers.one) to show \(seatCount) seats of \(id)") { () async throws -> [String]? in
                var seen: [String]?
                for url in urls {
                    let map = try await client.get("/concerts/\(id)/seats", at: url)
                    guard map.status == 200, let seats = (try? JSONSerialization.jsonObject(with: Data(map.body))) as? [[String: Any]], seats.count == seatCount else { return nil }
                    seen = seats.compactMap { $0["seat"] as? String }
                }
                return seen
            }
        }
        _ = client.takeLatencies()

        step("on-sale: \(contested) seats contested by two \(servers.many) at once, then \(buyers) buyers at once, \(routing == nil ? "round-robin" : "each at its seat's owner as GET /routing names it")")
        let onSale = OnSale(client: client, seats: labels, routing: routing)
        let outcome = OnSale.Tally()
        let started = ContinuousClock.now
        var contestedWins: [String: Int] = [:]
        try await withThrowingTaskGroup(of: (String, Bool).self) { group in
            for label in labels[concerts[0]]!.prefix(contested) {
                for (side, url) in [(0, urls[0]), (1, urls[1 % urls.count])] {
                    group.addTask {
                        let order = try await onSale.attempt(concert: concerts[0], seat: label, buyer: "contender-\(side)-\(label)", outcome: outcome, units: (url, url))
                        if let order { outcome.withLock { $0.orders.append(order) } }
                        return (label, order != nil)
                    }
                }
            }
            for try await (label, won) in group where won { contestedWins[label, default: 0] += 1 }
        }
        let total = buyers
        let progress = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(500))
                let now = outcome.withLock { $0 }
                let seconds = (ContinuousClock.now - started) / .seconds(1)
                FileHandle.standardError.write(Data("\r  buyers done \(now.buyersDone)/\(total), orders \(now.orders.count), taken \(now.conflicts), \(Int(Double(now.requests) / max(seconds, 0.001))) req/s   ".utf8))
            }
        }
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<buyers {
                group.addTask { await onSale.buyer("buyer-\(index)", outcome: outcome) }
            }
        }
        progress.cancel()
        FileHandle.standardError.write(Data("\n".utf8))
        return DemoReport.Burst(
            labels: labels, outcome: outcome.withLock { $0 }, duration: ContinuousClock.now - started,
            latencies: client.takeLatencies(), contestedWins: contestedWins
        )
    }

    /// The twin's tables, shaped like the sample's and apart from them.
    static let twinTables = "demo_twin"

    /// Empties the sample's tables and what the pipeline remembers about its topics (the
    /// writer's offsets and sequences, recorded loads): stored offsets that the broker's
    /// topics never reached would leave units waiting for changes that do not exist.
    static func forget(_ configuration: PipelineConfiguration, logger: Logger) async throws {
        let topics = [Concert.contract, Seat.contract, Sale.contract].compactMap { configuration.cache($0)?.topic }
        try await DemoSupport.forget(tables: ["ticketing_concert", "ticketing_seat", "ticketing_sale"], topics: topics, configuration: configuration, logger: logger)
    }

    private func until<T>(_ what: String, _ probe: () async throws -> T?) async throws -> T {
        try await DemoSupport.until(what, timeout: .seconds(timeoutS), probe)
    }

    private func step(_ text: String) { DemoSupport.step("demo", text) }
}

import ArgumentParser
import Foundation
import Logging
import PumphouseCommandLine
import PumphouseContracts
import PumphousePipeline
import Synchronization
import Ticketing

/// `ticketing rebalance`: online rebalancing under load (docs/benchmarks.md). Buyers
/// arrive at a fixed rate while a unit joins and, once it owns its share, one of the
/// first units leaves gracefully; what a buyer sees (latency, retries, failures) is
/// reported apart for the steady part, the join's handover and the leave's.
struct RebalanceBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebalance",
        abstract: "Offer an on-sale at a fixed rate while a unit joins, another leaves and (optionally) one is killed; print what buyers saw in each part, as key=value lines.",
        discussion: """
            Starts --units ticketing units (this executable's `unit`, at ports from --base-port) on the pipeline file, which must declare ticketing.Sale partitioned, waits until they serve one settled routing table, and opens the seats. Buyers then arrive open-loop for --seconds, half of --rate a second, each reserving its own seat and purchasing it --think-ms later, every request to the live units in turn (a unit that does not decide a seat forwards it to its owner). A request answered 421 or 503, or not answered, is sent again to the next live unit every 50 ms for up to --retry-s; its latency runs from when it was due to its last answer. At --join-at seconds one more unit starts; the time until every live unit serves a settled table with it is the join's handover. Then (at --leave-at seconds, or once the join has settled if that is later) the first unit gets SIGTERM and hands its partitions over before it exits; the time until the others serve a settled table without it is the leave's. With --earlier-binaries, the first units run an earlier build, so the run is a step of a rolling upgrade. With --kill-at, the second unit is then killed with SIGKILL (a failover under load: the others wait out the member timeout), and the failover lasts until the rest serve a settled table without it. At the end PostgreSQL must hold every sale answered 201 and equal a fold of the topics.
            """
    )

    @OptionGroup var pipeline: PipelineOptions

    @Option(help: "Units serving before the join (one more joins, then the first leaves).")
    var units = 2

    @Option(help: "Offered requests/s (two per buyer: reserve and purchase).")
    var rate = 200

    @Option(help: "Seconds buyers arrive for.")
    var seconds = 30

    @Option(help: "Seconds into the load when the new unit starts.")
    var joinAt = 8

    @Option(help: "Seconds into the load when the first unit is told to leave (SIGTERM), or once the join has settled if that is later.")
    var leaveAt = 18

    @Option(help: "Seconds into the load when one of the units left is killed (SIGKILL), or once the leave has settled if that is later; none if not given.")
    var killAt: Int?

    @Option(help: "Milliseconds between a buyer's reserve and purchase.")
    var thinkMs = 20

    @Option(help: "Seconds a buyer keeps retrying a request answered 421 or 503, or not answered, before it counts as failed.")
    var retryS = 10

    @Option(help: "A directory holding an earlier build's `ticketing`: the first units run it and the joiner this one, so the join and the leave are a step of a rolling upgrade, two versions serving together.")
    var earlierBinaries: String?

    @Option(help: "The first unit's HTTP port; the others follow it.")
    var basePort = 9491

    @Option(help: "Directory for the units' spools and logs.")
    var workDirectory = ".pumphouse/rebalance"

    @Option(help: "Seconds any one wait may take (units ready, a settled routing table, the write-behind) before the run fails.")
    var timeoutS = 120

    func validate() throws {
        guard (1...15).contains(units) else { throw ValidationError("--units must be between 1 and 15, not \(units)") }
        guard (2...100_000).contains(rate) else { throw ValidationError("--rate must be between 2 and 100000 requests/s, not \(rate)") }
        guard (1...600).contains(seconds) else { throw ValidationError("--seconds must be between 1 and 600, not \(seconds)") }
        guard 0 <= joinAt, joinAt < leaveAt, leaveAt < seconds else {
            throw ValidationError("--join-at (\(joinAt)) must come before --leave-at (\(leaveAt)), and both within --seconds (\(seconds))")
        }
        if killAt != nil, units < 2 { throw ValidationError("--kill-at needs --units 2 or more: a unit must be left to take over") }
        if let killAt, !(leaveAt < killAt && killAt < seconds) {
            throw ValidationError("--kill-at (\(killAt)) must come after --leave-at (\(leaveAt)) and within --seconds (\(seconds))")
        }
        guard (0...60_000).contains(thinkMs) else { throw ValidationError("--think-ms must be between 0 and 60000, not \(thinkMs)") }
        guard (1...600).contains(retryS) else { throw ValidationError("--retry-s must be between 1 and 600, not \(retryS)") }
        guard (1...(65535 - units)).contains(basePort) else { throw ValidationError("--base-port must leave room for \(units + 1) ports below 65536") }
        guard (1...86_400).contains(timeoutS) else { throw ValidationError("--timeout-s must be from 1 to 86400 seconds, not \(timeoutS)") }
    }

    func run() async throws {
        let configuration = try pipeline.load()
        guard let sales = configuration.cache(Sale.contract), sales.mode.isPartitioned else {
            throw UsageError("\(pipeline.config) must declare \(Sale.contract) with mode: partitioned: rebalancing moves a partition's ownership")
        }
        let fleet = try BenchUnits(config: pipeline.config, basePort: basePort, workDirectory: workDirectory)
        let processes = fleet.processes
        // The last is the one that joins.
        let ids = (0...units).map { "rebalance-unit-\($0)" }
        let urls = ids.indices.map(fleet.url)
        let client = BoxOfficeClient(targets: urls, connectionsPerUnit: 256, timeout: .seconds(10), adminToken: processes.adminToken)
        let logger = Logger(label: "ticketing.rebalance")
        let timeout = Duration.seconds(timeoutS)
        do {
            try await fleet.prepare(urls, client: client)
            let first = Array(urls.prefix(units))
            let earlier = earlierBinaries.map { URL(fileURLWithPath: $0, isDirectory: true) }
            for index in 0..<units { try fleet.start(index, id: ids[index], from: earlier) }
            try await processes.awaitReady(Array(ids.prefix(units)), at: first, client: client, timeout: timeout, what: "the units to be ready")
            guard let routing = try await client.settledSaleRouting(first, timeout: timeout) else {
                throw DemoFailure("the units serve no routing table for \(Sale.contract)")
            }
            FileHandle.standardError.write(Data("rebalance: before the join \(routing.lines.joined(separator: ", "))\n".utf8))
            let schedule = OpenLoopSchedule(rate: Double(rate) / 2, duration: .seconds(seconds))
            let run = String(Int(Date().timeIntervalSince1970), radix: 36)
            let concerts = try await client.openBenchmarkConcerts(run: "rebalance-\(run)", buyers: schedule.count, openAt: [first[0]], visibleAt: first, timeout: timeout)
            _ = client.takeLatencies()

            let live = LiveUnits(first)
            let tally = Tally()
            let start = ContinuousClock.now + .milliseconds(50)
            async let moves = move(ids: ids, urls: urls, live: live, start: start, fleet: fleet, client: client)
            let think = Duration.milliseconds(thinkMs)
            let retry = Duration.seconds(retryS)
            await schedule.launch(from: start) { index, due in
                let seat = OnSaleBenchCommand.seat(index, of: concerts)
                await Self.buyer(index, concert: seat.concert, seat: seat.label, due: due, start: start, think: think, retry: retry, live: live, client: client, tally: tally)
            }
            let moved = try await moves
            await processes.stopAll()
            let seen = tally.snapshot()
            report(seen, moved, offered: schedule.count * 2)
            try await DemoChecks.ordersStand(seen.orders, concerts: concerts, configuration: configuration, config: pipeline.config, label: "rebalance", timeout: timeout, logger: logger)
        } catch {
            await processes.stopAll()
            await client.shutdown()
            throw error
        }
        await client.shutdown()
    }

    /// When the join, the leave and the kill happened, from the load's start.
    struct Moves {
        /// The joiner started; every live unit served a settled table with it.
        var joinStarted: Duration
        var joinSettled: Duration
        /// SIGTERM to the leaver; the others served a settled table without it; it exited.
        var leaveStarted: Duration
        var leaveExited: Duration
        var leaveSettled: Duration
        /// SIGKILL to a unit; the others served a settled table without it (nil: no kill).
        var kill: (started: Duration, settled: Duration)?
    }

    /// The join, then the leave, then the kill if asked for, as the load runs. The joiner
    /// takes requests once it is ready; the leaver and the killed unit take none from the
    /// moment they are told to go (as a load balancer drains a node), and the leaver gets
    /// SIGKILL if it has not exited within `timeoutS`.
    private func move(ids: [String], urls: [String], live: LiveUnits, start: ContinuousClock.Instant, fleet: BenchUnits, client: BoxOfficeClient) async throws -> Moves {
        let processes = fleet.processes
        let timeout = Duration.seconds(timeoutS)
        let joiner = ids.count - 1
        try await Task.sleep(until: start + .seconds(joinAt), tolerance: .milliseconds(1))
        let joinStarted = ContinuousClock.now - start
        try fleet.start(joiner, id: ids[joiner])
        try await processes.awaitReady([ids[joiner]], at: [urls[joiner]], client: client, timeout: timeout, what: "the joining unit to be ready")
        let withJoiner = live.adding(urls[joiner])
        let joined = try await client.settledSaleRouting(withJoiner, timeout: timeout)
        let joinSettled = ContinuousClock.now - start
        FileHandle.standardError.write(Data("rebalance: \(ids[joiner]) joined; settled \(Self.milliseconds(joinSettled - joinStarted)) ms after it started: \(joined?.lines.joined(separator: ", ") ?? "")\n".utf8))

        try await Task.sleep(until: max(start + .seconds(leaveAt), ContinuousClock.now), tolerance: .milliseconds(1))
        let leaveStarted = ContinuousClock.now - start
        let rest = live.removing(urls[0])
        // Timed apart: the others may settle before the leaver's process has exited.
        async let exited = Self.stop(ids[0], processes, grace: timeout, since: start)
        let left = try await client.settledSaleRouting(rest, timeout: timeout)
        let leaveSettled = ContinuousClock.now - start
        let leaveExited = await exited
        FileHandle.standardError.write(Data("rebalance: \(ids[0]) told to leave; the others settled \(Self.milliseconds(leaveSettled - leaveStarted)) ms later, its process exited after \(Self.milliseconds(leaveExited - leaveStarted)) ms: \(left?.lines.joined(separator: ", ") ?? "")\n".utf8))
        var moves = Moves(joinStarted: joinStarted, joinSettled: joinSettled, leaveStarted: leaveStarted, leaveExited: leaveExited, leaveSettled: leaveSettled)
        guard let killAt else { return moves }

        // A failover under load: the survivors wait out the member timeout, then claim.
        try await Task.sleep(until: max(start + .seconds(killAt), ContinuousClock.now), tolerance: .milliseconds(1))
        let killStarted = ContinuousClock.now - start
        await processes.kill([ids[1]])
        let survivors = live.removing(urls[1])
        let failedOver = try await client.settledSaleRouting(survivors, timeout: timeout)
        let killSettled = ContinuousClock.now - start
        FileHandle.standardError.write(Data("rebalance: \(ids[1]) killed; the others settled \(Self.milliseconds(killSettled - killStarted)) ms later: \(failedOver?.lines.joined(separator: ", ") ?? "")\n".utf8))
        moves.kill = (killStarted, killSettled)
        return moves
    }

    /// Stops `name` (SIGTERM, SIGKILL after `grace`); returns when it had gone, from `start`.
    private static func stop(_ name: String, _ processes: DemoProcesses, grace: Duration, since start: ContinuousClock.Instant) async -> Duration {
        await processes.stop([name], grace: grace)
        return ContinuousClock.now - start
    }

    /// A buyer: reserve when due, purchase `think` later (or once the reserve is
    /// answered, if that is later), each retried as a client of a moving grid would.
    private static func buyer(
        _ index: Int, concert: String, seat: String, due: ContinuousClock.Instant, start: ContinuousClock.Instant, think: Duration, retry: Duration,
        live: LiveUnits, client: BoxOfficeClient, tally: Tally
    ) async {
        let path = "/concerts/\(concert)/seats/\(seat)"
        let buyer = "rebalance-buyer-\(index)"
        let reserved = await request("\(path)/reserve", ["buyer": buyer], first: index, due: due, retry: retry, live: live, client: client)
        tally.record(reserved, due: due, start: start, what: "reserve \(path)")
        guard [200, 201].contains(reserved.reply?.status), let hold = reserved.reply?.json?["hold"] as? String else {
            tally.unsent()  // the purchase never sent fails too
            return
        }
        let purchaseDue = due + think
        if ContinuousClock.now < purchaseDue { try? await Task.sleep(until: purchaseDue, tolerance: .microseconds(200)) }
        let bought = await request("\(path)/purchase", ["hold": hold, "buyer": buyer], first: index + 1, due: purchaseDue, retry: retry, live: live, client: client)
        tally.record(bought, due: purchaseDue, start: start, what: "purchase \(path)")
        if bought.reply?.status == 201, let order = bought.reply?.json?["order"] as? String {
            tally.sold(OnSale.Order(seat: Seat.key(concert: concert, seat: seat), order: order, buyer: buyer))
        }
    }

    /// What a request got: its last answer (nil if none came), how often it was sent,
    /// when it ended, and the last transport error if the last attempt had one.
    struct Sent {
        var reply: BoxOfficeClient.Reply?
        var attempts: Int
        var answered: ContinuousClock.Instant
        var failure: String?
    }

    /// One request as a retrying client sends it: to the live units in turn from
    /// `first`, again every 50 ms while it is answered 421 or 503 (ownership moving, a
    /// sale not yet confirmed: the same buyer's retry is answered with the sale) or not
    /// answered (a unit going away), until `retry` after it was due.
    private static func request(
        _ path: String, _ body: [String: Any], first: Int, due: ContinuousClock.Instant, retry: Duration, live: LiveUnits, client: BoxOfficeClient
    ) async -> Sent {
        var attempts = 0
        var failure: String?
        var last: BoxOfficeClient.Reply?
        while true {
            let url = live.unit(first + attempts)
            attempts += 1
            do {
                let reply = try await client.post(path, body, at: url)
                guard reply.status == 421 || reply.status == 503 else { return Sent(reply: reply, attempts: attempts, answered: .now) }
                last = reply
                failure = nil
            } catch {
                failure = "\(url): \(error)"
            }
            guard ContinuousClock.now < due + retry else { return Sent(reply: last, attempts: attempts, answered: .now, failure: failure) }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    /// The units buyers send requests to, as units join and leave.
    final class LiveUnits: Sendable {
        private let urls: Mutex<[String]>

        init(_ urls: [String]) {
            self.urls = Mutex(urls)
        }

        /// The `turn`-th of the live units, round and round.
        func unit(_ turn: Int) -> String { urls.withLock { $0[turn % $0.count] } }

        /// Adds `url`; returns the live units.
        func adding(_ url: String) -> [String] {
            urls.withLock { urls in
                urls.append(url)
                return urls
            }
        }

        /// Takes `url` out; returns the live units.
        func removing(_ url: String) -> [String] {
            urls.withLock { urls in
                urls.removeAll { $0.isSameBytes(as: url) }
                return urls
            }
        }
    }

    /// Every request's outcome, shared by the buyers.
    final class Tally: Sendable {
        struct Request: Sendable {
            /// When it was due, from the load's start.
            var due: Duration
            var latency: Duration
            var attempts: Int
            var ok: Bool
        }

        struct Seen: Sendable {
            var requests: [Request] = []
            var orders: [OnSale.Order] = []
            var failed = 0
            /// The first few failures, each with when it was due and its attempts.
            var examples: [String] = []
        }

        private let state = Mutex(Seen())

        /// Answered 200 or 201 is a success (the same buyer's retried reserve finds its
        /// own hold); anything else after the retries is a failure.
        func record(_ sent: Sent, due: ContinuousClock.Instant, start: ContinuousClock.Instant, what: String) {
            let ok = [200, 201].contains(sent.reply?.status)
            let request = Request(due: due - start, latency: sent.answered - due, attempts: sent.attempts, ok: ok)
            state.withLock { seen in
                seen.requests.append(request)
                guard !ok else { return }
                seen.failed += 1
                guard seen.examples.count < 5 else { return }
                let last = sent.failure ?? sent.reply.map { "HTTP \($0.status) \(String(decoding: $0.body.prefix(200), as: UTF8.self))" } ?? "no answer"
                seen.examples.append("\(what), due at \(RebalanceBenchCommand.milliseconds(request.due)) ms, \(sent.attempts) attempt(s) over \(RebalanceBenchCommand.milliseconds(request.latency)) ms, the last: \(last)")
            }
        }

        func unsent() { state.withLock { $0.failed += 1 } }

        func sold(_ order: OnSale.Order) { state.withLock { $0.orders.append(order) } }

        func snapshot() -> Seen { state.withLock { $0 } }
    }

    private func report(_ seen: Tally.Seen, _ moves: Moves, offered: Int) {
        print("rebalance_units=\(units)")
        print("rebalance_offered_per_s=\(rate)")
        print("rebalance_requests=\(offered)")
        print("rebalance_failed=\(seen.failed)")
        print("rebalance_retried=\(seen.requests.filter { $0.attempts > 1 }.count)")
        print("rebalance_sales=\(seen.orders.count)")
        print("rebalance_join_settled_ms=\(Self.milliseconds(moves.joinSettled - moves.joinStarted))")
        print("rebalance_leave_exit_ms=\(Self.milliseconds(moves.leaveExited - moves.leaveStarted))")
        print("rebalance_leave_settled_ms=\(Self.milliseconds(moves.leaveSettled - moves.leaveStarted))")
        // Requests by when they were due: before the join, while it settled, while the
        // leave settled, while the kill's failover settled.
        var parts: [(name: String, from: Duration, to: Duration)] = [
            ("steady", .zero, moves.joinStarted), ("join", moves.joinStarted, moves.joinSettled), ("leave", moves.leaveStarted, moves.leaveSettled),
        ]
        if let kill = moves.kill {
            print("rebalance_kill_settled_ms=\(Self.milliseconds(kill.settled - kill.started))")
            parts.append(("kill", kill.started, kill.settled))
        }
        var lines: [String] = []
        for part in parts {
            let inPart = seen.requests.filter { $0.due >= part.from && $0.due < part.to }
            let latencies = inPart.map(\.latency).sorted()
            let p50 = Self.milliseconds(FailoverBenchCommand.percentile(latencies, 50))
            let p99 = Self.milliseconds(FailoverBenchCommand.percentile(latencies, 99))
            let max = Self.milliseconds(latencies.last ?? .zero)
            let retried = inPart.filter { $0.attempts > 1 }.count
            let failed = inPart.filter { !$0.ok }.count
            print("rebalance_\(part.name)_requests=\(inPart.count)")
            print("rebalance_\(part.name)_p50_ms=\(p50)")
            print("rebalance_\(part.name)_p99_ms=\(p99)")
            print("rebalance_\(part.name)_max_ms=\(max)")
            print("rebalance_\(part.name)_retried=\(retried)")
            print("rebalance_\(part.name)_failed=\(failed)")
            lines.append("\(part.name): \(inPart.count) requests, p50 \(p50) ms, p99 \(p99) ms, max \(max) ms, \(retried) retried, \(failed) failed")
        }
        FileHandle.standardError.write(Data("rebalance: \(offered) requests offered at \(rate)/s, \(seen.failed) failed, \(seen.orders.count) sales; \(lines.joined(separator: "; "))\n".utf8))
        for example in seen.examples { FileHandle.standardError.write(Data("rebalance: failed: \(example)\n".utf8)) }
    }

    static func milliseconds(_ duration: Duration) -> Int { Int(duration / .milliseconds(1)) }
}

import ArgumentParser
import Foundation
import Histogram
import Logging
import PumphouseCommandLine
import PumphousePipeline
import PumphousePostgres
import Synchronization
import Ticketing

#if canImport(Glibc)
import Glibc
#endif

/// `ticketing onsale`: the on-sale benchmark's load generator (docs/benchmarks.md). The
/// same buyers, seats and pacing for whichever box office answers, so the units, the
/// database-first twin and the bare ceiling are compared on equal terms.
struct OnSaleBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "onsale",
        abstract: "Offer an on-sale to running box offices at open-loop rates; print the most requests/s sustained and the latency at --compare-rate as key=value lines.",
        discussion: """
            Each step opens fresh concerts with a seat for every buyer, then buyers arrive at half the offered rate: each reserves its own seat on arrival and purchases it --think-ms later, so the offered requests/s is exactly the rate. A request's latency counts from when it was due. The first step offers --compare-rate; the rate then doubles while steps are sustained (up to --max-rate) or halves while they are not (down to an eighth of it), and --refinements last steps (3 unless set) bisect between the best rate sustained and the lowest not. A step is sustained when at least 99% of the offered rate is answered, under 0.1% of requests fail (anything but 201, 409 or 410) and p99 <= 100 ms. Steps start once the units serve one settled routing table for the sales (when sales are partitioned); --route-by-owner sends each buyer to its seat's owner. With --pipeline-config (the units), it then waits for PostgreSQL to hold every sale, reports the time from the last answer to that, and compares PostgreSQL with a fold of the topics.
            """
    )

    @Option(help: "Name in the printed keys (onsale_LABEL_...).")
    var label: String

    @Option(help: "Base URLs of the box-office processes, comma-separated; requests go round-robin.")
    var targets: String

    @Option(help: "The highest offered rate tried, in requests/s.")
    var maxRate: Double = 32_000

    @Option(help: "Seconds each step offers its rate.")
    var seconds: Double = 5

    @Option(help: "The first offered rate, in requests/s, and the one whose p50/p99 are reported for every box office alike.")
    var compareRate: Double = 200

    @Option(help: "Steps that bisect between the best rate sustained and the lowest not, once both are known: each halves what is left unknown of the figure.")
    var refinements = 3

    @Option(help: "Milliseconds between a buyer's reserve and purchase.")
    var thinkMs = 20

    @Option(help: "The units' pipeline file: after the steps, wait for the write-behind and check PostgreSQL against a fold of the topics.")
    var pipelineConfig: String?

    @Flag(help: "Open each step's concerts at every process, for box offices that share nothing (bare); others share them through the log or the database.")
    var openEverywhere = false

    @Option(help: "Seconds the write-behind may take before the check fails.")
    var timeoutS = 180

    @Flag(help: "Send each buyer's requests to the unit that decides its seat's sale, as the units' GET /routing names it (a smart client); otherwise round-robin, and a unit forwards what it does not decide.")
    var routeByOwner = false

    func validate() throws {
        guard !label.isEmpty, label.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }) else {
            throw ValidationError("--label must be lowercase ASCII letters, digits or '_', not \"\(label)\"")
        }
        guard !urls.isEmpty, urls.allSatisfy({ $0.hasPrefix("http://") || $0.hasPrefix("https://") }) else {
            throw ValidationError("--targets must be comma-separated http:// URLs, not \"\(targets)\"")
        }
        guard compareRate >= 2, maxRate >= compareRate, maxRate <= 1_000_000 else {
            throw ValidationError("--compare-rate must be at least 2 requests/s, and --max-rate from --compare-rate to 1000000, not \(compareRate) and \(maxRate)")
        }
        guard seconds > 0, seconds <= 600 else { throw ValidationError("--seconds must be between 0 and 600") }
        guard (0...60_000).contains(thinkMs) else { throw ValidationError("--think-ms must be between 0 and 60000") }
        guard (1...86_400).contains(timeoutS) else { throw ValidationError("--timeout-s must be from 1 to 86400 seconds, not \(timeoutS)") }
        guard (0...10).contains(refinements) else { throw ValidationError("--refinements must be between 0 and 10, not \(refinements)") }
    }

    private var urls: [String] {
        targets.split(separator: ",").map { String($0.trimmingCharacters(in: .whitespaces)).trimmingSuffix("/") }.filter { !$0.isEmpty }
    }

    func run() async throws {
        let logger = Logger(label: "ticketing.onsale")
        let pipeline = try pipelineConfig.map { path in
            do { return try PipelineConfiguration.load(path: path) } catch { throw UsageError("\(error)") }
        }
        let client = BoxOfficeClient(targets: urls, connectionsPerUnit: 256, timeout: .seconds(10))
        let run = String(Int(Date().timeIntervalSince1970), radix: 36)
        var steps: [(step: LoadStep, cpu: Double, sales: Int)] = []
        var concerts: [String] = []
        var lastAnswer = ContinuousClock.now
        do {
            // Partitioned sales: the steps start once ownership has settled.
            let routing = try await client.settledSaleRouting(urls, timeout: .seconds(timeoutS))
            if let routing { FileHandle.standardError.write(Data("onsale \(label): routing \(routing.lines.joined(separator: ", "))\n".utf8)) }
            let router = routeByOwner ? routing : nil
            let search = RateSearch(start: compareRate, minimum: max(2, compareRate / 8), maximum: maxRate, refinements: refinements)
            var rate = search.next(after: [])
            while let offered = rate {
                let ids = try await client.openBenchmarkConcerts(
                    run: "\(run)-\(steps.count)", buyers: Self.buyers(offered: offered, seconds: seconds), openAt: openEverywhere ? urls : [urls[0]], visibleAt: urls,
                    timeout: .seconds(timeoutS)
                )
                _ = client.takeLatencies()
                concerts += ids
                let result = try await step(client, offered: offered, concerts: ids, routing: router)
                lastAnswer = result.lastAnswer
                steps.append((result.step, result.cpu, result.sales))
                let s = result.step
                FileHandle.standardError.write(Data("onsale \(label): offered \(Int(offered))/s, achieved \(Int(s.achieved))/s, \(s.requests) requests, \(s.errors) errors, p50 \(Self.format(s.p50Milliseconds)) ms, p99 \(Self.format(s.p99Milliseconds)) ms, load generator CPU \(Int(result.cpu))% of a core: \(s.sustained ? "sustained" : "not sustained")\n".utf8))
                rate = search.next(after: steps.map { $0.step })
            }
        } catch {
            await client.shutdown()
            throw error
        }
        await client.shutdown()

        let best = RateSearch.best(steps.map { $0.step })
        let compared = steps[0]
        print("onsale_\(label)_requests_per_s=\(Int(best))")
        print("onsale_\(label)_p50_ms=\(Self.format(compared.step.p50Milliseconds))")
        print("onsale_\(label)_p99_ms=\(Self.format(compared.step.p99Milliseconds))")
        print("onsale_\(label)_loadgen_cpu_percent=\(Int(compared.cpu))")
        if let top = steps.filter({ $0.step.offered == best }).first {
            print("onsale_\(label)_loadgen_cpu_percent_at_best=\(Int(top.cpu))")
        }
        print("onsale_\(label)_steps=\(steps.count)")
        print("onsale_\(label)_requests_total=\(steps.map { $0.step.requests }.reduce(0, +))")
        if let pipeline {
            try await checkWriteBehind(pipeline, concerts: concerts, sales: steps.map { $0.sales }.reduce(0, +), lastAnswer: lastAnswer, logger: logger)
        }
    }

    /// Buyers for one step: each makes two requests.
    static func buyers(offered: Double, seconds: Double) -> Int {
        OpenLoopSchedule(rate: offered / 2, duration: .milliseconds(Int64(seconds * 1000))).count
    }

    /// One step: buyer `i` takes seat `i` of the step's concerts.
    private func step(_ client: BoxOfficeClient, offered: Double, concerts: [String], routing: SaleRouting?) async throws -> (step: LoadStep, cpu: Double, sales: Int, lastAnswer: ContinuousClock.Instant) {
        let schedule = OpenLoopSchedule(rate: offered / 2, duration: .milliseconds(Int64(seconds * 1000)))
        let tally = StepTally()
        let think = Duration.milliseconds(thinkMs)
        let cpuBefore = Self.cpuTime()
        let start = ContinuousClock.now + .milliseconds(50)
        await schedule.launch(from: start) { index, arrival in
            let seat = Self.seat(index, of: concerts)
            await Self.buyer(
                client, at: routing?.target(concert: seat.concert, seat: seat.label), concert: seat.concert, seat: seat.label, buyer: "buyer-\(index)",
                arrival: arrival, think: think, tally: tally
            )
        }
        let wall = ContinuousClock.now - start
        let cpu = (Self.cpuTime() - cpuBefore) / max(wall / .seconds(1), 0.001) * 100
        _ = client.takeLatencies()
        let seen = tally.snapshot()
        // From the first due instant to the last answer, less the last buyer's think time
        // (its purchase is due that long after its arrival): a server that keeps up
        // answers within a few milliseconds of the offered window.
        let window = schedule.due(schedule.count - 1) + .seconds(1.0 / schedule.rate)
        let span = max((seen.lastAnswer ?? ContinuousClock.now) - start - think, window)
        let step = LoadStep(
            offered: offered, achieved: Double(seen.answered) / (span / .seconds(1)), requests: schedule.count * 2, errors: seen.errors,
            p50Milliseconds: seen.p50, p99Milliseconds: seen.p99
        )
        if let example = seen.example { FileHandle.standardError.write(Data("onsale \(label): e.g. \(example)\n".utf8)) }
        return (step, cpu, seen.sales, seen.lastAnswer ?? ContinuousClock.now)
    }

    static func seat(_ index: Int, of concerts: [String]) -> (concert: String, label: String) {
        let perConcert = 26 * 500
        let within = index % perConcert
        return (concerts[index / perConcert], "\(BoxOfficeRules.rowLabel(within / 500))-\(within % 500 + 1)")
    }

    /// A buyer: reserve when due, purchase `think` later (or as soon as the reserve is
    /// answered, if that is later: the wait counts in the purchase's latency). Both go to
    /// `base`, or round-robin when nil.
    private static func buyer(_ client: BoxOfficeClient, at base: String?, concert: String, seat: String, buyer: String, arrival: ContinuousClock.Instant, think: Duration, tally: StepTally) async {
        let path = "/concerts/\(concert)/seats/\(seat)"
        var hold: String?
        do {
            let reserved = try await client.post("\(path)/reserve", ["buyer": buyer], at: base)
            hold = reserved.json?["hold"] as? String
            tally.answer(status: reserved.status, due: arrival, body: reserved.body)
        } catch {
            tally.failed("reserve \(path): \(error)")
        }
        guard let hold else {
            tally.failed(nil)  // the purchase never sent is a failed request too
            return
        }
        let due = arrival + think
        if ContinuousClock.now < due { try? await Task.sleep(until: due, tolerance: .microseconds(200)) }
        do {
            let bought = try await client.post("\(path)/purchase", ["hold": hold, "buyer": buyer], at: base)
            tally.answer(status: bought.status, due: due, body: bought.body, sale: bought.status == 201)
        } catch {
            tally.failed("purchase \(path): \(error)")
        }
    }

    /// The CPU this process (all its threads, user and system) has used so far, in seconds.
    static func cpuTime() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    static func format(_ value: Double) -> String { String(format: "%.1f", value) }

    /// The write-behind of the units' steps: the time from the last answer until
    /// PostgreSQL holds every sale, then PostgreSQL against a fold of the topics.
    private func checkWriteBehind(_ pipeline: PipelineConfiguration, concerts: [String], sales: Int, lastAnswer: ContinuousClock.Instant, logger: Logger) async throws {
        guard let table = pipeline.cache(Sale.contract)?.mapping?.table else {
            throw UsageError("\(pipelineConfig ?? "the pipeline file") maps no table for \(Sale.contract)")
        }
        let db = try await PostgresConnection.connect(configuration: pipeline.postgres, logger: logger)
        do {
            let deadline = ContinuousClock.now + .seconds(timeoutS)
            var committed = 0
            while true {
                committed = try await db.query("SELECT count(*) FROM \(table) WHERE concert = ANY($1)", [concerts]).scalar(Int.self) ?? 0
                if committed >= sales { break }
                guard ContinuousClock.now < deadline else { throw DemoFailure("PostgreSQL holds \(committed) of the \(sales) sales \(timeoutS) s after the last request") }
                try await Task.sleep(for: .milliseconds(10))
            }
            let drain = ContinuousClock.now - lastAnswer
            print("onsale_\(label)_drain_ms=\(Self.format(drain / .milliseconds(1)))")
            FileHandle.standardError.write(Data("onsale \(label): PostgreSQL held all \(sales) sales \(Self.format(drain / .milliseconds(1))) ms after the last answer; comparing it with a fold of the topics\n".utf8))
            let replayed = try await DemoChecks.foldEqualsDatabase(configuration: pipeline, db: db, label: "onsale_\(label)", timeout: .seconds(timeoutS), logger: logger)
            FileHandle.standardError.write(Data("onsale \(label): PostgreSQL equals a fold of the topics (\(replayed.map { "\($0.fold.count) \($0.contract)" }.joined(separator: ", ")))\n".utf8))
        } catch {
            await db.close()
            throw error
        }
        await db.close()
    }
}

/// What one step's requests got, shared by its buyers.
private final class StepTally: Sendable {
    private struct State {
        var seen = Seen()
        /// Microseconds from due to answered, every request kept (HDR, three digits).
        var latencies = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
    }

    struct Seen: Sendable {
        var answered = 0
        var errors = 0
        var sales = 0
        var lastAnswer: ContinuousClock.Instant?
        var example: String?
        var p50 = 0.0
        var p99 = 0.0
    }

    private let state = Mutex(State())

    /// 201, 409 and 410 are the box office's answers; anything else is an error.
    func answer(status: Int, due: ContinuousClock.Instant, body: [UInt8], sale: Bool = false) {
        let now = ContinuousClock.now
        let microseconds = UInt64(max(0, (now - due) / .microseconds(1)))
        state.withLock { state in
            state.seen.answered += 1
            state.seen.lastAnswer = now
            _ = state.latencies.record(microseconds)
            if sale { state.seen.sales += 1 }
            if ![201, 409, 410].contains(status) {
                state.seen.errors += 1
                if state.seen.example == nil { state.seen.example = "HTTP \(status) \(String(decoding: body.prefix(200), as: UTF8.self))" }
            }
        }
    }

    func failed(_ description: String?) {
        state.withLock { state in
            state.seen.errors += 1
            if state.seen.example == nil, let description { state.seen.example = description }
        }
    }

    func snapshot() -> Seen {
        state.withLock { state in
            var seen = state.seen
            seen.p50 = Double(state.latencies.valueAtPercentile(50)) / 1000
            seen.p99 = Double(state.latencies.valueAtPercentile(99)) / 1000
            return seen
        }
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}

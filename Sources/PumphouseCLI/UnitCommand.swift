import ArgumentParser
import Logging
import PumphouseCommandLine
import PumphouseKafka
import PumphouseLoad
import PumphouseObservability
import PumphouseUnit
import PumphouseUnitHTTP
import ServiceLifecycle

struct UnitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unit",
        abstract: "Run a processing unit holding the bench.Account cache until SIGTERM or SIGINT: it replicates, announces itself to its peers and, with --rate, changes accounts at a steady pace.",
        discussion: "A unit of your own is a Swift program using the PumphouseUnit library; this one exists for trying the pipeline, member lists and outages without writing one."
    )

    @OptionGroup var pipeline: PipelineOptions

    @OptionGroup var unit: UnitOptions

    @Option(help: "Milliseconds between heartbeats.")
    var heartbeatMs = 1000

    @Option(help: "Milliseconds without a heartbeat after which a member drops out of the member lists.")
    var memberTimeoutMs = 5000

    @Option(help: "Changes per second to make (increments of random accounts); 0 makes none.")
    var rate = 0

    @Option(help: "How many accounts the changes spread over.")
    var keys = 1000

    @Option(help: "Port for /metrics, /healthz, /readyz (ready once the cache is loaded) and /routing (partitioned caches' owners); none when omitted.")
    var httpPort: Int?

    func validate() throws {
        guard (10...60_000).contains(heartbeatMs) else { throw ValidationError("--heartbeat-ms must be from 10 to 60000, not \(heartbeatMs)") }
        guard memberTimeoutMs > heartbeatMs else {
            throw ValidationError("--member-timeout-ms (\(memberTimeoutMs)) must exceed --heartbeat-ms (\(heartbeatMs)), or live members drop out between heartbeats")
        }
        guard memberTimeoutMs <= 3_600_000 else { throw ValidationError("--member-timeout-ms must be at most 3600000 (an hour), not \(memberTimeoutMs)") }
        guard (0...1_000_000).contains(rate) else { throw ValidationError("--rate must be from 0 to 1000000 changes per second, not \(rate)") }
        guard (1...10_000_000).contains(keys) else { throw ValidationError("--keys must be from 1 to 10000000, not \(keys)") }
        if let httpPort, !(1...65535).contains(httpPort) { throw ValidationError("--http-port must be between 1 and 65535") }
    }

    func run() async throws {
        let pipeline = try self.pipeline.load()
        guard pipeline.cache(BenchAccount.contract) != nil else {
            throw UsageError("\(self.pipeline.config) declares no bench.Account cache, the cache `pumphouse unit` holds; declare it under caches")
        }
        let logger = Logger(label: "pumphouse.unit.\(self.unit.id)")
        ServiceEndpoints.bootstrapMetrics()
        logger.info("pumphouse \(Pumphouse.release), librdkafka \(Librdkafka.runtimeVersion)")
        var configuration = self.unit.configuration(pipeline: pipeline, defaultAddress: "127.0.0.1:\(httpPort ?? 0)")
        configuration.heartbeatInterval = .milliseconds(heartbeatMs)
        configuration.memberTimeout = .milliseconds(memberTimeoutMs)
        // Before the unit opens its spool: a unit that cannot reach the broker leaves
        // nothing behind.
        try await self.pipeline.checkBroker(pipeline)
        let unit: ProcessingUnit
        let accounts: ReplicatedCache<BenchAccount>
        do {
            unit = try ProcessingUnit(configuration: configuration, logger: logger)
            accounts = try unit.cache(BenchAccount.self)
        } catch {
            throw UsageError("\(error)")
        }
        let changes: [any Service] = rate > 0 ? [AccountChanges(unit: unit, accounts: accounts, perSecond: rate, keys: keys, logger: logger)] : []
        try await runUntilSignalled(
            unit, alongside: changes, httpPort: httpPort, logger: logger,
            readiness: { unit.isLoaded ? Readiness(isReady: true, reason: "loaded") : Readiness(isReady: false, reason: "loading the cache") },
            routes: { RoutingEndpoints.addRoutes(to: $0, unit: unit) }
        )
    }
}

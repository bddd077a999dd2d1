import ArgumentParser
import PumphouseCommandLine
import Logging
import PumphouseKafka
import PumphouseLoad
import PumphouseObservability
import PumphouseUnit
import ServiceLifecycle

struct UnitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unit",
        abstract: "Run a processing unit holding the bench.Account cache until SIGTERM or SIGINT: it replicates, announces itself to its peers and, with --rate, changes accounts at a steady pace.",
        discussion: "A unit of your own is a Swift program using the PumphouseUnit library; this one exists for trying the pipeline, member lists and outages without writing one."
    )

    @OptionGroup var pipeline: PipelineOptions

    @Option(help: "The unit's id; keep it across restarts: it names the spool and the origin of the unit's changes.")
    var id: String

    @Option(help: "host:port shown for this unit in member lists.")
    var address = "127.0.0.1:0"

    @Option(help: "Directory of the unit's spool (the unit uses <dir>/<id>).")
    var spoolDirectory = ".pumphouse/spool"

    @Option(help: "Milliseconds between heartbeats.")
    var heartbeatMs = 1000

    @Option(help: "Milliseconds without a heartbeat after which a member drops out of the member lists.")
    var memberTimeoutMs = 5000

    @Option(help: "Changes per second to make (increments of random accounts); 0 makes none.")
    var rate = 0

    @Option(help: "How many accounts the changes spread over.")
    var keys = 1000

    @Option(help: "Port for /metrics, /healthz and /readyz (ready once the cache is loaded); none when omitted.")
    var httpPort: Int?

    @Option(help: "Seconds a load may take (waiting for the load lock and a data reader included) before the unit gives up and exits 1.")
    var loadTimeoutS = 120

    func validate() throws {
        guard heartbeatMs > 0 else { throw ValidationError("--heartbeat-ms must be positive") }
        guard memberTimeoutMs > heartbeatMs else {
            throw ValidationError("--member-timeout-ms (\(memberTimeoutMs)) must exceed --heartbeat-ms (\(heartbeatMs)), or live members drop out between heartbeats")
        }
        guard rate >= 0 else { throw ValidationError("--rate must be 0 or more changes per second") }
        guard keys > 0 else { throw ValidationError("--keys must be positive") }
        if let httpPort, !(1...65535).contains(httpPort) { throw ValidationError("--http-port must be between 1 and 65535") }
        guard (1...86_400).contains(loadTimeoutS) else { throw ValidationError("--load-timeout-s must be between 1 and 86400 seconds") }
    }

    func run() async throws {
        let pipeline = try self.pipeline.load()
        guard pipeline.cache(BenchAccount.contract) != nil else {
            throw UsageError("\(self.pipeline.config) declares no bench.Account cache, the cache `pumphouse unit` holds; declare it under caches")
        }
        let logger = Logger(label: "pumphouse.unit.\(id)")
        ServiceEndpoints.bootstrapMetrics()
        logger.info("pumphouse \(Pumphouse.release), librdkafka \(Librdkafka.runtimeVersion)")
        var configuration = UnitConfiguration(pipeline: pipeline, unitID: id, address: address, spoolDirectory: spoolDirectory)
        configuration.heartbeatInterval = .milliseconds(heartbeatMs)
        configuration.memberTimeout = .milliseconds(memberTimeoutMs)
        configuration.loadTimeout = .seconds(loadTimeoutS)
        let unit: ProcessingUnit
        let accounts: ReplicatedCache<BenchAccount>
        do {
            unit = try ProcessingUnit(configuration: configuration, logger: logger)
            accounts = try unit.cache(BenchAccount.self)
        } catch {
            throw UsageError("\(error)")
        }
        let changes: [any Service] = rate > 0 ? [AccountChanges(unit: unit, accounts: accounts, perSecond: rate, keys: keys, logger: logger)] : []
        try await runUntilSignalled(unit, alongside: changes, httpPort: httpPort, logger: logger) {
            unit.isLoaded ? Readiness(isReady: true, reason: "loaded") : Readiness(isReady: false, reason: "loading the cache")
        }
    }
}

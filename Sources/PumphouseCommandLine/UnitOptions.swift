import ArgumentParser
import PumphousePipeline
import PumphouseUnit

/// The flags every processing-unit command shares, so `pumphouse unit` and a sample's
/// unit name and check them the same way.
package struct UnitOptions: ParsableArguments {
    @Option(help: "The unit's id; keep it across restarts: it names the spool and the origin of the unit's changes.")
    package var id: String

    @Option(help: "host:port shown for this unit in member lists (where its peers and operators reach it).")
    package var address: String?

    @Option(help: "Directory of the unit's spool (the unit uses <dir>/<id>).")
    package var spoolDirectory = ".pumphouse/spool"

    @Option(help: "Seconds a load may take (waiting for another unit's load and a data reader included) before the unit gives up and exits 1.")
    package var loadTimeoutS = 120

    @Option(help: "Seconds before this unit's start within which another unit's finished cold-start load is read instead of asking the data readers again (0: always ask, unless a load is in progress).")
    package var loadReuseS = 10

    @Option(help: "Least milliseconds between two fetches of a partition that found records (0: fetch again at once). Fewer fetches cost the broker less; peers' changes and own echoes arrive up to this much later.")
    package var fetchIntervalMs = 0

    package init() {}

    package func validate() throws {
        guard !id.isEmpty else { throw ValidationError("--id must not be empty") }
        guard (1...86_400).contains(loadTimeoutS) else { throw ValidationError("--load-timeout-s must be between 1 and 86400 seconds") }
        guard (0...3_600).contains(loadReuseS) else { throw ValidationError("--load-reuse-s must be between 0 and 3600 seconds") }
        guard (0...60_000).contains(fetchIntervalMs) else { throw ValidationError("--fetch-interval-ms must be between 0 (off) and 60000 milliseconds") }
    }

    /// The unit's configuration; `address` when --address is not given.
    package func configuration(pipeline: PipelineConfiguration, defaultAddress: String) -> UnitConfiguration {
        var configuration = UnitConfiguration(pipeline: pipeline, unitID: id, address: address ?? defaultAddress, spoolDirectory: spoolDirectory)
        configuration.loadTimeout = .seconds(loadTimeoutS)
        configuration.loadReuseWindow = .seconds(loadReuseS)
        configuration.fetchInterval = fetchIntervalMs > 0 ? .milliseconds(fetchIntervalMs) : nil
        return configuration
    }
}

import ArgumentParser
import Logging
import PumphouseCommandLine
import PumphouseKafka
import PumphouseObservability
import PumphousePostgres
import PumphouseReader

struct ReaderCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reader",
        abstract: "Run a data reader: answer the units' read requests from PostgreSQL on the reverse-pump topics (cold starts and archive reads), until SIGTERM or SIGINT."
    )

    @OptionGroup var pipeline: PipelineOptions

    @Option(help: "Port for /metrics, /healthz and /readyz (default: reader.http_port in the pipeline file; none if neither).")
    var httpPort: Int?

    func validate() throws {
        if let httpPort, !(1...65_535).contains(httpPort) {
            throw ValidationError("--http-port must be between 1 and 65535, not \(httpPort)")
        }
    }

    func run() async throws {
        let configuration = try pipeline.load()
        let logger = Logger(label: "pumphouse.reader")
        ServiceEndpoints.bootstrapMetrics()
        logger.info("pumphouse \(Pumphouse.release), librdkafka \(Librdkafka.runtimeVersion), libpq \(PostgresConnection.libpqVersion)")
        guard !configuration.caches.isEmpty else {
            throw UsageError("the pipeline declares no caches, so there is nothing to read; add one under caches")
        }
        let service: DataReader
        do {
            service = try DataReader(configuration: configuration, logger: logger)
        } catch {
            throw UsageError("\(error)")
        }
        try await pipeline.checkServices(configuration, logger: logger) { try await service.prepare(on: $0) }
        try await runUntilSignalled(service, httpPort: httpPort ?? configuration.reader.httpPort, logger: logger) {
            let state = service.readiness
            return Readiness(isReady: state.isReady, reason: state.reason)
        }
        let statistics = service.statistics
        logger.info("reader stopped: \(statistics.served) requests served (\(statistics.rows) rows), \(statistics.failed) refused")
    }
}

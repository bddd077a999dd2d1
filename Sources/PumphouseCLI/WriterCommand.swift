import ArgumentParser
import Logging
import PumphouseCommandLine
import PumphouseKafka
import PumphouseObservability
import PumphousePostgres
import PumphouseWriter

struct WriterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "writer",
        abstract: "Run a data writer: apply its caches' contracts to PostgreSQL, exactly once, until SIGTERM or SIGINT (the batch in flight finishes and commits)."
    )

    @OptionGroup var pipeline: PipelineOptions

    @Option(help: "The writer to run, as named under `writers` in the pipeline file.")
    var writer: String

    func run() async throws {
        let allocatorProblem = ProcessAllocator.restartOnOneArena()
        let configuration = try pipeline.load()
        let logger = Logger(label: "pumphouse.writer.\(writer)")
        if let allocatorProblem {
            logger.warning("\(allocatorProblem)")
        }
        // Before any metric exists: metrics made earlier would stay no-ops.
        ServiceEndpoints.bootstrapMetrics()
        logger.info("pumphouse \(Pumphouse.release), librdkafka \(Librdkafka.runtimeVersion), libpq \(PostgresConnection.libpqVersion)")
        let service: DataWriter
        do {
            service = try DataWriter(configuration: configuration, writer: writer, logger: logger)
        } catch {
            throw UsageError("\(error)")
        }
        try await pipeline.checkServices(configuration, logger: logger) { try await service.prepare(on: $0) }
        try await runUntilSignalled(service, httpPort: configuration.writer(named: writer)?.httpPort, logger: logger) {
            let state = service.readiness
            return Readiness(isReady: state.isReady, reason: state.reason)
        }
        let statistics = service.statistics
        logger.info("writer \(writer) stopped: \(statistics.consumed) consumed, \(statistics.applied) applied, \(statistics.deadLettered) dead-lettered, \(statistics.duplicates) duplicates, passed over \(statistics.passedOverUnclaimed) of unclaimed partitions and \(statistics.passedOverAppliedBefore) applied before, offset gaps \(statistics.offsetGapsReread) read again and \(statistics.offsetGapsAbsent) absent, \(statistics.sequenceGaps) sequence gap(s) missing \(statistics.missingChanges) change(s)")
    }
}

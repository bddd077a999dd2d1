import ArgumentParser
import Logging
import PumphouseCommandLine
import PumphousePipeline
import PumphousePostgres

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply pending SQL migrations in order, under an advisory lock: Pumphouse's own tables, then the pipeline's migrations directory; refuse edited ones."
    )

    @OptionGroup var pipeline: PipelineOptions

    func run() async throws {
        let configuration = try pipeline.load()
        let logger = Logger(label: "pumphouse.migrate")
        let migrations: PipelineMigrations
        do {
            // Read before connecting: a bad directory is the operator's to fix, not a database error.
            migrations = try configuration.migrations()
        } catch {
            throw UsageError("\(pipeline.config): migrations: \(error.message); fix the directory the setting names")
        }
        let connection = try await pipeline.connect(configuration, logger: logger)
        let report: PostgresMigrator.Report
        do {
            report = try await migrations.run(on: connection, logger: logger)
            await connection.close()
        } catch {
            await connection.close()
            throw error
        }
        for name in report.applied { print("applied  \(name)") }
        print("migrations: \(report.applied.count) applied, \(report.alreadyApplied.count) already applied (\(connection.configuration.redactedURL))")
    }
}

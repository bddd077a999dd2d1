import ArgumentParser
import Logging
import PumphouseContracts
import PumphousePostgres
import PumphouseReplay

struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Fold a cache's whole topic into state; with --verify-db, compare it with the database (exit 0 equal, 1 different). Run it when the writer has caught up."
    )

    @OptionGroup var pipeline: PipelineOptions

    @Option(help: "The named cache (contract) whose topic to replay.")
    var cache: String

    @Flag(help: "Compare the folded state with the mapped table.")
    var verifyDb = false

    @Option(help: "Seconds to read the topic to its end before giving up.")
    var timeout: Int = 300

    func run() async throws {
        let configuration = try pipeline.load()
        let logger = Logger(label: "pumphouse.replay")
        let replay: TopicReplay
        do {
            replay = try TopicReplay(configuration: configuration, cache: try ContractName(cache), logger: logger)
        } catch {
            throw UsageError("\(error)")
        }
        let state = try await replay.fold(timeout: .seconds(timeout))
        print("replayed \(state.contracts) contracts into \(state.entities.count) entities (\(state.duplicates) duplicates collapsed, \(state.rejected) that a writer dead-letters)")
        guard verifyDb else { return }
        let db = try await PostgresConnection.connect(configuration: configuration.postgres, logger: logger)
        let differences = try await replay.verify(state, on: db)
        await db.close()
        if differences.isEmpty {
            print("the database equals the topic")
        } else {
            print("the database differs from the topic (first \(differences.count)):")
            for difference in differences { print("  \(difference)") }
            throw ExitCode(1)
        }
    }
}

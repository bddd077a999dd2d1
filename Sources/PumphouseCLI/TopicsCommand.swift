import ArgumentParser
import Logging
import PumphouseCommandLine
import PumphouseKafka
import PumphousePipeline

struct TopicsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics",
        abstract: "Manage the pipeline's Kafka topics.",
        subcommands: [Create.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create every cache topic and writer dead-letter topic the pipeline file declares (existing ones are left as they are)."
        )

        @OptionGroup var pipeline: PipelineOptions

        func run() async throws {
            let configuration = try pipeline.load()
            try await pipeline.checkBroker(configuration)
            let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(connection: configuration.kafka), logger: Logger(label: "pumphouse.topics"))
            let specifications = configuration.topicSpecifications
            try await admin.createTopics(specifications, ifNotExists: true)
            let existing = Dictionary(uniqueKeysWithValues: try await admin.listTopics().map { ($0.name, $0.partitions.count) })
            for spec in specifications {
                let partitions = existing[spec.name] ?? 0
                let note = partitions == spec.partitions ? "" : " (declared \(spec.partitions); partition counts are never changed here)"
                print("topic  \(spec.name)  partitions \(partitions)\(note)")
            }
        }
    }
}

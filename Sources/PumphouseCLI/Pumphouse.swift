import ArgumentParser
import PumphouseCommandLine
import PumphouseKafka
import PumphouseObservability
import PumphousePostgres
import PumphouseSchemaGate

import Foundation

@main
struct Pumphouse: AsyncParsableCommand {
    static let release = "0.1.0"

    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "pumphouse",
            abstract: "Write-behind persistence for space-based Swift services: caches → Kafka → PostgreSQL.",
            version: versionText,
            subcommands: [Check.self, SchemaCommand.self, MigrateCommand.self, TopicsCommand.self, WriterCommand.self, ReaderCommand.self, UnitCommand.self, LoadgenCommand.self, ReplayCommand.self, StatusCommand.self, PlanCommand.self]
        )
    }

    static func main() async {
        await runReportingUsageErrors()
    }

    /// The versions that decide behaviour: the runtime librdkafka can differ from the
    /// one compiled against, and that difference is what breaks broker handshakes.
    static var versionText: String {
        var lines = [
            "pumphouse \(release)",
            "librdkafka \(Librdkafka.runtimeVersion) (built against \(Librdkafka.compiledVersion))",
            "libpq \(PostgresConnection.libpqVersion)",
        ]
        if !Librdkafka.isRuntimeRecommended {
            lines.append("warning: librdkafka \(Librdkafka.runtimeVersion) is older than 2.3 and cannot talk to some brokers; see docs/operations.md")
        }
        return lines.joined(separator: "\n")
    }
}

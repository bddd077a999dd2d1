import ArgumentParser
import PumphouseKafka
import PumphousePostgres

@main
struct Pumphouse: AsyncParsableCommand {
    static let release = "0.1.0"

    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "pumphouse",
            abstract: "Write-behind persistence for space-based Swift services: caches → Kafka → PostgreSQL.",
            version: versionText,
            subcommands: [Check.self]
        )
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

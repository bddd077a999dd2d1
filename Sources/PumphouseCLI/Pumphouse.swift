import ArgumentParser
import PumphouseKafka
import PumphouseObservability
import PumphousePostgres

import Foundation

@main
struct Pumphouse: AsyncParsableCommand {
    static let release = "0.1.0"

    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "pumphouse",
            abstract: "Write-behind persistence for space-based Swift services: caches → Kafka → PostgreSQL.",
            version: versionText,
            subcommands: [Check.self, SchemaCommand.self, MigrateCommand.self, TopicsCommand.self, WriterCommand.self, ReaderCommand.self, UnitCommand.self, LoadgenCommand.self, ReplayCommand.self, StatusCommand.self]
        )
    }

    /// Usage errors exit with status 2 (not ArgumentParser's 64), so scripts can tell
    /// "you called it wrong" (2) from "the answer is no" (1).
    static func main() async {
        do {
            try LogSettings.from(environment: ProcessInfo.processInfo.environment).bootstrap()
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            self.exit(withError: ExitCode(2))
        }
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as UsageError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            self.exit(withError: ExitCode(2))
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                self.exit(withError: ExitCode(2))
            }
            self.exit(withError: error)
        }
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

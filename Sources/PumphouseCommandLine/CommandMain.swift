import ArgumentParser
import Foundation
import PumphouseKafka
import PumphouseObservability

extension AsyncParsableCommand {
    /// Parses and runs the command the way every Pumphouse executable does: logging
    /// set up from the environment first, and usage errors exiting with status 2 (not
    /// ArgumentParser's 64), so scripts can tell "you called it wrong" (2) from "the
    /// answer is no" (1).
    package static func runReportingUsageErrors() async {
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
            await exit(afterClientsClose: ExitCode(2))
        } catch let error as ServiceUnreachable {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            await exit(afterClientsClose: ExitCode(1))
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                await exit(afterClientsClose: ExitCode(2))
            }
            await exit(afterClientsClose: error)
        }
        await exit(afterClientsClose: nil)
    }

    /// Exits once the Kafka clients the command dropped are destroyed (at most 5 s), so
    /// the process's exit handlers never run under librdkafka's threads.
    private static func exit(afterClientsClose error: (any Error)?) async -> Never {
        _ = await Librdkafka.waitUntilClientsDestroyed(within: .seconds(5))
        self.exit(withError: error)
    }
}

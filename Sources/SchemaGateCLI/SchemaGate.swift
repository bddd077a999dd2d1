import ArgumentParser
import Foundation
import PumphouseSchemaGate

/// `pumphouse-schema`: the schema gate alone, for any repository's CI. Only the
/// contracts module is behind it, and it links the Swift runtime statically, so it runs
/// on a plain Linux image with nothing but the C library (docs/contracts.md).
@main
struct SchemaGate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pumphouse-schema",
        abstract: "Check contract schemas for validity and compatible evolution: the gate of `pumphouse schema`, standalone.",
        subcommands: [SchemaCommand.Check.self, SchemaCommand.Compat.self]
    )

    /// Exits 2 on a usage error (ArgumentParser's default is 64), as `pumphouse` does, so
    /// a CI script tells "called wrong" (2) from "the schemas break" (1).
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Self.exit(withError: ExitCode(2))
            }
            Self.exit(withError: error)
        }
    }
}

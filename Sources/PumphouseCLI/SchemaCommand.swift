import ArgumentParser
import Foundation
import PumphouseCommandLine
import PumphouseContracts

struct SchemaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Check contract schemas for validity and compatible evolution.",
        subcommands: [Compat.self, Check.self]
    )

    /// `pumphouse schema compat`: one pair of schema files.
    struct Compat: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Is NEW a compatible evolution of OLD? Exit 0 compatible, 1 incompatible, 2 usage error or invalid schema."
        )

        @Option(help: "backward, forward, full, their -transitive forms (same as without for two files), or none.")
        var mode: String = "backward"

        @Flag(help: "Print the result as JSON.")
        var json = false

        @Argument(help: "The published schema.")
        var old: String

        @Argument(help: "The proposed schema.")
        var new: String

        func run() async throws {
            guard let mode = CompatibilityMode(parsing: mode) else {
                throw UsageError("--mode \(self.mode) is not one of backward, forward, full, backward-transitive, forward-transitive, full-transitive, none")
            }
            let oldSchema = try Self.load(old)
            let newSchema = try Self.load(new)
            let issues = SchemaCompatibility().check(old: oldSchema, new: newSchema, mode: mode)
            if json {
                try printJSON(.object([
                    "compatible": .bool(issues.isEmpty),
                    "mode": .string(mode.rawValue),
                    "issues": .array(issues.map { issue in
                        .object([
                            "direction": .string(issue.direction.rawValue),
                            "pointer": .string(issue.pointer),
                            "rule": .string(issue.rule),
                            "message": .string(issue.message),
                        ])
                    }),
                ]))
            } else if issues.isEmpty {
                print("compatible (\(mode)): \(new) can replace \(old)")
            } else {
                print("incompatible (\(mode)): \(issues.count) breaking change(s) from \(old) to \(new)")
                for issue in issues { print("  \(issue)") }
            }
            if !issues.isEmpty { throw ExitCode(1) }
        }

        static func load(_ path: String) throws -> SchemaDocument {
            guard let bytes = FileManager.default.contents(atPath: path) else {
                throw UsageError("cannot read schema file \(path)")
            }
            do {
                return try SchemaParser().parse(Array(bytes))
            } catch {
                throw UsageError("\(path) is not a usable schema: \(error)")
            }
        }
    }

    /// `pumphouse schema check`: a whole Schemas/ directory, as CI runs it.
    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every contract in a Schemas directory: validity, contiguous versions, compatibility per declared mode, upcasting, immutability."
        )

        @Argument(help: "The schema directory.")
        var directory: String = "Schemas"

        @Option(help: "A git ref (e.g. origin/main); fail if any version that exists there was edited or deleted.")
        var against: String?

        @Flag(help: "Print the problems as JSON.")
        var json = false

        func run() async throws {
            let repository = SchemaRepository(directory: directory)
            let problems = repository.check(againstGitRef: against)
            if json {
                try printJSON(.array(problems.map { problem in
                    .object([
                        "contract": .string(problem.contract),
                        "version": problem.version.map { .int(Int64($0)) } ?? .null,
                        "pointer": .string(problem.pointer),
                        "rule": .string(problem.rule),
                        "message": .string(problem.message),
                    ])
                }))
            } else if problems.isEmpty {
                let count = (try? repository.load().contracts.count) ?? 0
                print("schemas ok: \(count) contract(s) in \(directory)")
            } else {
                print("\(problems.count) schema problem(s) in \(directory):")
                for problem in problems { print("  \(problem)") }
            }
            if !problems.isEmpty { throw ExitCode(1) }
        }
    }
}

/// Machine-readable output: one JSON document on stdout.
func printJSON(_ value: JSONValue) throws {
    print(String(decoding: try JSONWriter.encode(value), as: UTF8.self))
}


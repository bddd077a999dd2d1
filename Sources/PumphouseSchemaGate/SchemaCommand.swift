import ArgumentParser
import Foundation
import PumphouseContracts

/// `schema check` and `schema compat`: the schema gate, as `pumphouse schema` and as the
/// standalone `pumphouse-schema` (the contracts module alone behind it, so another
/// repository's CI runs it without Kafka or PostgreSQL libraries). Usage errors are
/// `ValidationError`s, which both executables exit with status 2.
package struct SchemaCommand: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Check contract schemas for validity and compatible evolution.",
        subcommands: [Check.self, Compat.self]
    )

    package init() {}

    /// `schema compat`: one pair of schema files.
    package struct Compat: ParsableCommand {
        package static let configuration = CommandConfiguration(
            abstract: "Is NEW a compatible evolution of OLD? Exit 0 compatible, 1 incompatible, 2 usage error or invalid schema."
        )

        @Option(help: "backward, forward, full, their -transitive forms (same as without for two files), or none.")
        var mode: String = "backward"

        @Option(help: "text, json, github (Actions annotations), junit or sarif.")
        var format: SchemaReportFormat = .text

        @Flag(help: "The same as --format json.")
        var json = false

        @Argument(help: "The published schema.")
        var old: String

        @Argument(help: "The proposed schema.")
        var new: String

        package init() {}

        package func run() throws {
            guard let mode = CompatibilityMode(parsing: mode) else {
                throw ValidationError("--mode \(self.mode) is not one of backward, forward, full, backward-transitive, forward-transitive, full-transitive, none")
            }
            let (oldSchema, _) = try Self.load(old)
            let (newSchema, newBytes) = try Self.load(new)
            let issues = SchemaCompatibility().check(old: oldSchema, new: newSchema, mode: mode)
            let problems = issues.map { issue in
                var problem = SchemaProblem(contract: new, pointer: issue.pointer, rule: "\(issue.direction.rawValue.uppercased()) \(issue.rule)", message: "\(mode): \(issue.message)")
                problem.file = new
                problem.line = JSONPointerLine.line(of: issue.pointer, in: newBytes)
                return problem
            }
            let format = json ? .json : format
            switch format {
            case .json:
                // The pair's verdict with its issues, as before formats existed.
                let issues: [JSONValue] = zip(issues, problems).map { issue, problem in
                    guard case .object(var object) = SchemaReport.json(problem) else { return .null }
                    object["direction"] = .string(issue.direction.rawValue)
                    object["rule"] = .string(issue.rule)
                    return .object(object)
                }
                print(String(decoding: try JSONWriter.encode(.object(["compatible": .bool(issues.isEmpty), "mode": .string(mode.rawValue), "issues": .array(issues)])), as: UTF8.self))
            case .text where problems.isEmpty:
                print("compatible (\(mode)): \(new) can replace \(old)")
            default:
                print(SchemaReport(subject: "\(old) -> \(new) (\(mode))", checked: [new], problems: problems).render(format))
            }
            if !problems.isEmpty { throw ExitCode(1) }
        }

        static func load(_ path: String) throws -> (SchemaDocument, [UInt8]) {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ValidationError("cannot read schema file \(path)")
            }
            let bytes = Array(data)
            do {
                return (try SchemaParser().parse(bytes), bytes)
            } catch {
                throw ValidationError("\(path) is not a usable schema: \(error)")
            }
        }
    }

    /// `schema check`: a whole Schemas/ directory, as CI runs it.
    package struct Check: ParsableCommand {
        package static let configuration = CommandConfiguration(
            abstract: "Check every contract in a Schemas directory: validity, contiguous versions, compatibility per declared mode, upcasting, immutability. Exit 0 clean, 1 problems, 2 usage error."
        )

        @Argument(help: "The schema directory.")
        var directory: String = "Schemas"

        @Option(help: "A git ref (e.g. origin/main); fail if any version that exists there was edited or deleted (needs git).")
        var against: String?

        @Option(help: "text, json, github (Actions annotations), junit or sarif.")
        var format: SchemaReportFormat = .text

        @Flag(help: "The same as --format json.")
        var json = false

        @Option(help: "Also write the report to this file (e.g. a JUnit or SARIF file for the CI to collect), whatever is printed.")
        var output: String?

        package init() {}

        package func run() throws {
            let repository = SchemaRepository(directory: directory)
            let result = repository.checkResult(againstGitRef: against)
            let report = SchemaReport(subject: directory, checked: result.checked, problems: result.problems)
            let rendered = report.render(json ? .json : format)
            print(rendered)
            if let output {
                guard FileManager.default.createFile(atPath: output, contents: Data((rendered + "\n").utf8)) else {
                    throw ValidationError("cannot write --output \(output); give a path in a writable directory")
                }
            }
            // A directory or ref that cannot be read is how the gate was asked (a typo, a
            // ref not fetched), not a schema that breaks: status 2, after the report.
            if let asked = report.problems.first(where: { Self.usageRules.contains($0.rule) }) {
                throw ValidationError(asked.message)
            }
            if !report.problems.isEmpty { throw ExitCode(1) }
        }

        static let usageRules: Set<String> = ["NO_SCHEMA_DIRECTORY", "GIT_REF_UNREADABLE"]
    }
}

import Foundation
import PumphouseContracts
import Testing

/// The official JSON-Schema-Test-Suite, draft 2020-12, as `make test` unpacks it from the
/// source distribution of PyPI's `jsonschema` (never copied into the repository):
/// `PUMPHOUSE_JSON_SCHEMA_SUITE` names its `tests/draft2020-12` directory.
///
/// Every group whose schema the parser accepts must validate each of its cases as the
/// suite says; a schema it refuses (a keyword outside the subset, a remote reference) is
/// counted, with the refusal, not failed. The share of groups accepted is the subset's
/// coverage, reported in the test's log (docs/contracts.md gives the figure) and held
/// at its floor: a change that makes the parser refuse more fails here.
@Suite(
    "JSON-Schema-Test-Suite, draft 2020-12",
    .enabled(if: JSONSchemaTestSuite.directory != nil, "needs the JSON-Schema-Test-Suite: run `make test`, which unpacks it from PyPI's jsonschema source distribution")
)
struct JSONSchemaTestSuiteTests {
    /// Groups accepted when the figure was last raised (2026-12-05, with `unevaluated*`
    /// and `$dynamicRef`).
    static let acceptedFloor = 328

    @Test("every case of every accepted group validates as the suite says")
    func acceptedGroupsAgree() throws {
        let suite = try JSONSchemaTestSuite.load()
        var accepted = 0
        var disagreements: [String] = []
        var refusals: [String: Int] = [:]
        for group in suite {
            let document: SchemaDocument
            do {
                document = try SchemaParser().parse(group.schema)
            } catch {
                refusals[JSONSchemaTestSuite.reason(error), default: 0] += 1
                continue
            }
            accepted += 1
            let validator = SchemaValidator(document: document)
            for test in group.tests where validator.isValid(test.data) != test.valid {
                disagreements.append("\(group.file): \(group.description) / \(test.description): expected \(test.valid ? "valid" : "invalid")")
            }
        }
        let coverage = Double(accepted) / Double(max(suite.count, 1))
        print("JSON-Schema-Test-Suite draft 2020-12: \(accepted) of \(suite.count) groups accepted (\(String(format: "%.1f", coverage * 100))%)")
        for (reason, count) in refusals.sorted(by: { $0.value > $1.value }).prefix(15) {
            print("  refused \(count)x: \(reason)")
        }
        #expect(!suite.isEmpty, "the suite directory holds test groups")
        #expect(accepted >= Self.acceptedFloor, "\(accepted) groups accepted, fewer than the \(Self.acceptedFloor) docs/contracts.md reports")
        #expect(disagreements.isEmpty, "\(disagreements.count) case(s) validated against the suite, e.g. \(disagreements.prefix(10).joined(separator: "; "))")
    }
}

/// The suite's files, read with the project's own JSON parser.
enum JSONSchemaTestSuite {
    struct Group {
        var file: String
        var description: String
        var schema: JSONValue
        var tests: [Case]
    }

    struct Case {
        var description: String
        var data: JSONValue
        var valid: Bool
    }

    static var directory: String? {
        ProcessInfo.processInfo.environment["PUMPHOUSE_JSON_SCHEMA_SUITE"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Every group of the directory's top-level files (the `optional` tests aside: they
    /// cover formats and behaviours the specification leaves optional).
    static func load() throws -> [Group] {
        let directory = try #require(directory)
        var groups: [Group] = []
        for file in try FileManager.default.contentsOfDirectory(atPath: directory).sorted() where file.hasSuffix(".json") {
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(file)")))
            guard case .array(let items) = try JSONParser(maxBytes: 16 << 20, maxDepth: 512).parse(bytes) else {
                Issue.record("\(file) is not an array of test groups")
                continue
            }
            for item in items {
                guard case .object(let group) = item, case .string(let description)? = group["description"], let schema = group["schema"],
                      case .array(let tests)? = group["tests"]
                else {
                    Issue.record("\(file) holds a test group without description, schema or tests")
                    continue
                }
                groups.append(Group(file: file, description: description, schema: schema, tests: tests.compactMap { test in
                    guard case .object(let test) = test, case .string(let description)? = test["description"], let data = test["data"],
                          case .bool(let valid)? = test["valid"]
                    else { return nil }
                    return Case(description: description, data: data, valid: valid)
                }))
            }
        }
        return groups
    }

    /// A refusal without the pointer into the schema: what kind of thing was refused.
    static func reason(_ error: any Error) -> String {
        let text = "\(error)"
        return String(text.prefix(90))
    }
}

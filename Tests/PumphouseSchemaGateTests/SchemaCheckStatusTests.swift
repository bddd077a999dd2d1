import ArgumentParser
import Foundation
@testable import PumphouseSchemaGate
import Testing

/// `schema check`'s statuses: 1 for schemas that break, 2 (a ValidationError) for a
/// gate asked to read what it cannot.
@Suite("Schema gate exit statuses")
struct SchemaCheckStatusTests {
    @Test("a schema directory that does not exist is a usage error (2), not a breaking schema (1)")
    func missingDirectory() throws {
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("no-schemas-\(UUID().uuidString)").path
        let check = try SchemaCommand.Check.parse([missing])
        #expect {
            try check.run()
        } throws: { error in
            error is ValidationError && "\(error)".contains(missing)
        }
    }

    @Test("the project's own schemas pass: no error at all")
    func clean() throws {
        let schemas = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Schemas").path
        try SchemaCommand.Check.parse([schemas]).run()
    }
}

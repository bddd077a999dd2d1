/// One way a value fails its schema.
public struct SchemaValidationIssue: Sendable, Hashable, CustomStringConvertible {
    /// JSON pointer into the value, e.g. `/fields/balance`.
    public let pointer: String
    /// The schema keyword that failed.
    public let keyword: String
    public let message: String

    public var description: String { "\(pointer.isEmpty ? "/" : pointer): \(message)" }
}

/// Checks values against one schema document. The document is compiled once, when the
/// validator is made, and a valid value allocates nothing, so validation can sit on a
/// writer's intake path and on every cache put.
public struct SchemaValidator: Sendable {
    public let document: SchemaDocument
    private let program: SchemaProgram
    /// Stops collecting after this many issues; a hostile payload cannot make the report huge.
    public var maxIssues = 20

    public init(document: SchemaDocument) {
        self.document = document
        self.program = SchemaProgram(compiling: document)
    }

    // The program owns the nodes a run walks through unowned links, so each entry point
    // keeps it alive for the whole run.

    public func validate(_ value: JSONValue) -> [SchemaValidationIssue] {
        withExtendedLifetime(program) {
            var run = ValidationRun(limit: maxIssues, records: true)
            run.check(value, program.root)
            return run.issues
        }
    }

    /// Checks one top-level field on its own, for partial payloads (an update carries
    /// only the changed fields, so `required` does not apply).
    public func validateField(_ name: String, _ value: JSONValue) -> [SchemaValidationIssue] {
        withExtendedLifetime(program) {
            var run = ValidationRun(limit: maxIssues, records: true)
            run.checkField(name, value, in: program)
            return run.issues
        }
    }

    public func isValid(_ value: JSONValue) -> Bool {
        withExtendedLifetime(program) {
            var run = ValidationRun(limit: 1, records: false)
            run.check(value, program.root)
            return run.failures == 0
        }
    }

    /// The types a top-level field declares, for an update's deltas: nil when the schema
    /// does not declare the field, empty when it declares it without a `type`.
    func declaredTypes(ofField name: String) -> JSONTypeSet? {
        withExtendedLifetime(program) {
            program.declaredField(name).map { $0.declaredTypes ?? [] }
        }
    }
}

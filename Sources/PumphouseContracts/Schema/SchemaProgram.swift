/// A schema document compiled once into the checks its values go through, so validating
/// a value follows prepared nodes instead of interpreting the parsed schema each time.
///
/// Owns every node: links between nodes are unowned, since a recursive schema makes
/// them cyclic. Unchecked Sendable because the nodes are mutable while `SchemaCompiler`
/// builds them and never after; the patterns' memo has its own lock.
final class SchemaProgram: @unchecked Sendable {
    let root: CompiledSchema
    private let nodes: [CompiledSchema]

    init(compiling document: SchemaDocument) {
        var compiler = SchemaCompiler(document: document)
        self.root = compiler.compile(document.root)
        self.nodes = compiler.nodes
    }

    /// The node a top-level field is declared with, nil when the root declares no such
    /// property. Valid only while the program lives.
    func declaredField(_ name: String) -> CompiledSchema? {
        var hint = 0
        return root.propertyIndex(of: name, hint: &hint).map { root.properties[$0].schema.node }
    }
}

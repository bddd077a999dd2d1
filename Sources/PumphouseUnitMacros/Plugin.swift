import PumphouseUnitMacroExpansion
import SwiftCompilerPlugin
import SwiftSyntax
import SwiftSyntaxMacros

/// The compiler plugin: only entry points. The expansions live in an ordinary library so
/// that their tests need not depend on this target (a test target that depends on a
/// macro target makes SwiftPM build every test, and all it depends on, a second time
/// for the host).
@main
struct PumphouseUnitMacrosPlugin: CompilerPlugin {
    let providingMacros: [any Macro.Type] = [CacheFieldsMacro.self]
}

/// `@CacheFields`, as `#externalMacro` names it: the compiler finds a macro by this
/// module's name and the type's.
public struct CacheFieldsMacro: ExtensionMacro {
    public static func expansion(
        of node: AttributeSyntax,
        attachedTo declaration: some DeclGroupSyntax,
        providingExtensionsOf type: some TypeSyntaxProtocol,
        conformingTo protocols: [TypeSyntax],
        in context: some MacroExpansionContext
    ) throws -> [ExtensionDeclSyntax] {
        try CacheFieldsExpansion.expansion(of: node, attachedTo: declaration, providingExtensionsOf: type, conformingTo: protocols, in: context)
    }
}

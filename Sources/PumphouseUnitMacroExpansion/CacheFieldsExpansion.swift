import SwiftDiagnostics
import SwiftSyntax
import SwiftSyntaxBuilder
import SwiftSyntaxMacros

/// `@CacheFields`: writes a struct's `fields`, `init(fields:)` and
/// `apply(fields:deltas:)` from its stored properties, member by member, so a change
/// costs what a hand-written conversion costs instead of a round trip through an encoder
/// and JSON text, and a peer's update sets only the properties it names.
///
/// Every name it writes is qualified by `PumphouseUnit`, so the application's module
/// needs no other import, and none of its own types can stand in for one.
///
/// The expansion only names the properties and their JSON names; what each value becomes
/// is `CacheFieldValue`'s to say, so the type checker, not this plugin, decides what is
/// supported, and a property of an unsupported type is an ordinary compile error at the
/// property.
///
/// It is an extension macro, not a member macro: an `init` declared in the struct's body
/// would take away the memberwise initialiser the application builds its values with.
public struct CacheFieldsExpansion: ExtensionMacro {
    public static func expansion(
        of node: AttributeSyntax,
        attachedTo declaration: some DeclGroupSyntax,
        providingExtensionsOf type: some TypeSyntaxProtocol,
        conformingTo protocols: [TypeSyntax],
        in context: some MacroExpansionContext
    ) throws -> [ExtensionDeclSyntax] {
        guard let structDecl = declaration.as(StructDeclSyntax.self) else {
            context.diagnose(Diagnostic(node: node, message: CacheFieldsDiagnostic.notAStruct))
            return []
        }
        let renames = codingKeys(in: structDecl, context: context)
        var properties: [StoredProperty] = []
        for member in structDecl.memberBlock.members {
            guard let variable = member.decl.as(VariableDeclSyntax.self) else { continue }
            properties += storedProperties(of: variable, context: context)
        }
        if let renames {
            // As with Codable, CodingKeys decides which properties travel and under
            // which names; one left out must have a value of its own to start from.
            properties = properties.compactMap { property in
                guard let jsonName = renames[property.name] else {
                    if !property.hasInitialValue {
                        context.diagnose(Diagnostic(node: property.node, message: CacheFieldsDiagnostic.notInCodingKeys(property.name)))
                    }
                    return nil
                }
                var renamed = property
                renamed.jsonName = jsonName
                return renamed
            }
        }

        let access = accessPrefix(of: structDecl)
        var encode: [String] = []
        var decode: [String] = []
        var setField: [(test: String, body: String)] = []
        var addDelta: [(test: String, body: String)] = []
        for property in properties {
            let name = stringLiteral(property.jsonName)
            encode.append("try PumphouseUnit.CacheFieldCoding.append(self.\(property.identifier), as: \(name), of: Self.self, to: &members)")
            if property.decodable {
                decode.append("self.\(property.identifier) = try PumphouseUnit.CacheFieldCoding.value(in: fields, \(name), of: Self.self)")
                setField.append((
                    "PumphouseUnit.CacheFieldCoding.names(member, \(name))",
                    "self.\(property.identifier) = try PumphouseUnit.CacheFieldCoding.value(of: member, of: Self.self)"
                ))
                addDelta.append((
                    "PumphouseUnit.CacheFieldCoding.names(delta, \(name))",
                    "self.\(property.identifier) = try PumphouseUnit.CacheFieldCoding.adding(delta, to: self.\(property.identifier), of: Self.self)"
                ))
            }
        }
        // A `let` that a change may set cannot be assigned in place; such a struct
        // applies an update by converting, as a hand-written type without `apply` does.
        let applyBody: String
        if properties.contains(where: { $0.decodable && $0.isLet }) {
            applyBody = "\n        try self.applyConverting(fields: fields, deltas: deltas)"
        } else {
            // One chain of byte comparisons per loop: a member sets at most one property.
            let loop = { (variable: String, collection: String, branches: [(test: String, body: String)]) -> String in
                guard !branches.isEmpty else { return "" }
                var text = "\n        for \(variable) in \(collection) {\n            "
                text += branches.map { "if \($0.test) {\n                \($0.body)\n            }" }.joined(separator: " else ")
                return text + "\n        }"
            }
            // A field both set and added to is summed as JSON before it is read as the
            // property's type; that rare update goes through fields.
            let overlap = addDelta.isEmpty || setField.isEmpty ? "" : """

                        if PumphouseUnit.CacheFieldCoding.overlap(fields, deltas) {
                            try self.applyConverting(fields: fields, deltas: deltas)
                            return
                        }
                """
            applyBody = overlap + loop("member", "fields", setField) + loop("delta", "deltas", addDelta)
        }
        let conformance = protocols.isEmpty ? "" : ": " + protocols.map(\.trimmedDescription).joined(separator: ", ")
        let encodeBody = encode.isEmpty ? "" : "\n" + encode.map { "            " + $0 }.joined(separator: "\n")
        let decodeBody = decode.isEmpty ? "" : "\n" + decode.map { "        " + $0 }.joined(separator: "\n")
        let source: DeclSyntax = """
            extension \(type.trimmed)\(raw: conformance) {
                \(raw: access)var fields: PumphouseUnit.CacheFieldCoding.Fields {
                    get throws {
                        var members: [PumphouseUnit.CacheFieldCoding.Member] = []
                        members.reserveCapacity(\(raw: properties.count))\(raw: encodeBody)
                        return PumphouseUnit.CacheFieldCoding.Fields(members)
                    }
                }

                \(raw: access)init(fields: PumphouseUnit.CacheFieldCoding.Fields) throws {\(raw: decodeBody)
                }

                \(raw: access)mutating func apply(fields: PumphouseUnit.CacheFieldCoding.Fields, deltas: PumphouseUnit.CacheFieldCoding.Fields) throws {\(raw: applyBody)
                }
            }
            """
        guard let extensionDecl = source.as(ExtensionDeclSyntax.self) else { return [] }
        return [extensionDecl]
    }

    struct StoredProperty {
        var identifier: String
        /// The name without backticks: what Codable would call it too.
        var name: String
        var jsonName: String
        var hasInitialValue: Bool
        /// A `let` with a value of its own cannot be assigned again; like Codable, it is
        /// written but not read back.
        var decodable: Bool
        var isLet: Bool
        var node: Syntax
    }

    static func storedProperties(of variable: VariableDeclSyntax, context: some MacroExpansionContext) -> [StoredProperty] {
        let modifiers = variable.modifiers.map(\.name.tokenKind)
        if modifiers.contains(.keyword(.static)) || modifiers.contains(.keyword(.class)) { return [] }
        if modifiers.contains(.keyword(.lazy)) { return [] }
        let isLet = variable.bindingSpecifier.tokenKind == .keyword(.let)
        var found: [StoredProperty] = []
        for binding in variable.bindings {
            if let accessors = binding.accessorBlock {
                // Observers keep storage; any other accessor makes the property computed.
                guard case .accessors(let list) = accessors.accessors,
                    list.allSatisfy({ [.keyword(.willSet), .keyword(.didSet)].contains($0.accessorSpecifier.tokenKind) })
                else { continue }
            }
            guard let pattern = binding.pattern.as(IdentifierPatternSyntax.self) else {
                context.diagnose(Diagnostic(node: binding.pattern, message: CacheFieldsDiagnostic.tuplePattern))
                continue
            }
            let identifier = pattern.identifier.text
            let name = identifier.hasPrefix("`") && identifier.hasSuffix("`") && identifier.count > 1
                ? String(identifier.dropFirst().dropLast()) : identifier
            let hasInitialValue = binding.initializer != nil
            found.append(StoredProperty(
                identifier: identifier, name: name, jsonName: name, hasInitialValue: hasInitialValue,
                decodable: !(isLet && hasInitialValue), isLet: isLet, node: Syntax(binding)
            ))
        }
        return found
    }

    /// The JSON name of each property a nested `CodingKeys` enum lists (its raw value, or
    /// the case name), or nil when the struct declares none.
    static func codingKeys(in structDecl: StructDeclSyntax, context: some MacroExpansionContext) -> [String: String]? {
        for member in structDecl.memberBlock.members {
            guard let enumDecl = member.decl.as(EnumDeclSyntax.self), enumDecl.name.text == "CodingKeys" else { continue }
            var names: [String: String] = [:]
            for enumMember in enumDecl.memberBlock.members {
                guard let cases = enumMember.decl.as(EnumCaseDeclSyntax.self) else { continue }
                for element in cases.elements {
                    let caseName = element.name.text.trimmingBackticks
                    guard let rawValue = element.rawValue else {
                        names[caseName] = caseName
                        continue
                    }
                    // The value the literal stands for, its escapes undone.
                    guard let literal = rawValue.value.as(StringLiteralExprSyntax.self), let value = literal.representedLiteralValue else {
                        context.diagnose(Diagnostic(node: rawValue.value, message: CacheFieldsDiagnostic.codingKeyNotLiteral(caseName)))
                        continue
                    }
                    names[caseName] = value
                }
            }
            return names
        }
        return nil
    }

    /// Members as visible as the type: a public entity's conversion is part of its
    /// `CacheEntity` conformance, which other modules use.
    static func accessPrefix(of structDecl: StructDeclSyntax) -> String {
        for modifier in structDecl.modifiers {
            switch modifier.name.tokenKind {
            case .keyword(.public), .keyword(.open): return "public "
            case .keyword(.package): return "package "
            default: continue
            }
        }
        return ""
    }

    /// A Swift string literal for a JSON name, escaped so any name survives.
    static func stringLiteral(_ text: String) -> String {
        var escaped = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            case "\r": escaped += "\\r"
            case "\t": escaped += "\\t"
            default:
                if scalar.value < 0x20 {
                    escaped += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    escaped.unicodeScalars.append(scalar)
                }
            }
        }
        return escaped + "\""
    }
}

extension String {
    fileprivate var trimmingBackticks: String {
        hasPrefix("`") && hasSuffix("`") && count > 1 ? String(dropFirst().dropLast()) : self
    }
}

enum CacheFieldsDiagnostic: DiagnosticMessage {
    case notAStruct
    case tuplePattern
    case notInCodingKeys(String)
    case codingKeyNotLiteral(String)

    var message: String {
        switch self {
        case .notAStruct:
            "@CacheFields applies to a struct; for a class or an enum, write `fields` and `init(fields:)` by hand or use CodableCacheEntity"
        case .tuplePattern:
            "@CacheFields cannot convert a property declared with a tuple pattern; declare each property on its own"
        case .notInCodingKeys(let name):
            "'\(name)' is not in CodingKeys and has no initial value, so init(fields:) could not set it; add it to CodingKeys or give it a default"
        case .codingKeyNotLiteral(let name):
            "CodingKeys.\(name) must have a plain string literal as raw value for @CacheFields to know its JSON name"
        }
    }

    var diagnosticID: MessageID {
        let id = switch self {
        case .notAStruct: "notAStruct"
        case .tuplePattern: "tuplePattern"
        case .notInCodingKeys: "notInCodingKeys"
        case .codingKeyNotLiteral: "codingKeyNotLiteral"
        }
        return MessageID(domain: "PumphouseUnitMacros", id: id)
    }

    var severity: DiagnosticSeverity { .error }
}

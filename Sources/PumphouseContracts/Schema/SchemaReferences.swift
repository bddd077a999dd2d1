import Foundation

/// Where each `$ref` of one schema document leads, resolved as draft 2020-12 resolves
/// references: against the base URI of the reference's location (the nearest `$id` at
/// or above it, else the document's), to a resource the document embeds (the root, or a
/// subschema with an `$id` of its own), then within that resource to a JSON pointer or a
/// `$anchor`.
///
/// Each target is named by its JSON pointer from the document's root, `#`-prefixed
/// (`#/properties/a`, `#` for the root): the name the rest of the checker knows
/// definitions by, so nothing after parsing needs to know about URIs. A reference that
/// leads out of the document (a remote schema, a metaschema) is refused: the checker
/// never fetches anything.
struct SchemaReferences: Sendable {
    /// The base of a document that names none: relative `$id`s and references resolve
    /// against it, and it never leaves the document.
    static let documentBase = URL(string: "https://pumphouse.invalid/schema.json")!

    /// By the JSON pointer of each schema holding a `$ref` (by its bytes: two property
    /// names that differ only in normalization are two locations): its target,
    /// `#`-prefixed.
    private(set) var targets: [ExactKey: String] = [:]
    /// Each target's schema as the document holds it, by the target (`#`-prefixed), for
    /// the parser to make a definition of.
    private(set) var targetSchemas: [ExactKey: JSONValue] = [:]
    /// By the JSON pointer of each schema holding a `$dynamicRef`: where it leads.
    private(set) var dynamicTargets: [ExactKey: DynamicReference] = [:]
    /// Every resource by its `#`-pointer, with its `$dynamicAnchor`s (name to `#`-pointer);
    /// each anchored schema is among `targetSchemas`, since a `$dynamicRef` may lead there.
    private(set) var dynamicAnchors: [ExactKey: [ExactKey: String]] = [:]

    /// The keywords whose value is a schema, and those whose value is an object or an
    /// array of schemas: only these are walked, so data (`const`, `enum`, `default`,
    /// `examples`) that happens to hold `$id` or `$ref` members is never taken for a schema.
    private static let schemaValued: Set<String> = [
        "items", "additionalItems", "contains", "additionalProperties", "propertyNames", "not", "if", "then", "else",
        "unevaluatedItems", "unevaluatedProperties",
    ]
    private static let schemaMaps: Set<String> = ["properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies"]
    private static let schemaLists: Set<String> = ["prefixItems", "allOf", "anyOf", "oneOf", "items"]

    private struct Reference {
        var pointer: String
        var text: String
        var base: URL
        var dynamic: Bool
    }

    init(_ document: JSONValue) throws(SchemaError) {
        var resources: [ExactKey: String] = [:]
        var anchors: [ExactKey: String] = [:]
        // The anchors `$dynamicAnchor` declared, by the same key as `anchors`.
        var dynamicNames = Set<ExactKey>()
        var references: [Reference] = []
        // Where schemas are: a reference may lead only there, not into data.
        var schemas: [ExactKey: JSONValue] = [:]

        func walk(_ value: JSONValue, _ pointer: String, base: URL, resource: String) throws(SchemaError) {
            if Self.isSchema(value) { schemas[ExactKey(pointer)] = value }
            guard case .object(let object) = value else { return }
            var base = base
            var resource = resource
            if let id = object["$id"] {
                guard case .string(let text) = id, let resolved = URL(string: text, relativeTo: base)?.absoluteURL else {
                    throw SchemaError(pointer: "\(pointer)/$id", message: "must be a URI reference")
                }
                guard resolved.fragment?.isEmpty ?? true else {
                    throw SchemaError(pointer: "\(pointer)/$id", message: "must not carry a fragment (\"\(text)\"); name a location with $anchor instead")
                }
                base = resolved
                resource = pointer
                resources[ExactKey(Self.resource(of: resolved))] = pointer
                dynamicAnchors[ExactKey("#" + pointer)] = [:]
            }
            for keyword in ["$anchor", "$dynamicAnchor"] {
                guard let anchor = object[keyword] else { continue }
                guard case .string(let name) = anchor, Self.isAnchorName(name) else {
                    throw SchemaError(pointer: "\(pointer)/\(keyword)", message: "must be a name of letters, digits, '-', '_', '.' and ':', starting with a letter or '_'")
                }
                let key = ExactKey("\(Self.resource(of: base))#\(name)")
                // `$anchor` and `$dynamicAnchor` of one name on one schema name one location.
                guard anchors[key].map({ $0.isSameBytes(as: pointer) }) ?? true else {
                    throw SchemaError(pointer: "\(pointer)/\(keyword)", message: "\"\(name)\" names two locations of the same resource")
                }
                anchors[key] = pointer
                if keyword == "$dynamicAnchor" {
                    dynamicNames.insert(key)
                    dynamicAnchors[ExactKey("#" + resource), default: [:]][ExactKey(name)] = "#" + pointer
                    targetSchemas[ExactKey("#" + pointer)] = value
                }
            }
            for keyword in ["$ref", "$dynamicRef"] {
                guard let ref = object[keyword] else { continue }
                guard case .string(let text) = ref else { throw SchemaError(pointer: "\(pointer)/\(keyword)", message: "must be a URI reference (a string)") }
                references.append(Reference(pointer: pointer, text: text, base: base, dynamic: keyword == "$dynamicRef"))
            }
            for member in object {
                let path = "\(pointer)/\(SchemaParser.escape(member.name))"
                let name = member.name
                if Self.schemaMaps.contains(where: { $0.isSameBytes(as: name) }), case .object(let entries) = member.value {
                    for entry in entries { try walk(entry.value, "\(path)/\(SchemaParser.escape(entry.name))", base: base, resource: resource) }
                } else if Self.schemaLists.contains(where: { $0.isSameBytes(as: name) }), case .array(let items) = member.value {
                    for (index, item) in items.enumerated() { try walk(item, "\(path)/\(index)", base: base, resource: resource) }
                } else if Self.schemaValued.contains(where: { $0.isSameBytes(as: name) }) {
                    try walk(member.value, path, base: base, resource: resource)
                }
            }
        }

        let rootBase = Self.documentBase
        resources[ExactKey(Self.resource(of: rootBase))] = ""
        dynamicAnchors["#"] = [:]
        try walk(document, "", base: rootBase, resource: "")

        for reference in references {
            let keyword = reference.dynamic ? "$dynamicRef" : "$ref"
            let at = "\(reference.pointer)/\(keyword)"
            guard let url = URL(string: reference.text, relativeTo: reference.base)?.absoluteURL else {
                throw SchemaError(pointer: at, message: "\"\(reference.text)\" is not a URI reference")
            }
            let named = Self.resource(of: url)
            guard let resource = resources[ExactKey(named)] else {
                throw SchemaError(
                    pointer: at,
                    message: "only references within the document are supported: \"\(reference.text)\" leads to \(named), which this document does not embed (fetching remote schemas is not supported)"
                )
            }
            let fragment = url.fragment(percentEncoded: false) ?? ""
            let anchorKey = ExactKey("\(named)#\(fragment)")
            let target: String
            if fragment.isEmpty {
                target = resource
            } else if fragment.hasPrefix("/") {
                target = resource + fragment
            } else if let anchored = anchors[anchorKey] {
                target = anchored
            } else {
                throw SchemaError(pointer: at, message: "\"\(reference.text)\" names no $anchor \"\(fragment)\" in its resource")
            }
            guard let schema = schemas[ExactKey(target)] else {
                throw SchemaError(pointer: at, message: "\(keyword) \"\(reference.text)\" points at no schema in this document")
            }
            if reference.dynamic {
                let anchor = dynamicNames.contains(anchorKey) ? ExactKey(fragment) : nil
                dynamicTargets[ExactKey(reference.pointer)] = DynamicReference(target: "#" + target, anchor: anchor)
            } else {
                targets[ExactKey(reference.pointer)] = "#" + target
            }
            targetSchemas[ExactKey("#" + target)] = schema
        }
    }

    private static func isSchema(_ value: JSONValue) -> Bool {
        switch value {
        case .object, .bool: true
        default: false
        }
    }

    /// The resource a URI names: the URI without its fragment.
    private static func resource(of url: URL) -> String {
        let text = url.absoluteString
        guard let hash = text.firstIndex(of: "#") else { return text }
        return String(text[..<hash])
    }

    /// An anchor's name: letters or `_` first, then letters, digits, `-`, `_`, `.`, `:`.
    private static func isAnchorName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCII, first.properties.isAlphabetic || first == "_" else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.:".unicodeScalars.contains($0)) }
    }
}

/// Parses a JSON Schema document in Pumphouse's supported subset.
///
/// Keywords outside the subset are errors, not silently ignored: a schema that says
/// more than the checker understands would pass compatibility checks it should fail.
/// Misspelled keywords (`requried`) are caught the same way.
public struct SchemaParser: Sendable {
    /// Keywords that only annotate; they never affect validation or compatibility.
    /// Matched by bytes, as every lookup of a keyword's value is. (`$id`, `$anchor` and
    /// `$dynamicAnchor` name locations for references, which `SchemaReferences` resolves
    /// before parsing.)
    static let annotations: Set<ExactKey> = [
        "$schema", "$id", "$anchor", "$dynamicAnchor", "$comment", "title", "description", "examples", "deprecated",
        "readOnly", "writeOnly", "format", "contentEncoding", "contentMediaType", "default",
    ]
    static let supported: Set<ExactKey> = annotations.union([
        "$ref", "$dynamicRef", "$defs", "definitions", "type", "enum", "const",
        "minLength", "maxLength", "pattern",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
        "items", "prefixItems", "additionalItems", "minItems", "maxItems", "uniqueItems", "contains", "minContains", "maxContains",
        "properties", "patternProperties", "propertyNames", "required", "additionalProperties", "minProperties", "maxProperties",
        "dependentRequired", "dependentSchemas", "dependencies",
        "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "unevaluatedProperties", "unevaluatedItems",
    ])
    /// What a schema may hold beside a reference and still be only that reference.
    static let beside: Set<ExactKey> = annotations.union(["$ref", "$dynamicRef", "$defs", "definitions"])

    /// Where the document being parsed has its `$ref`s lead; set by `parse`.
    private var references: SchemaReferences?

    public init() {}

    /// The `$schema` values accepted: draft 2020-12 and draft-07, with or without the
    /// empty fragment.
    static let dialects = [
        "https://json-schema.org/draft/2020-12/schema", "https://json-schema.org/draft/2020-12/schema#",
        "http://json-schema.org/draft-07/schema", "http://json-schema.org/draft-07/schema#",
    ]

    public func parse(_ bytes: [UInt8]) throws(SchemaError) -> SchemaDocument {
        let json: JSONValue
        do {
            json = try JSONParser().parse(bytes)
        } catch {
            throw SchemaError(pointer: "", message: "\(error)")
        }
        return try parse(json)
    }

    public func parse(_ json: JSONValue) throws(SchemaError) -> SchemaDocument {
        var parser = self
        return try parser.parseDocument(json)
    }

    private mutating func parseDocument(_ json: JSONValue) throws(SchemaError) -> SchemaDocument {
        var definitions: [String: JSONSchema] = [:]
        if case .object(let object) = json {
            // The dialects by their exact URIs: another metaschema (even one whose address
            // says 2020-12) may switch vocabularies off, which this validator cannot honour.
            if let dialect = object["$schema"], !Self.dialects.contains(where: { dialect.stringValue?.isSameBytes(as: $0) == true }) {
                throw SchemaError(
                    pointer: "/$schema",
                    message: "dialect \(dialect.stringValue.map { "\"\($0)\"" } ?? "of type \(dialect.typeName)") is not supported (custom metaschemas and their vocabularies are not); use https://json-schema.org/draft/2020-12/schema"
                )
            }
        }
        let references = try SchemaReferences(json)
        self.references = references
        if case .object(let object) = json {
            for keyword in ["$defs", "definitions"] {
                guard let defs = object[keyword] else { continue }
                guard case .object(let entries) = defs else {
                    throw SchemaError(pointer: "/\(keyword)", message: "must be an object of schemas")
                }
                for entry in entries {
                    let target = "#/\(keyword)/\(Self.escape(entry.name))"
                    guard try !Self.isDefined(target, in: definitions) else { continue }
                    definitions[target] = try schema(entry.value, at: String(target.dropFirst()))
                }
            }
        }
        // Every other location a reference leads to (a property's schema, a nested
        // definition, an anchored or embedded resource) becomes a definition by its pointer.
        for (key, value) in references.targetSchemas.sorted(by: { $0.key < $1.key }) where !key.text.isSameBytes(as: "#") {
            let target = key.text
            guard try !Self.isDefined(target, in: definitions) else { continue }
            definitions[target] = try schema(value, at: String(target.dropFirst()))
        }
        let document = SchemaDocument(root: try schema(json, at: ""), definitions: definitions, dynamicAnchors: references.dynamicAnchors)
        try checkReferences(document)
        return document
    }

    /// Whether `target` has its definition already. Definitions are looked up by String,
    /// which takes canonically equivalent pointers for one: two locations that differ only
    /// so (two `$defs` names, say) are refused, so that neither's schema stands in for
    /// the other's.
    static func isDefined(_ target: String, in definitions: [String: JSONSchema]) throws(SchemaError) -> Bool {
        // The lookup finds a canonically equivalent key too; its bytes tell which it is.
        guard let index = definitions.index(forKey: target) else { return false }
        let known = definitions[index].key
        guard known.isSameBytes(as: target) else {
            throw SchemaError(pointer: String(target.dropFirst()), message: "and \(known.dropFirst()) differ only in Unicode normalization, and a reference could not tell them apart; rename one of them")
        }
        return true
    }

    func schema(_ json: JSONValue, at pointer: String) throws(SchemaError) -> JSONSchema {
        switch json {
        case .bool(let b): return .always(b)
        case .object(let object): return .node(try node(object, at: pointer))
        default: throw SchemaError(pointer: pointer, message: "a schema must be an object or a boolean, not \(json.typeName)")
        }
    }

    func node(_ object: JSONObject, at pointer: String) throws(SchemaError) -> SchemaNode {
        var node = SchemaNode()
        for member in object where !Self.supported.contains(ExactKey(member.name)) {
            throw SchemaError(pointer: "\(pointer)/\(Self.escape(member.name))", message: "keyword \"\(member.name)\" is not supported (see docs/contracts.md for the supported subset)")
        }
        func at(_ keyword: String) -> String { "\(pointer)/\(keyword)" }
        func count(_ keyword: String) throws(SchemaError) -> Int? {
            guard let value = object[keyword] else { return nil }
            guard case .int(let i) = value, i >= 0, i <= Int64(Int32.max) else {
                throw SchemaError(pointer: at(keyword), message: "must be a non-negative integer")
            }
            return Int(i)
        }
        func number(_ keyword: String) throws(SchemaError) -> Double? {
            guard let value = object[keyword] else { return nil }
            guard let n = value.numberValue else {
                if case .bool = value {
                    throw SchemaError(pointer: at(keyword), message: "the boolean form is draft-04; use the 2020-12 numeric form")
                }
                throw SchemaError(pointer: at(keyword), message: "must be a number")
            }
            return n
        }
        func schemas(_ keyword: String) throws(SchemaError) -> [JSONSchema]? {
            guard let value = object[keyword] else { return nil }
            guard case .array(let items) = value, !items.isEmpty else {
                throw SchemaError(pointer: at(keyword), message: "must be a non-empty array of schemas")
            }
            var result: [JSONSchema] = []
            for (index, item) in items.enumerated() { result.append(try schema(item, at: "\(at(keyword))/\(index)")) }
            return result
        }
        func strings(_ value: JSONValue, at path: String) throws(SchemaError) -> [String] {
            guard case .array(let items) = value else { throw SchemaError(pointer: path, message: "must be an array of strings") }
            var result: [String] = []
            for item in items {
                guard case .string(let s) = item else { throw SchemaError(pointer: path, message: "must be an array of strings") }
                guard !result.contains(where: { $0.isSameBytes(as: s) }) else { throw SchemaError(pointer: path, message: "lists \"\(s)\" twice") }
                result.append(s)
            }
            return result
        }

        if object["$ref"] != nil {
            // `parse` resolved every reference of the document before the nodes are made.
            guard let target = references?.targets[ExactKey(pointer)] else {
                throw SchemaError(pointer: at("$ref"), message: "a reference can only be resolved within its whole document")
            }
            node.ref = target
        }
        if object["$dynamicRef"] != nil {
            guard let target = references?.dynamicTargets[ExactKey(pointer)] else {
                throw SchemaError(pointer: at("$dynamicRef"), message: "a reference can only be resolved within its whole document")
            }
            node.dynamicRef = target
        }
        if object["$id"] != nil { node.resource = "#" + pointer }
        if let type = object["type"] {
            var set = Set<JSONType>()
            let names: [JSONValue] = if case .array(let list) = type { list } else { [type] }
            for name in names {
                guard case .string(let text) = name, let parsed = JSONType(rawValue: text) else {
                    throw SchemaError(pointer: at("type"), message: "\(name) is not a JSON type (null, boolean, integer, number, string, array, object)")
                }
                set.insert(parsed)
            }
            guard !set.isEmpty else { throw SchemaError(pointer: at("type"), message: "must name at least one type") }
            node.types = set
        }
        if let values = object["enum"] {
            guard case .array(let list) = values, !list.isEmpty else {
                throw SchemaError(pointer: at("enum"), message: "must be a non-empty array")
            }
            node.enumValues = list
        }
        if let value = object["const"] {
            if let existing = node.enumValues {
                node.enumValues = existing.filter { $0.jsonEquals(value) }
            } else {
                node.enumValues = [value]
            }
        }
        node.defaultValue = object["default"]
        node.minLength = try count("minLength")
        node.maxLength = try count("maxLength")
        if let pattern = object["pattern"] {
            guard case .string(let text) = pattern else { throw SchemaError(pointer: at("pattern"), message: "must be a string") }
            try Self.checkRegex(text, at: at("pattern"))
            node.pattern = text
        }
        node.minimum = try number("minimum")
        node.maximum = try number("maximum")
        node.exclusiveMinimum = try number("exclusiveMinimum")
        node.exclusiveMaximum = try number("exclusiveMaximum")
        if let multiple = try number("multipleOf") {
            guard multiple > 0 else { throw SchemaError(pointer: at("multipleOf"), message: "must be greater than 0") }
            node.multipleOf = multiple
        }

        // Arrays: 2020-12 (`prefixItems` + `items`) and draft-07 (`items` array + `additionalItems`).
        if let prefix = try schemas("prefixItems") {
            node.prefixItems = prefix
            if object["additionalItems"] != nil {
                throw SchemaError(pointer: at("additionalItems"), message: "use \"items\" after \"prefixItems\" (2020-12), not \"additionalItems\"")
            }
        }
        if let items = object["items"] {
            if case .array = items {
                guard node.prefixItems.isEmpty else { throw SchemaError(pointer: at("items"), message: "cannot be an array beside \"prefixItems\"") }
                node.prefixItems = try schemas("items") ?? []
                if let additional = object["additionalItems"] {
                    node.items = try schema(additional, at: at("additionalItems"))
                }
            } else {
                node.items = try schema(items, at: at("items"))
                if object["additionalItems"] != nil {
                    throw SchemaError(pointer: at("additionalItems"), message: "has no effect unless \"items\" is an array")
                }
            }
        } else if object["additionalItems"] != nil, object["prefixItems"] == nil {
            throw SchemaError(pointer: at("additionalItems"), message: "has no effect unless \"items\" is an array")
        }
        node.minItems = try count("minItems")
        node.maxItems = try count("maxItems")
        if let contains = object["contains"] {
            node.contains = try schema(contains, at: at("contains"))
            node.minContains = try count("minContains")
            node.maxContains = try count("maxContains")
        } else {
            for keyword in ["minContains", "maxContains"] where object[keyword] != nil {
                throw SchemaError(pointer: at(keyword), message: "has no effect without \"contains\"; add the contains schema it counts, or remove it")
            }
        }
        if let unique = object["uniqueItems"] {
            guard case .bool(let b) = unique else { throw SchemaError(pointer: at("uniqueItems"), message: "must be a boolean") }
            node.uniqueItems = b
        }

        if let properties = object["properties"] {
            guard case .object(let entries) = properties else {
                throw SchemaError(pointer: at("properties"), message: "must be an object of schemas")
            }
            for entry in entries {
                node.properties.append((entry.name, try schema(entry.value, at: "\(at("properties"))/\(Self.escape(entry.name))")))
            }
        }
        if let patterns = object["patternProperties"] {
            guard case .object(let entries) = patterns else {
                throw SchemaError(pointer: at("patternProperties"), message: "must be an object of schemas keyed by regular expressions")
            }
            for entry in entries {
                let pointer = "\(at("patternProperties"))/\(Self.escape(entry.name))"
                try Self.checkRegex(entry.name, at: pointer)
                node.patternProperties.append((entry.name, try schema(entry.value, at: pointer)))
            }
        }
        if let condition = object["if"] {
            node.ifSchema = try schema(condition, at: at("if"))
            node.thenSchema = try object["then"].map { json throws(SchemaError) in try schema(json, at: at("then")) }
            node.elseSchema = try object["else"].map { json throws(SchemaError) in try schema(json, at: at("else")) }
        } else {
            for keyword in ["then", "else"] where object[keyword] != nil {
                throw SchemaError(pointer: at(keyword), message: "has no effect without \"if\"; add the condition it depends on, or remove it")
            }
        }
        if let names = object["propertyNames"] { node.propertyNames = try schema(names, at: at("propertyNames")) }
        if let required = object["required"] { node.required = try strings(required, at: at("required")) }
        if let additional = object["additionalProperties"] {
            node.additionalProperties = try schema(additional, at: at("additionalProperties"))
        }
        node.minProperties = try count("minProperties")
        node.maxProperties = try count("maxProperties")
        if let dependent = object["dependentRequired"] {
            guard case .object(let entries) = dependent else { throw SchemaError(pointer: at("dependentRequired"), message: "must be an object of string arrays") }
            for entry in entries { node.dependentRequired[ExactKey(entry.name)] = try strings(entry.value, at: "\(at("dependentRequired"))/\(Self.escape(entry.name))") }
        }
        if let dependent = object["dependentSchemas"] {
            guard case .object(let entries) = dependent else { throw SchemaError(pointer: at("dependentSchemas"), message: "must be an object of schemas") }
            for entry in entries { node.dependentSchemas[ExactKey(entry.name)] = try schema(entry.value, at: "\(at("dependentSchemas"))/\(Self.escape(entry.name))") }
        }
        if let dependencies = object["dependencies"] {
            // draft-07: arrays are dependentRequired, schemas are dependentSchemas.
            guard case .object(let entries) = dependencies else { throw SchemaError(pointer: at("dependencies"), message: "must be an object") }
            for entry in entries {
                let path = "\(at("dependencies"))/\(Self.escape(entry.name))"
                if case .array = entry.value {
                    node.dependentRequired[ExactKey(entry.name)] = try strings(entry.value, at: path)
                } else {
                    node.dependentSchemas[ExactKey(entry.name)] = try schema(entry.value, at: path)
                }
            }
        }

        node.allOf = try schemas("allOf")
        node.anyOf = try schemas("anyOf")
        node.oneOf = try schemas("oneOf")
        if let not = object["not"] { node.not = try schema(not, at: at("not")) }
        if let rest = object["unevaluatedProperties"] { node.unevaluatedProperties = try schema(rest, at: at("unevaluatedProperties")) }
        if let rest = object["unevaluatedItems"] { node.unevaluatedItems = try schema(rest, at: at("unevaluatedItems")) }
        return Self.separatingReferences(node, besideOthers: object.contains { !Self.beside.contains(ExactKey($0.name)) })
    }

    /// A reference beside other keywords (or beside the other kind of reference): all
    /// must hold, which is what allOf means, so each reference becomes a part of its own.
    /// `unevaluated*` stays on the whole, since it sees what the references evaluated;
    /// so does the resource, entered before either part.
    static func separatingReferences(_ node: SchemaNode, besideOthers: Bool) -> SchemaNode {
        var references: [JSONSchema] = []
        if let ref = node.ref {
            var part = SchemaNode()
            part.ref = ref
            references.append(.node(part))
        }
        if let dynamicRef = node.dynamicRef {
            var part = SchemaNode()
            part.dynamicRef = dynamicRef
            references.append(.node(part))
        }
        guard references.count > 1 || (!references.isEmpty && besideOthers) else { return node }
        var sibling = node
        sibling.ref = nil
        sibling.dynamicRef = nil
        sibling.resource = nil
        sibling.unevaluatedProperties = nil
        sibling.unevaluatedItems = nil
        var combined = SchemaNode()
        combined.defaultValue = node.defaultValue
        combined.resource = node.resource
        combined.unevaluatedProperties = node.unevaluatedProperties
        combined.unevaluatedItems = node.unevaluatedItems
        combined.allOf = references + [.node(sibling)]
        return combined
    }

    func checkReferences(_ document: SchemaDocument) throws(SchemaError) {
        var problem: SchemaError?
        func visit(_ schema: JSONSchema, _ pointer: String) {
            guard problem == nil, case .node(let node) = schema else { return }
            if let ref = node.ref, ref != "#", document.definitions[ref] == nil {
                problem = SchemaError(pointer: pointer, message: "$ref \"\(ref)\" points at no definition in this document")
            }
            node.properties.forEach { visit($0.schema, "\(pointer)/properties/\(Self.escape($0.name))") }
            node.prefixItems.enumerated().forEach { visit($1, "\(pointer)/prefixItems/\($0)") }
            node.items.map { visit($0, "\(pointer)/items") }
            node.additionalProperties.map { visit($0, "\(pointer)/additionalProperties") }
            node.patternProperties.forEach { visit($0.schema, "\(pointer)/patternProperties/\(Self.escape($0.pattern))") }
            node.propertyNames.map { visit($0, "\(pointer)/propertyNames") }
            node.contains.map { visit($0, "\(pointer)/contains") }
            node.dependentSchemas.forEach { visit($1, "\(pointer)/dependentSchemas/\(Self.escape($0.text))") }
            for (keyword, list) in [("allOf", node.allOf), ("anyOf", node.anyOf), ("oneOf", node.oneOf)] {
                list?.enumerated().forEach { visit($1, "\(pointer)/\(keyword)/\($0)") }
            }
            node.not.map { visit($0, "\(pointer)/not") }
            node.unevaluatedProperties.map { visit($0, "\(pointer)/unevaluatedProperties") }
            node.unevaluatedItems.map { visit($0, "\(pointer)/unevaluatedItems") }
            for (keyword, branch) in [("if", node.ifSchema), ("then", node.thenSchema), ("else", node.elseSchema)] {
                branch.map { visit($0, "\(pointer)/\(keyword)") }
            }
        }
        visit(document.root, "")
        for (pointer, schema) in document.definitions { visit(schema, String(pointer.dropFirst())) }
        if let problem { throw problem }
        try checkCycles(document)
    }

    /// A reference that leads back to itself without stepping into a property or item
    /// would make validation recurse forever on any value.
    func checkCycles(_ document: SchemaDocument) throws(SchemaError) {
        func sameValueChildren(_ schema: JSONSchema) -> [JSONSchema] {
            guard case .node(let node) = schema else { return [] }
            return (node.allOf ?? []) + (node.anyOf ?? []) + (node.oneOf ?? []) + (node.not.map { [$0] } ?? []) + Array(node.dependentSchemas.values)
                + [node.ifSchema, node.thenSchema, node.elseSchema].compactMap { $0 }
        }
        // A `$dynamicRef` may lead to any schema declaring its anchor.
        func refs(reachableFrom schema: JSONSchema) -> Set<String> {
            var found = Set<String>()
            var stack = [schema]
            while let next = stack.popLast() {
                if case .node(let node) = next {
                    if let ref = node.ref { found.insert(ref) }
                    if let dynamicRef = node.dynamicRef { found.formUnion(document.candidates(of: dynamicRef)) }
                }
                stack += sameValueChildren(next)
            }
            return found
        }
        let targets = document.definitions.merging(["#": document.root]) { first, _ in first }
        for (start, _) in targets.sorted(by: { $0.key < $1.key }) {
            var seen: Set<String> = [start]
            var frontier = [start]
            while let ref = frontier.popLast() {
                guard let target = targets[ref] else { continue }
                for next in refs(reachableFrom: target) {
                    if next == start {
                        throw SchemaError(pointer: start == "#" ? "" : String(start.dropFirst()), message: "$ref \"\(start)\" refers back to itself without descending into a property or item; validation would never end")
                    }
                    if seen.insert(next).inserted { frontier.append(next) }
                }
            }
        }
    }

    /// `pattern`s and `patternProperties` keys must compile, or validation could not
    /// match them.
    static func checkRegex(_ text: String, at pointer: String) throws(SchemaError) {
        guard (try? Regex(text)) != nil else { throw SchemaError(pointer: pointer, message: "\"\(text)\" is not a valid regular expression") }
    }

    /// JSON pointer escaping (RFC 6901).
    static func escape(_ name: String) -> String {
        guard name.utf8.contains(where: { $0 == UInt8(ascii: "~") || $0 == UInt8(ascii: "/") }) else { return name }
        return name.replacing("~", with: "~0").replacing("/", with: "~1")
    }
}

/// A JSON type keyword value.
public enum JSONType: String, Sendable, Hashable, CaseIterable, Comparable {
    case null, boolean, integer, number, string, array, object

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A parsed schema in the supported subset of JSON Schema 2020-12 (docs/contracts.md).
/// Boolean schemas are kept as such: `true` accepts everything, `false` nothing.
public indirect enum JSONSchema: Sendable, Hashable {
    case always(Bool)
    case node(SchemaNode)

    public static let any = JSONSchema.always(true)
}

/// One schema object. Absent keywords are nil (no constraint).
public struct SchemaNode: Sendable, Hashable {
    public var ref: String?
    /// `$dynamicRef`: where it leads depends on the resources evaluation passed through.
    public var dynamicRef: DynamicReference?
    /// This schema's `#`-pointer when it has an `$id` of its own: evaluation entering it
    /// brings the resource's `$dynamicAnchor`s into the dynamic scope.
    public var resource: String?
    /// nil accepts every type.
    public var types: Set<JSONType>?
    /// `enum`, with `const` folded in as a one-value enum.
    public var enumValues: [JSONValue]?
    public var defaultValue: JSONValue?

    public var minLength: Int?
    public var maxLength: Int?
    public var pattern: String?

    public var minimum: Double?
    public var maximum: Double?
    public var exclusiveMinimum: Double?
    public var exclusiveMaximum: Double?
    public var multipleOf: Double?

    /// Positional item schemas (`prefixItems`, or the array form of `items`).
    public var prefixItems: [JSONSchema] = []
    /// Schema of items after the prefix (`items`, or `additionalItems`); nil accepts all.
    public var items: JSONSchema?
    public var minItems: Int?
    public var maxItems: Int?
    public var uniqueItems = false
    /// `contains`: at least `minContains` (1 when absent) and at most `maxContains` items
    /// must match it. Both counts mean nothing without it.
    public var contains: JSONSchema?
    public var minContains: Int?
    public var maxContains: Int?

    /// Declared properties in declaration order.
    public var properties: [(name: String, schema: JSONSchema)] = []
    public var required: [String] = []
    /// `patternProperties` in declaration order: every pattern a member's name matches
    /// (an unanchored search) applies to its value, declared or not.
    public var patternProperties: [(pattern: String, schema: JSONSchema)] = []
    /// Schema for the properties neither declared nor matched by a pattern: nil or `true`
    /// with no patterns is an open content model, `false` a closed one, anything else a
    /// partially open one.
    public var additionalProperties: JSONSchema?
    /// Every member's name, as a JSON string, must match this schema.
    public var propertyNames: JSONSchema?
    public var minProperties: Int?
    public var maxProperties: Int?
    /// Keyed by the trigger's bytes: two names the parser keeps apart stay apart.
    public var dependentRequired: [ExactKey: [String]] = [:]
    public var dependentSchemas: [ExactKey: JSONSchema] = [:]
    /// For the members no keyword of this schema evaluated, here or in a subschema that
    /// applies to the same object and passed (`allOf`, `$ref`, a matching `anyOf`
    /// alternative, the branch `if` took, …).
    public var unevaluatedProperties: JSONSchema?
    /// For the items neither `prefixItems`, `items` nor `contains` evaluated, here or in a
    /// passing subschema applying to the same array.
    public var unevaluatedItems: JSONSchema?

    public var allOf: [JSONSchema]?
    public var anyOf: [JSONSchema]?
    public var oneOf: [JSONSchema]?
    public var not: JSONSchema?
    /// `if`/`then`/`else`: a value `ifSchema` accepts must pass `thenSchema`, any other
    /// `elseSchema` (each absent branch accepts everything).
    public var ifSchema: JSONSchema?
    public var thenSchema: JSONSchema?
    public var elseSchema: JSONSchema?

    public init() {}

    public func property(_ name: String) -> JSONSchema? {
        properties.first { $0.name.isSameBytes(as: name) }?.schema
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.ref.map { ExactKey($0) } == rhs.ref.map { ExactKey($0) } && lhs.dynamicRef == rhs.dynamicRef && lhs.resource.map { ExactKey($0) } == rhs.resource.map { ExactKey($0) }
            && lhs.types == rhs.types && lhs.enumValues == rhs.enumValues && lhs.defaultValue == rhs.defaultValue
            && lhs.minLength == rhs.minLength && lhs.maxLength == rhs.maxLength && lhs.pattern.map { ExactKey($0) } == rhs.pattern.map { ExactKey($0) }
            && lhs.minimum == rhs.minimum && lhs.maximum == rhs.maximum && lhs.exclusiveMinimum == rhs.exclusiveMinimum
            && lhs.exclusiveMaximum == rhs.exclusiveMaximum && lhs.multipleOf == rhs.multipleOf
            && lhs.prefixItems == rhs.prefixItems && lhs.items == rhs.items && lhs.minItems == rhs.minItems
            && lhs.maxItems == rhs.maxItems && lhs.uniqueItems == rhs.uniqueItems
            && lhs.contains == rhs.contains && lhs.minContains == rhs.minContains && lhs.maxContains == rhs.maxContains
            && lhs.propertyNames == rhs.propertyNames
            && lhs.properties.map { ExactKey($0.name) } == rhs.properties.map { ExactKey($0.name) }
            && lhs.properties.map(\.schema) == rhs.properties.map(\.schema)
            && lhs.required.map { ExactKey($0) } == rhs.required.map { ExactKey($0) } && lhs.additionalProperties == rhs.additionalProperties
            && lhs.patternProperties.map { ExactKey($0.pattern) } == rhs.patternProperties.map { ExactKey($0.pattern) }
            && lhs.patternProperties.map(\.schema) == rhs.patternProperties.map(\.schema)
            && lhs.minProperties == rhs.minProperties && lhs.maxProperties == rhs.maxProperties
            && lhs.dependentRequired.mapValues { $0.map { ExactKey($0) } } == rhs.dependentRequired.mapValues { $0.map { ExactKey($0) } } && lhs.dependentSchemas == rhs.dependentSchemas
            && lhs.unevaluatedProperties == rhs.unevaluatedProperties && lhs.unevaluatedItems == rhs.unevaluatedItems
            && lhs.allOf == rhs.allOf && lhs.anyOf == rhs.anyOf && lhs.oneOf == rhs.oneOf && lhs.not == rhs.not
            && lhs.ifSchema == rhs.ifSchema && lhs.thenSchema == rhs.thenSchema && lhs.elseSchema == rhs.elseSchema
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(types)
        hasher.combine(properties.map { ExactKey($0.name) })
        hasher.combine(required.map { ExactKey($0) })
    }
}

/// A `$dynamicRef`, resolved as far as the document alone decides it.
public struct DynamicReference: Sendable, Hashable {
    /// The `#`-pointer it leads to as a `$ref` would.
    public var target: String
    /// The `$dynamicAnchor` name when `target` declares one of that name (the "bookend"
    /// 2020-12 asks for): the outermost resource in the dynamic scope declaring it then
    /// wins. nil: the reference is a plain `$ref` to `target`.
    public var anchor: ExactKey?

    public init(target: String, anchor: ExactKey?) {
        self.target = target
        self.anchor = anchor
    }

    /// By bytes: two targets that differ only in Unicode normalization are two locations.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.target.isSameBytes(as: rhs.target) && lhs.anchor == rhs.anchor
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(ExactKey(target))
        hasher.combine(anchor)
    }
}

/// A whole schema file: the root plus the definitions `$ref` can point at.
public struct SchemaDocument: Sendable, Hashable {
    public var root: JSONSchema
    /// Keyed by JSON pointer, e.g. `#/$defs/Money`.
    public var definitions: [String: JSONSchema]
    /// Every schema resource (the root `#` and each subschema with an `$id`, by its
    /// `#`-pointer) with the `$dynamicAnchor`s it declares, name to `#`-pointer; each
    /// anchored schema is also a definition.
    public var dynamicAnchors: [ExactKey: [ExactKey: String]]

    public init(root: JSONSchema, definitions: [String: JSONSchema] = [:], dynamicAnchors: [ExactKey: [ExactKey: String]] = [:]) {
        self.root = root
        self.definitions = definitions
        self.dynamicAnchors = dynamicAnchors
    }

    /// The schema a reference's target (a `#`-pointer) names.
    func schema(at target: String) -> JSONSchema? {
        target == "#" ? root : definitions[target]
    }

    /// The resource a `#`-pointer lies in: the nearest resource at or above it.
    func resource(of pointer: String) -> ExactKey {
        var best: ExactKey = "#"
        for resource in dynamicAnchors.keys where resource.text.utf8.count > best.text.utf8.count {
            let bytes = resource.text.utf8
            guard pointer.utf8.starts(with: bytes) else { continue }
            let rest = pointer.utf8.dropFirst(bytes.count)
            if rest.isEmpty || rest.first == UInt8(ascii: "/") { best = resource }
        }
        return best
    }

    /// Every schema a `$dynamicRef` may lead to, whatever the dynamic scope: its target
    /// and, when bookended, each schema declaring its anchor.
    public func candidates(of reference: DynamicReference) -> [String] {
        guard let anchor = reference.anchor else { return [reference.target] }
        let anchored = dynamicAnchors.sorted { $0.key < $1.key }.compactMap { $0.value[anchor] }
        return [reference.target] + anchored.filter { !$0.isSameBytes(as: reference.target) }
    }

    /// Follows `$ref`s (a schema that is only a `$ref`, or one with a `$ref` beside other
    /// keywords, which must then hold too; the parser records the latter as `allOf`).
    public func resolve(_ schema: JSONSchema) -> JSONSchema {
        var current = schema
        var seen = Set<String>()
        while case .node(let node) = current, let ref = node.ref, seen.insert(ref).inserted {
            guard let target = self.schema(at: ref) else { return current }
            current = target
        }
        return current
    }
}

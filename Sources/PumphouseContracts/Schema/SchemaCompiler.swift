/// Builds a `SchemaProgram`'s nodes from a parsed document.
///
/// Every `$ref` is followed here, once: a reference compiles to the node of what it
/// resolves to, shared by all its uses, and a node is registered under its reference
/// before its children are compiled, so a schema that recurses through a property or an
/// item becomes a cycle of nodes rather than an endless compilation.
///
/// `$dynamicRef` is followed here too. Where it leads depends only on which
/// `$dynamicAnchor` names the resources entered on the way declared, the outermost
/// first: the compiler carries that binding (the dynamic scope) down the schema, and a
/// reference compiles once per binding it is reached under. A document without dynamic
/// anchors has one, empty, binding, and compiles as before; validation never looks a
/// dynamic reference up.
struct SchemaCompiler {
    let document: SchemaDocument
    /// Every node built, the program's to own.
    private(set) var nodes: [CompiledSchema] = []
    private var byReference: [Reference: CompiledSchema] = [:]
    /// Each `$dynamicAnchor` name to the schema the outermost resource entered so far
    /// declares for it (`#`-pointers).
    private var scope: [ExactKey: ExactKey] = [:]
    /// One per distinct pattern text, so its remembered outcomes serve every use of it.
    private var patterns: [ExactKey: SchemaPattern] = [:]
    private let acceptsAll: CompiledSchema
    private let rejectsAll: CompiledSchema

    /// A reference's target under the dynamic scope it is compiled in.
    private struct Reference: Hashable {
        let target: ExactKey
        let scope: [ExactKey: ExactKey]
    }

    init(document: SchemaDocument) {
        self.document = document
        acceptsAll = CompiledSchema()
        acceptsAll.acceptsAll = true
        rejectsAll = CompiledSchema()
        rejectsAll.rejectsAll = true
        nodes = [acceptsAll, rejectsAll]
        enter("#")
    }

    mutating func compile(_ schema: JSONSchema) -> CompiledSchema {
        compile(schema, following: [])
    }

    /// Binds the anchors of `resource` that no resource entered before it declares.
    private mutating func enter(_ resource: ExactKey) {
        for (name, schema) in document.dynamicAnchors[resource] ?? [:] where scope[name] == nil {
            scope[name] = ExactKey(schema)
        }
    }

    /// `chain` holds the references followed to get here without a node in between; one
    /// seen again is a loop of bare references (which the parser rejects), and like a
    /// reference to nowhere it constrains nothing.
    private mutating func compile(_ schema: JSONSchema, following chain: Set<String>) -> CompiledSchema {
        guard case .node(let node) = schema else { return schema == .always(true) ? acceptsAll : rejectsAll }
        let outer = scope
        defer { scope = outer }
        if let resource = node.resource { enter(ExactKey(resource)) }
        let followed = node.dynamicRef.map { reference in reference.anchor.flatMap { scope[$0]?.text } ?? reference.target } ?? node.ref
        guard let ref = followed, !chain.contains(ref), let target = document.schema(at: ref) else {
            return make(node, as: nil)
        }
        enter(document.resource(of: ref))
        let key = Reference(target: ExactKey(ref), scope: scope)
        if let known = byReference[key] { return known }
        if case .node(let resolved) = target, resolved.ref == nil, resolved.dynamicRef == nil { return make(resolved, as: key) }
        let compiled = compile(target, following: chain.union([ref]))
        byReference[key] = compiled
        return compiled
    }

    private mutating func link(_ schema: JSONSchema) -> CompiledSchema.Link {
        CompiledSchema.Link(node: compile(schema))
    }

    private mutating func links(_ schemas: [JSONSchema]) -> [CompiledSchema.Link] {
        var result: [CompiledSchema.Link] = []
        result.reserveCapacity(schemas.count)
        for schema in schemas { result.append(link(schema)) }
        return result
    }

    private mutating func pattern(_ text: String) -> SchemaPattern {
        let key = ExactKey(text)
        if let known = patterns[key] { return known }
        let compiled = SchemaPattern(text)
        patterns[key] = compiled
        return compiled
    }

    private mutating func make(_ source: SchemaNode, as ref: Reference?) -> CompiledSchema {
        let node = CompiledSchema()
        nodes.append(node)
        if let ref { byReference[ref] = node }

        if let types = source.types {
            let declared = JSONTypeSet(types)
            node.declaredTypes = declared
            node.acceptedTypes = declared.contains(.number) ? declared.union(.integer) : declared
            node.expectedTypes = types.sorted().map(\.rawValue).joined(separator: " or ")
        }
        if let values = source.enumValues {
            node.enumerates = true
            node.allowed = CompiledSchema.AllowedValues(values)
        }

        node.minLength = source.minLength
        node.maxLength = source.maxLength
        node.pattern = source.pattern.map { pattern($0) }
        node.checksStrings = source.minLength != nil || source.maxLength != nil || source.pattern != nil

        node.minimum = source.minimum
        node.maximum = source.maximum
        node.exclusiveMinimum = source.exclusiveMinimum
        node.exclusiveMaximum = source.exclusiveMaximum
        if let multiple = source.multipleOf {
            node.multipleOf = multiple
            if multiple.rounded() == multiple, multiple >= 1, multiple <= 9.0e18 { node.integralMultiple = Int64(multiple) }
        }
        node.checksNumbers = source.minimum != nil || source.maximum != nil || source.exclusiveMinimum != nil
            || source.exclusiveMaximum != nil || source.multipleOf != nil

        node.minItems = source.minItems
        node.maxItems = source.maxItems
        node.uniqueItems = source.uniqueItems
        node.prefixItems = links(source.prefixItems)
        node.items = source.items.map { link($0) }
        node.contains = source.contains.map { link($0) }
        node.minContains = source.minContains ?? 1
        node.maxContains = source.maxContains
        node.unevaluatedItems = source.unevaluatedItems.map { link($0) }
        node.checksArrays = source.minItems != nil || source.maxItems != nil || source.uniqueItems
            || !source.prefixItems.isEmpty || source.items != nil || source.contains != nil

        node.minProperties = source.minProperties
        node.maxProperties = source.maxProperties
        for (name, schema) in source.properties where !node.properties.contains(where: { $0.name.isSameBytes(as: name) }) {
            node.properties.append(CompiledSchema.Property(name: name, schema: link(schema)))
        }
        node.required = source.required
        for name in source.required {
            if let index = node.properties.firstIndex(where: { $0.name.isSameBytes(as: name) }), index < UInt64.bitWidth {
                node.requiredProperties |= 1 << UInt64(index)
            } else {
                node.requiredElsewhere.append(name)
            }
        }
        for (text, schema) in source.patternProperties {
            node.patternProperties.append((pattern: pattern(text), schema: link(schema)))
        }
        node.additionalProperties = source.additionalProperties.map { link($0) }
        node.propertyNames = source.propertyNames.map { link($0) }
        node.closed = source.additionalProperties == .always(false)
        node.dependentRequired = source.dependentRequired.map { (trigger: $0.key.text, dependents: $0.value) }
        for (trigger, schema) in source.dependentSchemas {
            node.dependentSchemas.append((trigger: trigger.text, schema: link(schema)))
        }
        node.unevaluatedProperties = source.unevaluatedProperties.map { link($0) }
        node.checksObjects = source.minProperties != nil || source.maxProperties != nil || !source.properties.isEmpty
            || !source.required.isEmpty || source.additionalProperties != nil || !source.patternProperties.isEmpty || source.propertyNames != nil
            || !source.dependentRequired.isEmpty || !source.dependentSchemas.isEmpty

        node.allOf = links(source.allOf ?? [])
        node.anyOf = source.anyOf.map { links($0) }
        node.oneOf = source.oneOf.map { links($0) }
        node.not = source.not.map { link($0) }
        if let condition = source.ifSchema {
            node.condition = (if: link(condition), then: source.thenSchema.map { link($0) }, else: source.elseSchema.map { link($0) })
        }

        node.acceptsAll = node.acceptedTypes == .all && !node.enumerates && !node.checksStrings && !node.checksNumbers
            && !node.checksArrays && !node.checksObjects && node.allOf.isEmpty && node.anyOf == nil && node.oneOf == nil
            && node.not == nil && node.condition == nil && !node.evaluatesRest
        return node
    }
}

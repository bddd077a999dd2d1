/// One schema of a `SchemaProgram`, its keywords prepared for checking values fast.
///
/// A class, so walking the program per value copies nothing; `$ref`s are already
/// followed, so a referenced definition is one node however often it is used. Only
/// `SchemaCompiler` writes the fields, before the program is shared; each group of
/// keywords has a flag, so a value skips the groups that cannot apply to it.
final class CompiledSchema {
    /// Points at another node of the same program without owning it: recursive schemas
    /// make the graph cyclic, so the program owns every node and links cost no reference
    /// counting.
    struct Link {
        unowned(unsafe) let node: CompiledSchema
    }

    struct Property {
        let name: String
        let schema: Link
    }

    /// `enum` and `const`, split by kind: a string is compared by bytes with the allowed
    /// strings only, and anything else never against a string.
    struct AllowedValues {
        var strings: [String] = []
        var others: [JSONValue] = []

        init() {}

        init(_ values: [JSONValue]) {
            for value in values {
                if case .string(let text) = value { strings.append(text) } else { others.append(value) }
            }
        }

        func contains(_ value: JSONValue) -> Bool {
            if case .string(let text) = value { return strings.contains { $0.isSameBytes(as: text) } }
            return others.contains { $0.jsonEquals(value) }
        }
    }

    /// No keyword that can fail: `true`, `{}`, or annotations only.
    var acceptsAll = false
    /// `false`.
    var rejectsAll = false

    /// `type` as written, nil when absent: what an update's deltas are checked against.
    var declaredTypes: JSONTypeSet?
    /// The types a value may have: all when `type` is absent, and integers wherever
    /// numbers are allowed (an integer is also a number).
    var acceptedTypes = JSONTypeSet.all
    /// The declared type names as the failure message lists them.
    var expectedTypes = ""

    /// Whether `enum` or `const` is present; `allowed` may then be empty (a `const` the
    /// `enum` beside it does not list), and no value passes.
    var enumerates = false
    var allowed = AllowedValues()

    var checksStrings = false
    var minLength: Int?
    var maxLength: Int?
    var pattern: SchemaPattern?

    var checksNumbers = false
    var minimum: Double?
    var maximum: Double?
    var exclusiveMinimum: Double?
    var exclusiveMaximum: Double?
    var multipleOf: Double?
    /// `multipleOf` when it is a whole number an Int64 holds: integers are checked
    /// against it exactly.
    var integralMultiple: Int64?

    var checksArrays = false
    var minItems: Int?
    var maxItems: Int?
    var uniqueItems = false
    var prefixItems: [Link] = []
    var items: Link?
    var contains: Link?
    /// 1 unless `minContains` says otherwise.
    var minContains = 1
    var maxContains: Int?

    var checksObjects = false
    var minProperties: Int?
    var maxProperties: Int?
    /// Declared properties in declaration order, each name once.
    var properties: [Property] = []
    /// `required` as written, for the failure messages and their order.
    var required: [String] = []
    /// Bit i stands for `properties[i]`: the required names among the first 64
    /// properties, so a payload's members tick them off as they are checked.
    var requiredProperties: UInt64 = 0
    /// Required names without such a bit, looked up in the payload instead.
    var requiredElsewhere: [String] = []
    /// `patternProperties`: each applies to every member whose name it matches.
    var patternProperties: [(pattern: SchemaPattern, schema: Link)] = []
    /// For the members neither declared nor matched by a pattern.
    var additionalProperties: Link?
    var propertyNames: Link?
    /// `additionalProperties: false` as written: such a member is named in the failure
    /// rather than checked against `false`.
    var closed = false
    var dependentRequired: [(trigger: String, dependents: [String])] = []
    var dependentSchemas: [(trigger: String, schema: Link)] = []

    /// `unevaluatedProperties` and `unevaluatedItems`. Only a node holding one of them
    /// (applied to a value of its kind) has its keywords record what they evaluated;
    /// every other check of a value records nothing and costs nothing for it. Even
    /// `true` is kept: it evaluates every member or item, for an `unevaluated*` above.
    var unevaluatedProperties: Link?
    var unevaluatedItems: Link?
    var evaluatesRest: Bool { unevaluatedProperties != nil || unevaluatedItems != nil }

    var allOf: [Link] = []
    var anyOf: [Link]?
    var oneOf: [Link]?
    var not: Link?
    /// `if`, with `then` and `else` (nil: that branch accepts everything).
    var condition: (if: Link, then: Link?, else: Link?)?

    /// Whether a subschema applying in place (not through `not`, whose annotations never
    /// count) declares `name`, matches it by a pattern, or evaluates every member: an
    /// update's field, checked without the rest of its object, cannot tell which of them
    /// would pass, so only a field none of them could evaluate meets
    /// `unevaluatedProperties`.
    func mayEvaluateInPlace(_ name: String) -> Bool {
        let inPlace = allOf + (anyOf ?? []) + (oneOf ?? []) + dependentSchemas.map(\.schema)
            + [condition?.if, condition?.then, condition?.else].compactMap { $0 }
        return inPlace.contains { link in
            let node = link.node
            var hint = 0
            return node.propertyIndex(of: name, hint: &hint) != nil || node.additionalProperties != nil || node.unevaluatedProperties != nil
                || node.patternProperties.contains { $0.pattern.matches(name) } || node.mayEvaluateInPlace(name)
        }
    }

    /// The index of the property named `name` (by bytes). Payloads mostly list their
    /// members in the schema's order, so the search starts after the previous match,
    /// which `hint` carries from member to member.
    func propertyIndex(of name: String, hint: inout Int) -> Int? {
        let count = properties.count
        var index = hint < count ? hint : 0
        for _ in 0..<count {
            if properties[index].name.isSameBytes(as: name) {
                hint = index + 1
                return index
            }
            index = index + 1 < count ? index + 1 : 0
        }
        return nil
    }
}

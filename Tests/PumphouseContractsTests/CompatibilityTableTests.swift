import PumphouseContracts
import Testing

/// One evolution and the breaking rules expected in each direction. FULL must report the
/// union, NONE nothing; the test checks all four modes for every row.
struct CompatibilityCase: Sendable, CustomTestStringConvertible {
    let name: String
    let old: String
    let new: String
    let backward: Set<String>
    let forward: Set<String>

    var testDescription: String { name }
}

private func object(_ properties: String, required: String = "[]", extra: String = "") -> String {
    #"{"type":"object","properties":{\#(properties)},"required":\#(required)\#(extra)}"#
}

let closed = #","additionalProperties":false"#

/// A list whose items are a `$dynamicRef` the root's resource binds to `$defs/item`.
private func dynamicList(_ itemType: String) -> String {
    ##"{"$id":"https://example.com/root","type":"object","properties":{"list":{"$ref":"list"}},"$defs":{"item":{"$dynamicAnchor":"item","type":\##(itemType)},"list":{"$id":"list","type":"array","items":{"$dynamicRef":"#item"},"$defs":{"i":{"$dynamicAnchor":"item","type":"string"}}}}}"##
}

let compatibilityCases: [CompatibilityCase] = [
    // Content models: open, closed, partially open.
    .init(name: "open model: property added with a schema", old: object(#""a":{"type":"string"}"#), new: object(#""a":{"type":"string"},"b":{"type":"integer"}"#),
          backward: ["PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"], forward: []),
    .init(name: "open model: property added with an empty schema", old: object(#""a":{"type":"string"}"#), new: object(#""a":{"type":"string"},"b":{}"#),
          backward: [], forward: []),
    .init(name: "open model: property removed", old: object(#""a":{"type":"string"},"b":{"type":"integer"}"#), new: object(#""a":{"type":"string"}"#),
          backward: [], forward: ["PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"]),
    .init(name: "closed model: optional property added", old: object(#""a":{"type":"string"}"#, extra: closed), new: object(#""a":{"type":"string"},"b":{"type":"integer"}"#, extra: closed),
          backward: [], forward: ["PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"]),
    .init(name: "closed model: required property added without default", old: object(#""a":{"type":"string"}"#, extra: closed),
          new: object(#""a":{"type":"string"},"b":{"type":"integer"}"#, required: #"["b"]"#, extra: closed),
          backward: ["REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL"], forward: ["PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"]),
    .init(name: "closed model: required property added with default", old: object(#""a":{"type":"string"}"#, extra: closed),
          new: object(#""a":{"type":"string"},"b":{"type":"integer","default":0}"#, required: #"["b"]"#, extra: closed),
          backward: [], forward: ["PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"]),
    .init(name: "closed model: property removed", old: object(#""a":{"type":"string"},"b":{"type":"integer"}"#, extra: closed), new: object(#""a":{"type":"string"}"#, extra: closed),
          backward: ["PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"], forward: []),
    .init(name: "partially open model: covered property added", old: object(#""a":{"type":"string"}"#, extra: #","additionalProperties":{"type":"string"}"#),
          new: object(#""a":{"type":"string"},"b":{"type":"string"}"#, extra: #","additionalProperties":{"type":"string"}"#),
          backward: [], forward: []),
    .init(name: "partially open model: uncovered property added", old: object(#""a":{"type":"string"}"#, extra: #","additionalProperties":{"type":"string"}"#),
          new: object(#""a":{"type":"string"},"b":{"type":"integer"}"#, extra: #","additionalProperties":{"type":"string"}"#),
          backward: ["PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"], forward: ["PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"]),
    .init(name: "open model closed", old: object(#""a":{"type":"string"}"#), new: object(#""a":{"type":"string"}"#, extra: closed),
          backward: ["ADDITIONAL_PROPERTIES_ADDED"], forward: []),
    .init(name: "partially open model narrowed", old: object("", extra: #","additionalProperties":{"type":["string","integer"]}"#), new: object("", extra: #","additionalProperties":{"type":"string"}"#),
          backward: ["ADDITIONAL_PROPERTIES_NARROWED"], forward: []),
    // patternProperties: a partially open content model by the name's pattern.
    .init(name: "pattern-covered property added", old: object(#""a":{"type":"string"}"#, extra: #","patternProperties":{"^x-":{"type":"string"}},"additionalProperties":false"#),
          new: object(#""a":{"type":"string"},"x-b":{"type":"string"}"#, extra: #","patternProperties":{"^x-":{"type":"string"}},"additionalProperties":false"#),
          backward: [], forward: []),
    .init(name: "property added against its pattern", old: object(#""a":{"type":"string"}"#, extra: #","patternProperties":{"^x-":{"type":"string"}}"#),
          new: object(#""a":{"type":"string"},"x-b":{"type":"integer"}"#, extra: #","patternProperties":{"^x-":{"type":"string"}}"#),
          backward: ["PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"], forward: ["PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"]),
    .init(name: "pattern property narrowed", old: object("", extra: #","patternProperties":{"^x-":{"type":["string","integer"]}}"#),
          new: object("", extra: #","patternProperties":{"^x-":{"type":"string"}}"#),
          backward: ["TYPE_NARROWED"], forward: []),
    .init(name: "pattern added to an open model", old: object(""), new: object("", extra: #","patternProperties":{"^x-":{"type":"string"}}"#),
          backward: ["PATTERN_PROPERTY_ADDED_NOT_COVERED"], forward: []),
    .init(name: "pattern removed from a closed model", old: object("", extra: #","patternProperties":{"^x-":{"type":"string"}},"additionalProperties":false"#),
          new: object("", extra: closed),
          backward: ["PATTERN_PROPERTY_REMOVED_NOT_COVERED"], forward: []),
    // propertyNames: names are strings, compared as values.
    .init(name: "propertyNames added", old: object(""), new: object("", extra: #","propertyNames":{"maxLength":8}"#),
          backward: ["MAX_LENGTH_ADDED"], forward: []),
    .init(name: "propertyNames widened", old: object("", extra: #","propertyNames":{"maxLength":8}"#), new: object("", extra: #","propertyNames":{"maxLength":16}"#),
          backward: [], forward: ["MAX_LENGTH_DECREASED"]),
    // Required.
    .init(name: "required added", old: object(#""a":{"type":"string"}"#), new: object(#""a":{"type":"string"}"#, required: #"["a"]"#),
          backward: ["REQUIRED_ATTRIBUTE_ADDED"], forward: []),
    .init(name: "required removed", old: object(#""a":{"type":"string"}"#, required: #"["a"]"#), new: object(#""a":{"type":"string"}"#),
          backward: [], forward: ["REQUIRED_ATTRIBUTE_ADDED"]),
    // contains and its counts.
    .init(name: "contains added", old: #"{"type":"array"}"#, new: #"{"type":"array","contains":{"type":"integer"}}"#,
          backward: ["CONTAINS_ADDED"], forward: []),
    .init(name: "minContains raised", old: #"{"type":"array","contains":{"type":"integer"}}"#, new: #"{"type":"array","contains":{"type":"integer"},"minContains":2}"#,
          backward: ["MIN_CONTAINS_INCREASED"], forward: []),
    .init(name: "maxContains added", old: #"{"type":"array","contains":{"type":"integer"}}"#, new: #"{"type":"array","contains":{"type":"integer"},"maxContains":2}"#,
          backward: ["MAX_CONTAINS_ADDED"], forward: []),
    .init(name: "contains schema narrowed", old: #"{"type":"array","contains":{"type":["integer","string"]}}"#, new: #"{"type":"array","contains":{"type":"integer"}}"#,
          backward: ["TYPE_NARROWED"], forward: []),
    // if/then/else.
    .init(name: "condition added", old: #"{"type":"integer"}"#, new: #"{"type":"integer","if":{"minimum":10},"then":{"multipleOf":2}}"#,
          backward: ["CONDITION_ADDED"], forward: []),
    .init(name: "condition whose branch accepts the old schema", old: #"{"type":"integer","maximum":5}"#, new: #"{"type":"integer","maximum":5,"if":{"minimum":3},"then":{"type":"integer"}}"#,
          backward: [], forward: []),
    .init(name: "condition changed", old: #"{"type":"integer","if":{"minimum":10},"then":{"multipleOf":2}}"#, new: #"{"type":"integer","if":{"minimum":10},"then":{"multipleOf":4}}"#,
          backward: ["CONDITION_CHANGED"], forward: ["CONDITION_CHANGED"]),
    // Types.
    .init(name: "integer widened to number", old: #"{"type":"integer"}"#, new: #"{"type":"number"}"#, backward: [], forward: ["TYPE_NARROWED"]),
    .init(name: "string changed to integer", old: #"{"type":"string"}"#, new: #"{"type":"integer"}"#, backward: ["TYPE_CHANGED"], forward: ["TYPE_CHANGED"]),
    .init(name: "type union extended", old: #"{"type":"string"}"#, new: #"{"type":["string","null"]}"#, backward: [], forward: ["TYPE_NARROWED"]),
    .init(name: "any type restricted", old: #"{}"#, new: #"{"type":"string"}"#, backward: ["TYPE_NARROWED"], forward: []),
    .init(name: "boolean schema true to false", old: "true", new: "false", backward: ["TYPE_NARROWED"], forward: []),
    // Enums.
    .init(name: "enum extended", old: #"{"enum":["a","b"]}"#, new: #"{"enum":["a","b","c"]}"#, backward: [], forward: ["ENUM_ARRAY_NARROWED"]),
    .init(name: "enum added", old: #"{"type":"string"}"#, new: #"{"type":"string","enum":["a"]}"#, backward: ["ENUM_ARRAY_CHANGED"], forward: []),
    .init(name: "const changed", old: #"{"const":1}"#, new: #"{"const":2}"#, backward: ["ENUM_ARRAY_NARROWED"], forward: ["ENUM_ARRAY_NARROWED"]),
    // Strings.
    .init(name: "maxLength decreased", old: #"{"type":"string","maxLength":10}"#, new: #"{"type":"string","maxLength":5}"#, backward: ["MAX_LENGTH_DECREASED"], forward: []),
    .init(name: "maxLength added", old: #"{"type":"string"}"#, new: #"{"type":"string","maxLength":5}"#, backward: ["MAX_LENGTH_ADDED"], forward: []),
    .init(name: "minLength increased", old: #"{"type":"string","minLength":1}"#, new: #"{"type":"string","minLength":3}"#, backward: ["MIN_LENGTH_INCREASED"], forward: []),
    .init(name: "minLength added", old: #"{"type":"string"}"#, new: #"{"type":"string","minLength":2}"#, backward: ["MIN_LENGTH_ADDED"], forward: []),
    .init(name: "pattern added", old: #"{"type":"string"}"#, new: #"{"type":"string","pattern":"^[A-Z]+$"}"#, backward: ["PATTERN_ADDED"], forward: []),
    .init(name: "pattern changed", old: #"{"type":"string","pattern":"^a"}"#, new: #"{"type":"string","pattern":"^b"}"#, backward: ["PATTERN_CHANGED"], forward: ["PATTERN_CHANGED"]),
    // Numbers.
    .init(name: "maximum decreased", old: #"{"type":"number","maximum":100}"#, new: #"{"type":"number","maximum":50}"#, backward: ["MAXIMUM_DECREASED"], forward: []),
    .init(name: "minimum added", old: #"{"type":"number"}"#, new: #"{"type":"number","minimum":0}"#, backward: ["MINIMUM_ADDED"], forward: []),
    .init(name: "exclusiveMaximum added", old: #"{"type":"number"}"#, new: #"{"type":"number","exclusiveMaximum":10}"#, backward: ["EXCLUSIVE_MAXIMUM_ADDED"], forward: []),
    .init(name: "exclusiveMinimum increased", old: #"{"type":"number","exclusiveMinimum":0}"#, new: #"{"type":"number","exclusiveMinimum":5}"#, backward: ["EXCLUSIVE_MINIMUM_INCREASED"], forward: []),
    .init(name: "maximum relaxed to exclusiveMaximum above it", old: #"{"type":"number","maximum":10}"#, new: #"{"type":"number","exclusiveMaximum":11}"#, backward: [], forward: ["MAXIMUM_DECREASED"]),
    .init(name: "multipleOf reduced", old: #"{"type":"number","multipleOf":10}"#, new: #"{"type":"number","multipleOf":5}"#, backward: [], forward: ["MULTIPLE_OF_CHANGED"]),
    .init(name: "multipleOf added", old: #"{"type":"number"}"#, new: #"{"type":"number","multipleOf":2}"#, backward: ["MULTIPLE_OF_ADDED"], forward: []),
    // Arrays.
    .init(name: "items narrowed", old: #"{"type":"array","items":{"type":"number"}}"#, new: #"{"type":"array","items":{"type":"integer"}}"#, backward: ["TYPE_NARROWED"], forward: []),
    .init(name: "maxItems added", old: #"{"type":"array"}"#, new: #"{"type":"array","maxItems":3}"#, backward: ["MAX_ITEMS_ADDED"], forward: []),
    .init(name: "minItems increased", old: #"{"type":"array","minItems":1}"#, new: #"{"type":"array","minItems":2}"#, backward: ["MIN_ITEMS_INCREASED"], forward: []),
    .init(name: "uniqueItems added", old: #"{"type":"array"}"#, new: #"{"type":"array","uniqueItems":true}"#, backward: ["UNIQUE_ITEMS_ADDED"], forward: []),
    .init(name: "additionalItems closed", old: #"{"type":"array","items":[{"type":"string"}]}"#, new: #"{"type":"array","items":[{"type":"string"}],"additionalItems":false}"#,
          backward: ["ADDITIONAL_ITEMS_ADDED"], forward: []),
    .init(name: "tuple item added to closed model", old: #"{"type":"array","prefixItems":[{"type":"string"}],"items":false}"#,
          new: #"{"type":"array","prefixItems":[{"type":"string"},{"type":"integer"}],"items":false}"#, backward: [], forward: ["ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL"]),
    .init(name: "tuple item added to open model", old: #"{"type":"array","prefixItems":[{"type":"string"}]}"#,
          new: #"{"type":"array","prefixItems":[{"type":"string"},{"type":"integer"}]}"#, backward: ["ITEM_ADDED_TO_OPEN_CONTENT_MODEL"], forward: []),
    // Objects: counts and dependencies.
    .init(name: "maxProperties decreased", old: #"{"type":"object","maxProperties":5}"#, new: #"{"type":"object","maxProperties":3}"#, backward: ["MAX_PROPERTIES_DECREASED"], forward: []),
    .init(name: "minProperties added", old: #"{"type":"object"}"#, new: #"{"type":"object","minProperties":1}"#, backward: ["MIN_PROPERTIES_ADDED"], forward: []),
    .init(name: "dependency array added (draft-07 dependencies)", old: object(#""a":{},"b":{}"#), new: object(#""a":{},"b":{}"#, extra: #","dependencies":{"a":["b"]}"#),
          backward: ["DEPENDENCY_ARRAY_ADDED"], forward: []),
    .init(name: "dependency array extended", old: object(#""a":{},"b":{},"c":{}"#, extra: #","dependentRequired":{"a":["b"]}"#),
          new: object(#""a":{},"b":{},"c":{}"#, extra: #","dependentRequired":{"a":["b","c"]}"#), backward: ["DEPENDENCY_ARRAY_EXTENDED"], forward: []),
    .init(name: "dependent schema added", old: object(#""a":{}"#), new: object(#""a":{}"#, extra: #","dependentSchemas":{"a":{"required":["b"]}}"#),
          backward: ["DEPENDENCY_SCHEMA_ADDED"], forward: []),
    // Combinators.
    .init(name: "oneOf extended", old: #"{"oneOf":[{"type":"string"},{"type":"integer"}]}"#, new: #"{"oneOf":[{"type":"string"},{"type":"integer"},{"type":"null"}]}"#,
          backward: [], forward: ["SUM_TYPE_NARROWED"]),
    .init(name: "anyOf alternative removed", old: #"{"anyOf":[{"type":"string"},{"type":"integer"}]}"#, new: #"{"anyOf":[{"type":"string"}]}"#,
          backward: ["SUM_TYPE_NARROWED"], forward: []),
    .init(name: "plain type became anyOf including it", old: #"{"type":"string"}"#, new: #"{"anyOf":[{"type":"string"},{"type":"integer"}]}"#,
          backward: [], forward: ["SUM_TYPE_NARROWED"]),
    .init(name: "sum type changed to an unrelated one", old: #"{"type":"boolean"}"#, new: #"{"anyOf":[{"type":"string"},{"type":"integer"}]}"#,
          backward: ["COMBINED_TYPE_CHANGED"], forward: ["SUM_TYPE_NARROWED"]),
    .init(name: "integer became a oneOf in which it matches two alternatives", old: #"{"type":"integer"}"#, new: #"{"oneOf":[{"type":"integer"},{"type":"number"}]}"#,
          backward: ["COMBINED_TYPE_CHANGED"], forward: ["SUM_TYPE_NARROWED"]),
    .init(name: "string became a oneOf with a disjoint alternative", old: #"{"type":"string"}"#, new: #"{"oneOf":[{"type":"string"},{"type":"integer"}]}"#,
          backward: [], forward: ["SUM_TYPE_NARROWED"]),
    .init(name: "allOf part accepted by a plain schema", old: #"{"allOf":[{"type":"string"},{"maxLength":3}]}"#, new: #"{"type":"string"}"#,
          backward: [], forward: ["MAX_LENGTH_ADDED"]),
    .init(name: "allOf constraint added", old: #"{"allOf":[{"type":"string"}]}"#, new: #"{"allOf":[{"type":"string"},{"maxLength":3}]}"#,
          backward: ["PRODUCT_TYPE_EXTENDED"], forward: []),
    .init(name: "not added", old: #"{"type":"string"}"#, new: #"{"type":"string","not":{"enum":["x"]}}"#, backward: ["NOT_TYPE_EXTENDED"], forward: []),
    .init(name: "not narrowed", old: #"{"not":{"enum":["a","b"]}}"#, new: #"{"not":{"enum":["a"]}}"#, backward: [], forward: ["NOT_TYPE_EXTENDED"]),
    // unevaluatedProperties / unevaluatedItems: a content model closed or bounded by what
    // nothing else evaluated. Where the walk cannot prove the reader evaluates what the
    // writer did, it reports (the last rows: unchanged, yet reported).
    .init(name: "unevaluatedProperties false added", old: object(#""a":{"type":"string"}"#), new: object(#""a":{"type":"string"}"#, extra: #","unevaluatedProperties":false"#),
          backward: ["UNEVALUATED_PROPERTIES_ADDED"], forward: []),
    .init(name: "unevaluatedProperties tightened to false", old: object(#""a":{"type":"string"}"#, extra: #","unevaluatedProperties":{"type":"string"}"#),
          new: object(#""a":{"type":"string"}"#, extra: #","unevaluatedProperties":false"#), backward: ["UNEVALUATED_PROPERTIES_NARROWED"], forward: []),
    .init(name: "closed by unevaluatedProperties: optional property added", old: object(#""a":{"type":"string"}"#, extra: #","unevaluatedProperties":false"#),
          new: object(#""a":{"type":"string"},"b":{"type":"integer"}"#, extra: #","unevaluatedProperties":false"#),
          backward: [], forward: ["PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"]),
    .init(name: "closed by unevaluatedProperties: property moved into an allOf part", old: object(#""a":{"type":"string"}"#, extra: #","unevaluatedProperties":false"#),
          new: object("", extra: #","allOf":[{"properties":{"a":{"type":"string"}}}],"unevaluatedProperties":false"#), backward: [], forward: []),
    .init(name: "closed by unevaluatedProperties: property declared only in an anyOf alternative", old: object(#""a":{"type":"string"}"#, extra: #","unevaluatedProperties":false"#),
          new: object("", extra: #","anyOf":[{"properties":{"a":{"type":"string"}}},{"required":["b"]}],"unevaluatedProperties":false"#),
          backward: ["PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"], forward: ["SUM_TYPE_NARROWED"]),
    .init(name: "unchanged, with a $ref composed under unevaluatedProperties", old: ##"{"$defs":{"B":{"properties":{"a":{}}}},"$ref":"#/$defs/B","properties":{"b":{}},"unevaluatedProperties":false}"##,
          new: ##"{"$defs":{"B":{"properties":{"a":{}}}},"$ref":"#/$defs/B","properties":{"b":{}},"unevaluatedProperties":false}"##, backward: [], forward: []),
    .init(name: "unevaluatedItems false added", old: #"{"type":"array","prefixItems":[{"type":"string"}]}"#, new: #"{"type":"array","prefixItems":[{"type":"string"}],"unevaluatedItems":false}"#,
          backward: ["UNEVALUATED_ITEMS_ADDED"], forward: []),
    .init(name: "closed by unevaluatedItems: tuple item added", old: #"{"type":"array","prefixItems":[{"type":"string"}],"unevaluatedItems":false}"#,
          new: #"{"type":"array","prefixItems":[{"type":"string"},{"type":"integer"}],"unevaluatedItems":false}"#, backward: [], forward: ["ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL"]),
    .init(name: "unevaluatedItems narrowed", old: #"{"type":"array","unevaluatedItems":{"type":["string","integer"]}}"#, new: #"{"type":"array","unevaluatedItems":{"type":"string"}}"#,
          backward: ["UNEVALUATED_ITEMS_NARROWED"], forward: []),
    // $dynamicRef: compared against every schema it may lead to.
    .init(name: "the schema a $dynamicRef resolves to narrowed", old: dynamicList(#"["integer","string"]"#), new: dynamicList(#""integer""#),
          backward: ["SUM_TYPE_NARROWED"], forward: ["SUM_TYPE_NARROWED"]),
    .init(name: "unchanged $dynamicRef with two possible targets (conservative)", old: dynamicList(#""integer""#), new: dynamicList(#""integer""#),
          backward: ["SUM_TYPE_NARROWED"], forward: ["SUM_TYPE_NARROWED"]),
    // References and annotations.
    .init(name: "$ref target narrowed", old: ##"{"type":"object","properties":{"m":{"$ref":"#/$defs/Money"}},"$defs":{"Money":{"type":"number"}}}"##,
          new: ##"{"type":"object","properties":{"m":{"$ref":"#/$defs/Money"}},"$defs":{"Money":{"type":"integer"}}}"##, backward: ["TYPE_NARROWED"], forward: []),
    .init(name: "recursive $ref unchanged", old: ##"{"$defs":{"Node":{"type":"object","properties":{"next":{"$ref":"#/$defs/Node"}}}},"$ref":"#/$defs/Node"}"##,
          new: ##"{"$defs":{"Node":{"type":"object","properties":{"next":{"$ref":"#/$defs/Node"}}}},"$ref":"#/$defs/Node"}"##, backward: [], forward: []),
    .init(name: "only annotations changed", old: #"{"type":"string","title":"A","description":"old","default":"x"}"#, new: #"{"type":"string","title":"B","description":"new","default":"y"}"#,
          backward: [], forward: []),
]

@Suite("Schema compatibility, Confluent rules")
struct CompatibilityTableTests {
    @Test("every row gives the expected rules in every mode", arguments: compatibilityCases)
    func row(_ row: CompatibilityCase) throws {
        let old = try SchemaParser().parse(Array(row.old.utf8))
        let new = try SchemaParser().parse(Array(row.new.utf8))
        func rules(_ mode: CompatibilityMode) -> Set<String> {
            Set(SchemaCompatibility().check(old: old, new: new, mode: mode).map(\.rule))
        }
        #expect(rules(.backward) == row.backward, "BACKWARD")
        #expect(rules(.forward) == row.forward, "FORWARD")
        #expect(rules(.full) == row.backward.union(row.forward), "FULL")
        #expect(rules(.none).isEmpty, "NONE")
        #expect(rules(.backwardTransitive) == row.backward, "BACKWARD_TRANSITIVE on one pair")
    }

    @Test("a change below a recursive reference is found when the other side is inline")
    func recursionAgainstInline() throws {
        let old = try SchemaParser().parse(Array(##"{"$defs":{"T":{"type":"object","properties":{"next":{"$ref":"#/$defs/T"},"v":{"type":"string"}}}},"$ref":"#/$defs/T"}"##.utf8))
        let new = try SchemaParser().parse(Array(##"{"type":"object","properties":{"next":{"type":"object","properties":{"v":{"type":"integer"}}},"v":{"type":"string"}}}"##.utf8))
        let issues = SchemaCompatibility().check(old: old, new: new, mode: .backward)
        #expect(issues.contains { $0.rule == "TYPE_CHANGED" && $0.pointer == "/properties/next/properties/v" }, "\(issues)")
    }

    @Test("a recursive property added to an open content model ends with a verdict (it used to recurse until the stack ran out)")
    func recursionAgainstOpenModel() throws {
        let old = try SchemaParser().parse(Array(#"{"type":"object"}"#.utf8))
        let new = try SchemaParser().parse(Array(##"{"type":"object","properties":{"child":{"$ref":"#"},"v":{"type":"string"}}}"##.utf8))
        for mode in [CompatibilityMode.backward, .forward, .full] {
            let issues = SchemaCompatibility().check(old: old, new: new, mode: mode)
            #expect(mode == .forward || issues.contains { $0.rule == "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL" }, "\(mode): \(issues)")
        }
    }

    @Test("issues point at the field that broke")
    func pointers() throws {
        let old = try SchemaParser().parse(Array(object(#""price":{"type":"number"},"name":{"type":"string"}"#).utf8))
        let new = try SchemaParser().parse(Array(object(#""price":{"type":"integer"},"name":{"type":"string","maxLength":3}"#).utf8))
        let issues = SchemaCompatibility().check(old: old, new: new, mode: .backward)
        #expect(Set(issues.map(\.pointer)) == ["/properties/price", "/properties/name/maxLength"])
        #expect(issues.allSatisfy { $0.direction == .backward })
    }
}

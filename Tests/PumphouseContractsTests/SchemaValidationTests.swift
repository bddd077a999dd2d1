import PumphouseContracts
import Testing

@Suite("Schema parsing and payload validation")
struct SchemaValidationTests {
    static func schema(_ text: String) throws -> SchemaDocument {
        try SchemaParser().parse(Array(text.utf8))
    }

    @Test("keywords outside the subset are rejected with their pointer", arguments: [
        (#"{"type":"array","minContains":2}"#, "/minContains"),
        (#"{"type":"object","patternProperties":{"(unclosed":{}}}"#, "/patternProperties/(unclosed"),
        (#"{"type":"object","patternProperties":[]}"#, "/patternProperties"),
        (#"{"properties":{"a":{"then":{}}}}"#, "/properties/a/then"),
        (#"{"properties":{"a":{"unevaluatedProperties":7}}}"#, "/properties/a/unevaluatedProperties"),
        (#"{"properties":{"a":{"$dynamicRef":"https://example.com/s.json#node"}}}"#, "/properties/a/$dynamicRef"),
        // A dynamic reference that may lead back to where it stands, in place.
        (##"{"$dynamicAnchor":"x","allOf":[{"$dynamicRef":"#x"}]}"##, ""),
        (#"{"requried":["a"]}"#, "/requried"),
        (#"{"$ref":"https://example.com/s.json"}"#, "/$ref"),
        (##"{"$ref":"#/$defs/Missing"}"##, "/$ref"),
        (#"{"type":"strin"}"#, "/type"),
        (#"{"maximum":10,"exclusiveMaximum":true}"#, "/exclusiveMaximum"),
        (#"{"pattern":"(unclosed"}"#, "/pattern"),
        (#"{"multipleOf":0}"#, "/multipleOf"),
        (#"{"$schema":"http://json-schema.org/draft-04/schema#"}"#, "/$schema"),
        // A custom metaschema may switch vocabularies off, whatever its address says.
        (#"{"$schema":"http://localhost:1234/draft2020-12/metaschema-no-validation.json"}"#, "/$schema"),
        (#"{"$schema":7}"#, "/$schema"),
        (#"{"items":{"type":"string"},"additionalItems":false}"#, "/additionalItems"),
        (#"[]"#, ""),
        (##"{"$ref":"#","type":"object"}"##, ""),
        (##"{"$defs":{"A":{"allOf":[{"$ref":"#/$defs/B"}]},"B":{"not":{"$ref":"#/$defs/A"}}},"$ref":"#/$defs/A"}"##, "/$defs/A"),
    ])
    func rejected(text: String, pointer: String) throws {
        let error = try #require(throws: SchemaError.self) { try Self.schema(text) }
        #expect(error.pointer == pointer, "\(error)")
    }

    static let account = #"""
    {"type":"object","additionalProperties":false,"required":["id","balance"],
     "properties":{"id":{"type":"string","minLength":1},"balance":{"type":"integer","minimum":0},
                   "tags":{"type":"array","items":{"type":"string"},"uniqueItems":true,"maxItems":2},
                   "kind":{"oneOf":[{"const":"a"},{"const":"b"}]},"code":{"type":"string","pattern":"^[A-Z]{3}$"},
                   "rate":{"type":"number","multipleOf":0.01,"exclusiveMaximum":1}}}
    """#

    @Test("a pattern's \\d and \\w are ECMA-262's ASCII classes: other scripts' digits and letters do not match them")
    func asciiClasses() throws {
        let digits = SchemaValidator(document: try Self.schema(#"{"type":"string","pattern":"^\\d{4}$"}"#))
        #expect(digits.isValid(.string("2026")))
        for text in ["\u{661}\u{662}\u{663}\u{664}", "\u{BD}\u{B2}\u{B3}\u{2074}", "\u{FF11}\u{FF12}\u{FF13}\u{FF14}"] {
            #expect(!digits.isValid(.string(text)), "\(text.unicodeScalars.map { String($0.value, radix: 16) })")
        }
        let word = SchemaValidator(document: try Self.schema(#"{"type":"string","pattern":"^\\w+$"}"#))
        #expect(word.isValid(.string("abc_XYZ_019")))
        #expect(!word.isValid(.string("caf\u{E9}")) && !word.isValid(.string("\u{3B1}\u{3B2}")))
    }

    @Test("valid payloads pass")
    func valid() throws {
        let validator = SchemaValidator(document: try Self.schema(Self.account))
        let payload = try JSONParser().parse(#"{"id":"a","balance":0,"tags":["x","y"],"kind":"b","code":"EUR","rate":0.25}"#)
        #expect(validator.validate(payload).isEmpty)
    }

    @Test("each violation is reported with its pointer and keyword", arguments: [
        (#"{"balance":1}"#, "", "required"),
        (#"{"id":"a","balance":"1"}"#, "/balance", "type"),
        (#"{"id":"a","balance":1.5}"#, "/balance", "type"),
        (#"{"id":"a","balance":-1}"#, "/balance", "minimum"),
        (#"{"id":"","balance":1}"#, "/id", "minLength"),
        (#"{"id":"a","balance":1,"extra":true}"#, "/extra", "additionalProperties"),
        (#"{"id":"a","balance":1,"tags":["x","x"]}"#, "/tags", "uniqueItems"),
        (#"{"id":"a","balance":1,"tags":["x","y","z"]}"#, "/tags", "maxItems"),
        (#"{"id":"a","balance":1,"tags":[1]}"#, "/tags/0", "type"),
        (#"{"id":"a","balance":1,"kind":"c"}"#, "/kind", "oneOf"),
        (#"{"id":"a","balance":1,"code":"eur"}"#, "/code", "pattern"),
        (#"{"id":"a","balance":1,"rate":0.255}"#, "/rate", "multipleOf"),
        (#"{"id":"a","balance":1,"rate":1}"#, "/rate", "exclusiveMaximum"),
    ])
    func invalid(payload: String, pointer: String, keyword: String) throws {
        let validator = SchemaValidator(document: try Self.schema(Self.account))
        let issues = validator.validate(try JSONParser().parse(payload))
        #expect(issues.contains { $0.pointer == pointer && $0.keyword == keyword }, "\(issues)")
    }

    @Test("contains counts the matching items against minContains (1 by default) and maxContains; propertyNames checks every member's name; if selects then or else", arguments: [
        (#"{"contains":{"type":"integer"}}"#, "[\"a\",1]", [String]()),
        (#"{"contains":{"type":"integer"}}"#, "[\"a\"]", [" contains"]),
        (#"{"contains":{"type":"integer"},"minContains":0}"#, "[]", []),
        (#"{"contains":{"type":"integer"},"minContains":2,"maxContains":3}"#, "[1]", [" minContains"]),
        (#"{"contains":{"type":"integer"},"minContains":2,"maxContains":3}"#, "[1,2,3,4]", [" maxContains"]),
        (#"{"propertyNames":{"maxLength":3}}"#, #"{"abc":1}"#, []),
        (#"{"propertyNames":{"maxLength":3}}"#, #"{"abcd":1}"#, ["/abcd propertyNames"]),
        (#"{"if":{"minimum":10},"then":{"multipleOf":2},"else":{"maximum":3}}"#, "12", []),
        (#"{"if":{"minimum":10},"then":{"multipleOf":2},"else":{"maximum":3}}"#, "11", [" multipleOf"]),
        (#"{"if":{"minimum":10},"then":{"multipleOf":2},"else":{"maximum":3}}"#, "5", [" maximum"]),
        (#"{"if":{"minimum":10},"then":{"multipleOf":2}}"#, "5", []),
    ])
    func containsAndNames(schema: String, payload: String, expected: [String]) throws {
        let validator = SchemaValidator(document: try Self.schema(schema))
        #expect(Self.described(validator.validate(try JSONParser().parse(payload))) == expected)
    }

    @Test("a recursive schema that descends into properties is fine")
    func recursiveTree() throws {
        let tree = try Self.schema(##"{"$defs":{"N":{"type":"object","properties":{"next":{"$ref":"#/$defs/N"},"v":{"type":"integer"}}}},"$ref":"#/$defs/N"}"##)
        let validator = SchemaValidator(document: tree)
        #expect(validator.isValid(try JSONParser().parse(#"{"v":1,"next":{"v":2,"next":{"v":3}}}"#)))
        #expect(!validator.isValid(try JSONParser().parse(#"{"v":1,"next":{"v":"x"}}"#)))
    }

    @Test("references resolve within the document as 2020-12 resolves them: to any schema by JSON pointer (escaped, percent-encoded), to an $anchor, and against the base an embedded resource's $id gives; two locations that differ only in normalization stay two")
    func references() throws {
        func valid(_ schema: String, _ payload: String) throws -> Bool {
            SchemaValidator(document: try Self.schema(schema)).isValid(try JSONParser().parse(payload))
        }
        let pointer = ##"{"type":"object","properties":{"a":{"type":"integer"},"b":{"$ref":"#/properties/a"},"c":{"$ref":"#/$defs/x%25y~1z"}},"$defs":{"x%y/z":{"type":"string"}}}"##
        #expect(try valid(pointer, #"{"a":1,"b":2,"c":"s"}"#) && !(try valid(pointer, #"{"b":"2"}"#)) && !(try valid(pointer, #"{"c":3}"#)))
        let anchored = ##"{"type":"object","properties":{"n":{"$ref":"#num"}},"$defs":{"N":{"$anchor":"num","type":"number"}}}"##
        #expect(try valid(anchored, #"{"n":1.5}"#) && !(try valid(anchored, #"{"n":"x"}"#)))
        // An embedded resource: "#/$defs/s" inside it is its own $defs, not the root's.
        let embedded = ##"{"$id":"https://example.com/root.json","type":"object","properties":{"e":{"$ref":"item.json"}},"$defs":{"s":{"type":"boolean"},"item":{"$id":"item.json","$ref":"#/$defs/s","$defs":{"s":{"type":"string"}}}}}"##
        #expect(try valid(embedded, #"{"e":"x"}"#) && !(try valid(embedded, #"{"e":true}"#)))
        // "K" and the Kelvin sign: two properties, each with the target of its own $ref.
        let kelvin = ##"{"type":"object","properties":{"K":{"$ref":"#/$defs/s"},"K":{"$ref":"#/$defs/i"}},"$defs":{"s":{"type":"string"},"i":{"type":"integer"}}}"##
        #expect(try valid(kelvin, #"{"K":"x","K":1}"#) && !(try valid(kelvin, #"{"K":1}"#)) && !(try valid(kelvin, #"{"K":"x"}"#)))
    }

    @Test("a reference that leaves the document, leads into data or to no anchor, and a bad $id or $anchor are refused at their pointer", arguments: [
        (##"{"$ref":"https://example.com/other.json"}"##, "/$ref", "fetching remote schemas is not supported"),
        (##"{"const":{"type":"string"},"properties":{"a":{"$ref":"#/const"}}}"##, "/properties/a/$ref", "points at no schema"),
        (##"{"properties":{"a":{"$ref":"#nowhere"}}}"##, "/properties/a/$ref", "names no $anchor"),
        (##"{"$id":"https://example.com/a.json#frag"}"##, "/$id", "must not carry a fragment"),
        (##"{"$defs":{"a":{"$anchor":"1x"}}}"##, "/$defs/a/$anchor", "must be a name"),
        (##"{"$defs":{"a":{"$anchor":"x"},"b":{"$anchor":"x"}}}"##, "/$defs/b/$anchor", "names two locations"),
    ])
    func refusedReferences(text: String, pointer: String, message: String) throws {
        let error = try #require(throws: SchemaError.self) { try Self.schema(text) }
        #expect(error.pointer == pointer && error.message.contains(message), "\(error)")
    }

    @Test("multipleOf is exact for integers and tight for decimals", arguments: [
        ("10000000001", 2.0, false), ("10000000000", 2.0, true), ("9007199254740993", 3.0, true),
        ("10000000.005", 0.01, false), ("0.3", 0.1, true), ("0.25", 0.01, true), ("19.99", 0.01, true), ("1e-7", 0.01, false),
    ])
    func multipleOf(value: String, multiple: Double, valid: Bool) throws {
        let validator = SchemaValidator(document: try Self.schema(#"{"multipleOf":\#(multiple)}"#))
        #expect(validator.isValid(try JSONParser().parse(value)) == valid)
    }

    @Test("uniqueItems treats 1 and 1.0 as equal and stays fast on many distinct items")
    func uniqueItems() throws {
        let validator = SchemaValidator(document: try Self.schema(#"{"uniqueItems":true}"#))
        #expect(!validator.isValid(try JSONParser().parse("[1, 2, 1.0]")))
        #expect(!validator.isValid(try JSONParser().parse(#"[{"a":1,"b":2},{"b":2,"a":1}]"#)))
        #expect(validator.isValid(.array((0..<100_000).map { .int(Int64($0)) })))
    }

    @Test("integers compare exactly, beyond what a double can hold")
    func exactIntegers() throws {
        let validator = SchemaValidator(document: try Self.schema(#"{"enum":[9007199254740993]}"#))
        #expect(validator.isValid(try JSONParser().parse("9007199254740993")))
        #expect(!validator.isValid(try JSONParser().parse("9007199254740992")))
    }

    @Test("member names compare by code unit, not by Unicode equivalence")
    func codeUnitNames() throws {
        let object = try #require(try JSONParser().parse("{\"K\":1,\"\u{212A}\":2}").objectValue)
        #expect(object.count == 2)
        #expect(object["K"] == .int(1))
        #expect(object["\u{212A}"] == .int(2))
    }

    @Test("a hostile payload yields a bounded report")
    func boundedReport() throws {
        let validator = SchemaValidator(document: try Self.schema(#"{"type":"array","items":{"type":"string"}}"#))
        let payload = JSONValue.array(Array(repeating: .int(1), count: 10_000))
        #expect(validator.validate(payload).count == 20)
    }

    @Test("a pattern's remembered outcomes agree with matching every time, past the table's size and for long texts")
    func patternOutcomesRemembered() throws {
        let validator = SchemaValidator(document: try Self.schema(#"{"type":"string","pattern":"^[A-Z]{3}$"}"#))
        // The oracle: three ASCII capitals, by bytes.
        func expected(_ text: String) -> Bool { text.utf8.count == 3 && text.utf8.allSatisfy { (65...90).contains($0) } }
        let letters = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabc").map(String.init)
        var texts: [String] = []
        for a in letters { for b in letters { for c in letters.prefix(8) { texts.append(a + b + c) } } }
        texts.append(String(repeating: "A", count: 100))
        #expect(texts.count > 4_096)
        for round in 0..<2 {
            for text in texts {
                #expect(validator.isValid(.string(text)) == expected(text), "round \(round): \(text)")
            }
        }
    }

    static func described(_ issues: [SchemaValidationIssue]) -> [String] {
        issues.map { "\($0.pointer) \($0.keyword)" }
    }

    @Test("a definition several properties refer to is checked at each of them, under each one's pointer")
    func sharedDefinition() throws {
        let validator = SchemaValidator(document: try Self.schema(##"""
            {"$defs":{"Money":{"type":"integer","minimum":0}},"type":"object",
             "properties":{"a":{"$ref":"#/$defs/Money"},"b":{"$ref":"#/$defs/Money"},
                           "c":{"type":"array","items":{"$ref":"#/$defs/Money"}},"d":{"$ref":"#/$defs/Money","maximum":10}}}
            """##))
        let issues = validator.validate(try JSONParser().parse(#"{"a":-1,"b":"x","c":[1,-2],"d":11}"#))
        #expect(Self.described(issues) == ["/a minimum", "/b type", "/c/1 minimum", "/d maximum"])
        #expect(Self.described(validator.validate(try JSONParser().parse(#"{"d":-1}"#))) == ["/d minimum"])
        #expect(validator.isValid(try JSONParser().parse(#"{"a":0,"b":5,"c":[],"d":10}"#)))
    }

    @Test("a schema that refers to its own root nests, and pointers name every level")
    func recursiveRoot() throws {
        let validator = SchemaValidator(document: try Self.schema(##"{"type":"object","properties":{"child":{"$ref":"#"},"n":{"type":"integer"}}}"##))
        #expect(validator.isValid(try JSONParser().parse(#"{"n":1,"child":{"child":{"n":2}}}"#)))
        #expect(Self.described(validator.validate(try JSONParser().parse(#"{"child":{"child":{"n":"x"}}}"#))) == ["/child/child/n type"])
    }

    @Test("integers are numbers, integral doubles are integers, and the message lists the declared types", arguments: [
        (#"{"type":"integer"}"#, "1", nil),
        (#"{"type":"integer"}"#, "1.0", nil),
        (#"{"type":"integer"}"#, "1.5", "expected integer, got number"),
        (#"{"type":"number"}"#, "1", nil),
        (#"{"type":"number"}"#, "1.5", nil),
        (#"{"type":"number"}"#, #""1""#, "expected number, got string"),
        (#"{"type":["string","integer"]}"#, "true", "expected integer or string, got boolean"),
        (#"{"type":["string","integer"]}"#, "2.5", "expected integer or string, got number"),
        (#"{"type":["number","null"]}"#, "null", nil),
        (#"{"type":["object","array","boolean"]}"#, "7", "expected array or boolean or object, got integer"),
    ] as [(String, String, String?)])
    func typeMasks(schema: String, value: String, message: String?) throws {
        let validator = SchemaValidator(document: try Self.schema(schema))
        let issues = validator.validate(try JSONParser().parse(value))
        #expect(issues.map(\.message) == (message.map { [$0] } ?? []))
        #expect(issues.allSatisfy { $0.keyword == "type" })
    }

    @Test("canonically equal but byte-different names stay different properties")
    func byteDistinctProperties() throws {
        let composed = "\u{E9}", decomposed = "e\u{301}"
        let validator = SchemaValidator(document: try Self.schema("""
            {"type":"object","additionalProperties":false,"required":["\(composed)"],
             "properties":{"\(composed)":{"type":"integer"},"\(decomposed)":{"type":"string"}}}
            """))
        #expect(validator.validate(.object([composed: .int(1), decomposed: .string("x")])).isEmpty)
        #expect(validator.validate(.object([decomposed: .string("x"), composed: .int(1)])).isEmpty)
        #expect(Self.described(validator.validate(.object([composed: .string("x"), decomposed: .int(1)]))) == ["/\(composed) type", "/\(decomposed) type"])
        #expect(Self.described(validator.validate(.object([decomposed: .string("x")]))) == [" required"])
        #expect(Self.described(validator.validateField(decomposed, .int(1))) == ["/\(decomposed) type"])
        #expect(Self.described(validator.validateField("e", .int(1))) == ["/e additionalProperties"])
    }

    @Test("missing required fields are reported before the members' issues, also when the report is cut short")
    func requiredFirst() throws {
        var validator = SchemaValidator(document: try Self.schema(Self.account))
        let payload = try JSONParser().parse(#"{"id":"","tags":[1]}"#)
        #expect(Self.described(validator.validate(payload)) == [" required", "/id minLength", "/tags/0 type"])
        validator.maxIssues = 1
        #expect(Self.described(validator.validate(payload)) == [" required"])
        #expect(!validator.isValid(payload))
    }

    @Test("required fields are tracked past the 64th property")
    func manyProperties() throws {
        let names = (0..<70).map { "p\($0)" }
        let properties = names.map { "\"\($0)\":{\"type\":\"integer\"}" }.joined(separator: ",")
        let validator = SchemaValidator(document: try Self.schema(#"{"type":"object","required":["p0","p63","p64","p69"],"properties":{\#(properties)}}"#))
        let all = JSONObject(names.map { JSONObject.Member(name: $0, value: .int(1)) })
        #expect(validator.isValid(.object(all)))
        #expect(validator.isValid(.object(JSONObject(Array(all.reversed())))))
        for missing in ["p0", "p63", "p64", "p69"] {
            let issues = validator.validate(.object(JSONObject(all.filter { $0.name != missing })))
            #expect(issues.map(\.message) == ["required field \"\(missing)\" is missing"])
        }
    }

    @Test("minLength and maxLength count Unicode scalars, whatever their UTF-8 length", arguments: [
        ("a", ["minLength"]), ("ab", []), ("\u{E9}", ["minLength"]), ("\u{E9}\u{E9}", []), ("e\u{301}", []),
        ("e\u{301}e\u{301}", ["maxLength"]), ("\u{1D11E}\u{1D11E}\u{1D11E}", []), ("\u{1D11E}\u{1D11E}\u{1D11E}\u{1D11E}", ["maxLength"]), ("abcd", ["maxLength"]),
    ])
    func scalarLengths(text: String, keywords: [String]) throws {
        let validator = SchemaValidator(document: try Self.schema(#"{"minLength":2,"maxLength":3}"#))
        #expect(validator.validate(.string(text)).map(\.keyword) == keywords)
    }

    @Test("uniqueItems names the first repeated pair, among few items and among many", arguments: [5, 40])
    func firstRepeatedPair(count: Int) throws {
        let validator = SchemaValidator(document: try Self.schema(#"{"uniqueItems":true}"#))
        let items = (0..<count).map { JSONValue.int(Int64($0)) } + [.double(Double(count - 2)), .int(1)]
        #expect(validator.validate(.array(items)).map(\.message) == ["items \(count - 2) and \(count) are equal"])
    }

    @Test("an update's field is checked against its declaration, additionalProperties or a false root", arguments: [
        (#"{"properties":{"a":{"type":"string"}},"additionalProperties":false}"#, "a", "1", ["/a type"]),
        (#"{"properties":{"a":{"type":"string"}},"additionalProperties":false}"#, "b", "1", ["/b additionalProperties"]),
        (#"{"properties":{"a":{"type":"string"}},"additionalProperties":{"type":"string"}}"#, "b", "1", ["/b type"]),
        (#"{"properties":{"a":{"type":"string"}}}"#, "b", "1", []),
        // A name matching a pattern is checked against it, declared or not, and is not
        // an additional property.
        (#"{"patternProperties":{"^x-":{"type":"integer"}},"additionalProperties":false}"#, "x-b", "1", []),
        (#"{"patternProperties":{"^x-":{"type":"integer"}},"additionalProperties":false}"#, "x-b", "\"1\"", ["/x-b type"]),
        (#"{"patternProperties":{"^x-":{"type":"integer"}},"additionalProperties":false}"#, "y", "1", ["/y additionalProperties"]),
        (#"{"properties":{"x-a":{"minimum":0}},"patternProperties":{"^x-":{"maximum":5}}}"#, "x-a", "9", ["/x-a maximum"]),
        (##"{"$defs":{"R":{"properties":{"a":{"minimum":2}}}},"$ref":"#/$defs/R"}"##, "a", "1", ["/a minimum"]),
        ("false", "a", "1", [" false"]),
        ("true", "a", "1", []),
    ])
    func updateField(schema: String, field: String, value: String, expected: [String]) throws {
        let validator = SchemaValidator(document: try Self.schema(schema))
        #expect(Self.described(validator.validateField(field, try JSONParser().parse(value))) == expected)
    }

    @Test("unevaluatedProperties sees what every applicator evaluated in place, and nothing of a subschema that failed", arguments: [
        (#"{"properties":{"a":{}},"unevaluatedProperties":false}"#, #"{"a":1}"#, true),
        (#"{"properties":{"a":{}},"unevaluatedProperties":false}"#, #"{"a":1,"b":1}"#, false),
        (#"{"patternProperties":{"^x-":{}},"unevaluatedProperties":false}"#, #"{"x-a":1}"#, true),
        (#"{"patternProperties":{"^x-":{}},"unevaluatedProperties":false}"#, #"{"y":1}"#, false),
        (#"{"additionalProperties":{"type":"integer"},"unevaluatedProperties":false}"#, #"{"y":1}"#, true),
        (#"{"properties":{"a":{}},"unevaluatedProperties":{"type":"string"}}"#, #"{"a":1,"b":"x"}"#, true),
        (#"{"properties":{"a":{}},"unevaluatedProperties":{"type":"string"}}"#, #"{"a":1,"b":2}"#, false),
        (#"{"allOf":[{"properties":{"a":{}}}],"unevaluatedProperties":false}"#, #"{"a":1}"#, true),
        (#"{"allOf":[{"properties":{"a":{}}}],"unevaluatedProperties":false}"#, #"{"a":1,"b":1}"#, false),
        // The first alternative fails on "a", so its "a" counts for nothing.
        (#"{"anyOf":[{"properties":{"a":{"type":"string"}}},{"properties":{"b":{}},"required":["b"]}],"unevaluatedProperties":false}"#, #"{"a":"x","b":1}"#, true),
        (#"{"anyOf":[{"properties":{"a":{"type":"string"}}},{"properties":{"b":{}},"required":["b"]}],"unevaluatedProperties":false}"#, #"{"a":1,"b":1}"#, false),
        (#"{"oneOf":[{"properties":{"a":{}},"required":["a"]},{"properties":{"b":{}},"required":["b"]}],"unevaluatedProperties":false}"#, #"{"b":1}"#, true),
        (#"{"oneOf":[{"properties":{"a":{}},"required":["a"]},{"properties":{"b":{}},"required":["b"]}],"unevaluatedProperties":false}"#, #"{"b":1,"a2":1}"#, false),
        (#"{"not":{"not":{"properties":{"a":{}}}},"unevaluatedProperties":false}"#, #"{"a":1}"#, false),
        (#"{"if":{"properties":{"a":{"const":1}},"required":["a"]},"then":{"properties":{"b":{}}},"else":{"properties":{"c":{}}},"unevaluatedProperties":false}"#, #"{"a":1,"b":1}"#, true),
        (#"{"if":{"properties":{"a":{"const":1}},"required":["a"]},"then":{"properties":{"b":{}}},"else":{"properties":{"c":{}}},"unevaluatedProperties":false}"#, #"{"a":1,"c":1}"#, false),
        // A failed condition evaluates nothing, "a" included.
        (#"{"if":{"properties":{"a":{"const":1}},"required":["a"]},"then":{"properties":{"b":{}}},"else":{"properties":{"c":{}}},"unevaluatedProperties":false}"#, #"{"a":2,"c":1}"#, false),
        (#"{"if":{"properties":{"a":{"const":1}},"required":["a"]},"then":{"properties":{"b":{}}},"else":{"properties":{"c":{}}},"unevaluatedProperties":false}"#, #"{"c":1}"#, true),
        (#"{"properties":{"a":{}},"dependentSchemas":{"a":{"properties":{"b":{}}}},"unevaluatedProperties":false}"#, #"{"a":1,"b":1}"#, true),
        (#"{"properties":{"a":{}},"dependentSchemas":{"a":{"properties":{"b":{}}}},"unevaluatedProperties":false}"#, #"{"b":1}"#, false),
        (##"{"$defs":{"A":{"properties":{"a":{}}}},"$ref":"#/$defs/A","properties":{"b":{}},"unevaluatedProperties":false}"##, #"{"a":1,"b":1}"#, true),
        (##"{"$defs":{"A":{"properties":{"a":{}}}},"$ref":"#/$defs/A","properties":{"b":{}},"unevaluatedProperties":false}"##, #"{"a":1,"c":1}"#, false),
        // A nested unevaluatedProperties evaluates every member it sees; a cousin sees nothing.
        (#"{"allOf":[{"properties":{"a":{}},"unevaluatedProperties":{"type":"integer"}}],"unevaluatedProperties":false}"#, #"{"a":"x","b":2}"#, true),
        (#"{"allOf":[{"properties":{"a":{}},"unevaluatedProperties":{"type":"integer"}}],"unevaluatedProperties":false}"#, #"{"b":"x"}"#, false),
        (#"{"allOf":[{"properties":{"a":{}}},{"unevaluatedProperties":false}]}"#, #"{"a":1}"#, false),
        // A property's own value is another location: what is evaluated inside it does not count here.
        (#"{"properties":{"a":{"properties":{"b":{}}}},"unevaluatedProperties":false}"#, #"{"a":{"b":1},"b":1}"#, false),
    ])
    func unevaluatedProperties(schema: String, payload: String, valid: Bool) throws {
        let validator = SchemaValidator(document: try Self.schema(schema))
        let value = try JSONParser().parse(payload)
        #expect(validator.isValid(value) == valid)
        #expect(validator.validate(value).isEmpty == valid)
    }

    @Test("unevaluatedItems sees prefixItems, items and contains, in place through the applicators, and nothing of a subschema that failed", arguments: [
        (#"{"prefixItems":[{}],"unevaluatedItems":false}"#, "[1]", true),
        (#"{"prefixItems":[{}],"unevaluatedItems":false}"#, "[1,2]", false),
        (#"{"prefixItems":[{}],"items":{"type":"integer"},"unevaluatedItems":false}"#, "[1,2]", true),
        (#"{"contains":{"type":"string"},"unevaluatedItems":{"type":"integer"}}"#, #"["a",1,"b"]"#, true),
        (#"{"contains":{"type":"string"},"unevaluatedItems":{"type":"integer"}}"#, #"["a",true]"#, false),
        (#"{"allOf":[{"prefixItems":[{},{}]}],"unevaluatedItems":false}"#, "[1,2]", true),
        (#"{"allOf":[{"prefixItems":[{},{}]}],"unevaluatedItems":false}"#, "[1,2,3]", false),
        (#"{"anyOf":[{"prefixItems":[{"type":"string"}]},{"prefixItems":[{},{}]}],"unevaluatedItems":false}"#, "[1,2]", true),
        (#"{"anyOf":[{"prefixItems":[{"type":"string"}]},{"prefixItems":[{},{}]}],"unevaluatedItems":false}"#, "[1,2,3]", false),
        (#"{"anyOf":[{"prefixItems":[{},{},{}],"minItems":4},{"prefixItems":[{}]}],"unevaluatedItems":false}"#, "[1,2]", false),
        (#"{"if":{"prefixItems":[{"const":1}]},"then":{"prefixItems":[{},{}]},"else":{"items":true},"unevaluatedItems":false}"#, "[1,2]", true),
        (#"{"if":{"prefixItems":[{"const":1}]},"then":{"prefixItems":[{},{}]},"else":{"items":true},"unevaluatedItems":false}"#, "[1,2,3]", false),
        (#"{"if":{"prefixItems":[{"const":1}]},"then":{"prefixItems":[{},{}]},"else":{"items":true},"unevaluatedItems":false}"#, "[2,2,3]", true),
        (#"{"not":{"not":{"items":true}},"unevaluatedItems":false}"#, "[1]", false),
        (#"{"allOf":[{"unevaluatedItems":{"type":"integer"}}],"unevaluatedItems":false}"#, "[1,2]", true),
        (#"{"allOf":[{"unevaluatedItems":{"type":"integer"}}],"unevaluatedItems":false}"#, #"[1,"x"]"#, false),
        (#"{"allOf":[{"prefixItems":[{}]},{"unevaluatedItems":false}]}"#, "[1]", false),
    ])
    func unevaluatedItems(schema: String, payload: String, valid: Bool) throws {
        let validator = SchemaValidator(document: try Self.schema(schema))
        let value = try JSONParser().parse(payload)
        #expect(validator.isValid(value) == valid)
        #expect(validator.validate(value).isEmpty == valid)
    }

    @Test("unevaluated members are told apart by their bytes: a name canonically equal to an evaluated one is still unevaluated, and is reported under its own pointer")
    func unevaluatedByteDistinct() throws {
        let composed = "\u{E9}", decomposed = "e\u{301}"
        for schema in [
            #"{"properties":{"\#(composed)":{}},"unevaluatedProperties":false}"#,
            #"{"allOf":[{"properties":{"\#(composed)":{}}}],"unevaluatedProperties":false}"#,
            #"{"patternProperties":{"^\#(composed)$":{}},"unevaluatedProperties":false}"#,
            #"{"dependentSchemas":{"\#(composed)":{"properties":{"\#(composed)":{}}}},"unevaluatedProperties":false}"#,
        ] {
            let validator = SchemaValidator(document: try Self.schema(schema))
            #expect(validator.validate(.object([composed: .int(1)])).isEmpty, "\(schema)")
            #expect(Self.described(validator.validate(.object([composed: .int(1), decomposed: .int(2)]))) == ["/\(decomposed) unevaluatedProperties"], "\(schema)")
            #expect(!validator.isValid(.object([decomposed: .int(2)])), "\(schema)")
        }
    }

    @Test("members and items past the 64th are tracked as evaluated or not", arguments: [70, 200])
    func manyEvaluated(count: Int) throws {
        let declared = (0..<count).filter { $0 % 3 != 0 }
        let properties = declared.map { "\"p\($0)\":{}" }.joined(separator: ",")
        let validator = SchemaValidator(document: try Self.schema(#"{"allOf":[{"properties":{\#(properties)}}],"unevaluatedProperties":{"type":"string"}}"#))
        let members = (0..<count).map { JSONObject.Member(name: "p\($0)", value: $0 % 3 == 0 ? .string("s") : .int(1)) }
        #expect(validator.isValid(.object(JSONObject(members))))
        var wrong = members
        wrong[count - 1] = JSONObject.Member(name: "p\(count - 1)", value: .int(1))
        #expect(Self.described(validator.validate(.object(JSONObject(wrong)))) == (((count - 1) % 3 == 0) ? ["/p\(count - 1) type"] : []))
        let items = SchemaValidator(document: try Self.schema(#"{"allOf":[{"prefixItems":[\#(Array(repeating: "{}", count: count - 1).joined(separator: ","))]}],"unevaluatedItems":false}"#))
        #expect(items.isValid(.array(Array(repeating: .int(1), count: count - 1))))
        #expect(Self.described(items.validate(.array(Array(repeating: .int(1), count: count)))) == ["/\(count - 1) unevaluatedItems"])
    }

    @Test("an update's field meets the root's unevaluatedProperties only if no subschema applying in place could evaluate it", arguments: [
        ("a", [String]()), ("b", []), ("x-c", []), ("d", ["/d unevaluatedProperties"]),
    ])
    func unevaluatedField(field: String, expected: [String]) throws {
        let validator = SchemaValidator(document: try Self.schema(#"{"properties":{"a":{}},"allOf":[{"properties":{"b":{}}}],"anyOf":[{"patternProperties":{"^x-":{}}},true],"unevaluatedProperties":false}"#))
        #expect(Self.described(validator.validateField(field, .int(1))) == expected)
    }

    @Test("$dynamicRef resolves to the outermost resource in the dynamic scope declaring its anchor, and like $ref without the bookend")
    func dynamicReferences() throws {
        func tree(rootAnchor: String) -> String {
            ##"{"$id":"https://example.com/strict-tree",\##(rootAnchor)"$ref":"tree","unevaluatedProperties":false,"$defs":{"tree":{"$id":"tree","$dynamicAnchor":"node","type":"object","properties":{"data":true,"children":{"type":"array","items":{"$dynamicRef":"#node"}}}}}}"##
        }
        let strict = SchemaValidator(document: try Self.schema(tree(rootAnchor: #""$dynamicAnchor":"node","#)))
        let loose = SchemaValidator(document: try Self.schema(tree(rootAnchor: "")))
        let misspelt = try JSONParser().parse(#"{"children":[{"daat":1}]}"#)
        let fine = try JSONParser().parse(#"{"data":1,"children":[{"data":2,"children":[]}]}"#)
        #expect(strict.isValid(fine) && loose.isValid(fine))
        #expect(Self.described(strict.validate(misspelt)) == ["/children/0/daat unevaluatedProperties"])
        #expect(loose.isValid(misspelt))
        // Bookended, the list's items are the root's; with a plain $anchor, its own.
        func list(anchor: String) -> String {
            ##"{"$id":"https://example.com/root","$dynamicAnchor":"item","type":"object","properties":{"list":{"$ref":"list"}},"$defs":{"list":{"$id":"list","type":"array","items":{"$dynamicRef":"#item"},"$defs":{"i":{"\##(anchor)":"item","type":"integer"}}}}}"##
        }
        let bookended = SchemaValidator(document: try Self.schema(list(anchor: "$dynamicAnchor")))
        let plain = SchemaValidator(document: try Self.schema(list(anchor: "$anchor")))
        let objects = try JSONParser().parse(#"{"list":[{}]}"#), integers = try JSONParser().parse(#"{"list":[1]}"#)
        #expect(bookended.isValid(objects) && !bookended.isValid(integers))
        #expect(plain.isValid(integers) && !plain.isValid(objects))
    }
}

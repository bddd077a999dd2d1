import PumphouseContracts
import Testing

/// Identity by bytes in the contracts layer: values, member names, the schema keywords
/// that compare values (`enum`, `const`, `uniqueItems`) and property names.
@Suite("Byte identity in contracts, JSON values and schemas")
struct ContractByteIdentityTests {
    /// Pairs Swift's `String` takes for equal: composed and decomposed forms, and
    /// compatibility singletons (ANGSTROM SIGN, KELVIN SIGN) against their canonical forms.
    static let twins: [(String, String)] = [
        ("caf\u{E9}", "cafe\u{301}"),
        ("\u{212B}", "\u{C5}"),
        ("\u{C5}", "A\u{30A}"),
        ("\u{212A}", "K"),
    ]

    @Test("ExactKey and String.isSameBytes tell the spellings apart; order is byte order", arguments: twins)
    func exactKey(a: String, b: String) {
        #expect(a == b, "precondition: String equates them")
        #expect(ExactKey(a) != ExactKey(b) && !a.isSameBytes(as: b))
        #expect(Set([ExactKey(a), ExactKey(b)]).count == 2)
        var map: [ExactKey: Int] = [:]
        map[ExactKey(a)] = 1
        map[ExactKey(b)] = 2
        #expect(map.count == 2)
        #expect((ExactKey(a) < ExactKey(b)) == a.utf8.lexicographicallyPrecedes(b.utf8))
        #expect((ExactKey(a) < ExactKey(b)) != (ExactKey(b) < ExactKey(a)))
        #expect(ExactKey(a) == ExactKey(String(decoding: Array(a.utf8), as: UTF8.self)))
    }

    @Test("JSON values and objects compare and hash strings and member names by bytes", arguments: twins)
    func jsonValues(a: String, b: String) throws {
        #expect(JSONValue.string(a) != .string(b))
        #expect(!JSONValue.string(a).jsonEquals(.string(b)))
        #expect(Set([JSONValue.string(a), .string(b)]).count == 2)
        let object: JSONObject = [a: .int(1)]
        #expect(object[b] == nil && object[a] == .int(1) && !object.contains(name: b))
        #expect(JSONValue.object([a: .int(1)]) != .object([b: .int(1)]))
        // Both spellings as member names of one object are two members, not a duplicate.
        let text = "{\"\(a)\":1,\"\(b)\":2}"
        guard case .object(let parsed) = try JSONParser().parse(Array(text.utf8)) else { Issue.record("not an object"); return }
        #expect(parsed.count == 2 && parsed[a] == .int(1) && parsed[b] == .int(2))
    }

    @Test("enum, const and uniqueItems compare by bytes; properties match by bytes", arguments: twins)
    func schemaKeywords(a: String, b: String) throws {
        func schema(_ text: String) throws -> SchemaValidator {
            SchemaValidator(document: try SchemaParser().parse(Array(text.utf8)))
        }
        #expect(try schema("{\"enum\":[\"\(a)\"]}").isValid(.string(a)))
        #expect(!(try schema("{\"enum\":[\"\(a)\"]}").isValid(.string(b))))
        #expect(!(try schema("{\"const\":\"\(a)\"}").isValid(.string(b))))
        // ECMA-262 patterns match code points: one spelling does not match the other's pattern.
        #expect(try schema("{\"pattern\":\"^\(a)$\"}").isValid(.string(a)))
        #expect(!(try schema("{\"pattern\":\"^\(a)$\"}").isValid(.string(b))))
        let unique = try schema("{\"type\":\"array\",\"uniqueItems\":true}")
        #expect(unique.isValid(.array([.string(a), .string(b)])))
        #expect(!unique.isValid(.array([.string(a), .string(a)])))
        let closed = try schema("{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{\"\(a)\":{\"type\":\"integer\"}},\"required\":[\"\(a)\"]}")
        #expect(closed.isValid(.object([a: .int(1)])))
        #expect(!closed.isValid(.object([b: .int(1)])), "\(b.debugDescription) is another property than \(a.debugDescription)")
        // Both spellings in `required` are two names, not a repetition.
        #expect(throws: Never.self) { try SchemaParser().parse(Array("{\"required\":[\"\(a)\",\"\(b)\"]}".utf8)) }
    }

    @Test("definitions, patterns and references are told apart by bytes", arguments: twins)
    func schemaLocations(a: String, b: String) throws {
        // Two `$defs` entries spelled alike are refused: a reference could not tell which it means.
        let twoDefinitions = "{\"$defs\":{\"\(a)\":{\"type\":\"string\"},\"\(b)\":{\"type\":\"integer\"}},\"$ref\":\"#/$defs/\(a)\"}"
        #expect {
            try SchemaParser().parse(Array(twoDefinitions.utf8))
        } throws: { error in
            "\(error)".contains("Unicode normalization")
        }
        // A pattern changed to the other spelling is a change: ECMA-262 patterns match code points.
        func document(_ text: String) throws -> SchemaDocument { try SchemaParser().parse(Array(text.utf8)) }
        let old = try document("{\"type\":\"string\",\"pattern\":\"^\(a)$\"}"), new = try document("{\"type\":\"string\",\"pattern\":\"^\(b)$\"}")
        #expect(old != new)
        #expect(SchemaCompatibility().check(old: old, new: new, mode: .backward).map(\.rule) == ["PATTERN_CHANGED"])
        #expect(SchemaCompatibility().check(old: old, new: old, mode: .backward).isEmpty)
        // References to the two spellings are two references.
        var one = SchemaNode(), other = SchemaNode()
        one.ref = "#/$defs/\(a)"
        other.ref = "#/$defs/\(b)"
        #expect(one != other)
        #expect(DynamicReference(target: "#/$defs/\(a)", anchor: nil) != DynamicReference(target: "#/$defs/\(b)", anchor: nil))
    }

    @Test("contracts keep their key and origin bytes through the codec; equality is by bytes", arguments: twins)
    func contracts(a: String, b: String) throws {
        let name = try ContractName("bench.Account")
        let one = Contract(name: name, version: 1, action: .delete, key: a, origin: a, sequence: 1, eventTime: 0)
        var other = one
        other.key = b
        #expect(one != other)
        other = one
        other.origin = b
        #expect(one != other)
        let encoded = try ContractCodec().encode(one)
        let decoded = try ContractCodec().decode(key: Array(encoded.key.utf8), value: encoded.value)
        #expect(Array(decoded.key.utf8) == Array(a.utf8) && Array(decoded.origin.utf8) == Array(a.utf8))
        // A message keyed by the other spelling is not this contract's key.
        #expect(throws: ContractError.self) { try ContractCodec().decode(key: Array(b.utf8), value: encoded.value) }
        // A header naming the other spelling of the origin disagrees with the body.
        #expect(throws: ContractError.self) {
            try ContractCodec().decode(key: Array(a.utf8), value: encoded.value, headers: [(ContractCodec.Header.origin, Array(b.utf8))])
        }
    }
}

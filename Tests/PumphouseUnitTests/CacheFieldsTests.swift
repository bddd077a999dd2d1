import Foundation
import PumphouseContracts
import PumphouseLoad
import PumphouseUnit
import Testing

/// The conversions `@CacheFields` generates, and `CodableCacheEntity`'s direct Codable
/// path, run for real: every supported type there and back, absent against null, nested
/// values, and errors that name the type and the field.
@Suite("Generated and Codable field conversions")
struct CacheFieldsTests {
    enum Status: String, CacheFieldValue, Equatable { case open, frozen }

    @CacheFields
    struct Address: Equatable {
        var street: String
        var zip: Int32?
    }

    struct Note: CodableCacheFieldValue, Equatable {
        var text: String
        var tags: [String]
    }

    @CacheFields
    struct Everything: Equatable {
        var string: String
        var bool: Bool
        var int: Int
        var int8: Int8
        var int16: Int16
        var int32: Int32
        var int64: Int64
        var uint: UInt
        var uint8: UInt8
        var uint16: UInt16
        var uint32: UInt32
        var uint64: UInt64
        var double: Double
        var float: Float
        var optional: String?
        var list: [Int]
        var listOfOptionals: [String?]
        var map: [String: Double]
        var exactMap: [ExactKey: Int64]
        var status: Status
        var address: Address
        var addresses: [Address]
        var note: Note
        let kind = "everything"

        static let sample = Everything(
            string: "é\u{301}\"quoted\"", bool: true, int: -1, int8: -128, int16: 32_767, int32: -2_147_483_648,
            int64: .max, uint: 7, uint8: 255, uint16: 65_535, uint32: 4_294_967_295, uint64: 9_223_372_036_854_775_807,
            double: 0.1, float: 1.5, optional: nil, list: [1, 2, 3], listOfOptionals: ["a", nil],
            map: ["b": 2, "a": 1], exactMap: [ExactKey("e\u{301}"): 1, ExactKey("\u{E9}"): 2], status: .frozen,
            address: Address(street: "Main", zip: nil), addresses: [Address(street: "Side", zip: 1234)],
            note: Note(text: "hi", tags: ["x"])
        )
    }

    @CacheFields
    struct Renamed: Equatable {
        var holdUntil: Int64
        var id: String
        var scratch = 0

        enum CodingKeys: String, CodingKey {
            case holdUntil = "hold_until"
            case id
        }
    }

    @CacheFields
    struct Fixed: Equatable {
        let id: String
        var count: Int
    }

    @Test("apply(fields:deltas:) in place agrees with applying through fields, for every supported type, on random updates")
    func applyAgreesWithConverting() {
        var random = SystemRandomNumberGenerator()
        let names = [
            "string", "bool", "int", "int8", "uint8", "uint64", "double", "float", "optional", "list", "map", "exactMap",
            "status", "address", "note", "kind", "unknown", "strin\u{67}", "\u{E9}",
        ]
        let values: [JSONValue] = [
            .string("x"), .string("open"), .string("e\u{301}"), .int(0), .int(-3), .int(127), .int(255), .int(.max), .int(.min),
            .double(1.5), .double(2.0), .double(-0.0), .null, .bool(true), .array([.int(1)]), .array([.string("a"), .null]),
            .object(["street": .string("S"), "zip": .int(9)]), .object(["text": .string("t"), "tags": .array([])]), .object([:]),
        ]
        let deltas: [JSONValue] = [.int(1), .int(-1), .int(.max), .double(0.5), .double(-2.0)]
        for _ in 0..<3_000 {
            var update = JSONObject()
            var added = JSONObject()
            for _ in 0..<Int.random(in: 0...3, using: &random) { update[names.randomElement(using: &random)!] = values.randomElement(using: &random)! }
            for _ in 0..<Int.random(in: 0...2, using: &random) { added[names.randomElement(using: &random)!] = deltas.randomElement(using: &random)! }
            var inPlace = Everything.sample
            var converted = Everything.sample
            let inPlaceResult = (try? inPlace.apply(fields: update, deltas: added)).map { inPlace }
            let convertedResult = (try? converted.applyConverting(fields: update, deltas: added)).map { converted }
            #expect(inPlaceResult == convertedResult, "fields \(update), deltas \(added)")
        }
    }

    @Test("a struct whose let a change may set applies an update through fields, so the let changes as on every other replica")
    func applyWithLetConverts() throws {
        var fixed = Fixed(id: "a", count: 1)
        try fixed.apply(fields: ["id": .string("b")], deltas: ["count": .int(2)])
        #expect(fixed == Fixed(id: "b", count: 3))
    }

    func expectFieldError(
        _ body: () throws -> Void, type: String, field: String, saying parts: [String],
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        do {
            try body()
            Issue.record("expected a CacheFieldError for \(type).\(field)", sourceLocation: sourceLocation)
        } catch let error as CacheFieldError {
            #expect(error.type == type, sourceLocation: sourceLocation)
            #expect(error.field == field, sourceLocation: sourceLocation)
            let text = error.description
            #expect(text.contains("\(type) field \"\(field)\""), "\(text)", sourceLocation: sourceLocation)
            for part in parts { #expect(text.contains(part), "\(text)", sourceLocation: sourceLocation) }
        } catch {
            Issue.record("expected a CacheFieldError, got \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test("every supported type converts there and back")
    func roundTrip() throws {
        let fields = try Everything.sample.fields
        #expect(try Everything(fields: fields) == Everything.sample)
        // Through JSON text too, as the fields travel.
        let parsed = try JSONParser().parse(Array(JSONWriter.encode(.object(fields))))
        #expect(try Everything(fields: #require(parsed.objectValue)) == Everything.sample)
    }

    @Test("the JSON the fields hold: names in declaration order, values as a contract holds them")
    func shape() throws {
        let fields = try Everything.sample.fields
        #expect(fields.names == [
            "string", "bool", "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64",
            "double", "float", "list", "listOfOptionals", "map", "exactMap", "status", "address", "addresses", "note", "kind",
        ])
        #expect(fields["int64"] == .int(.max))
        #expect(fields["uint8"] == .int(255))
        #expect(fields["float"] == .double(1.5))
        #expect(fields["listOfOptionals"] == .array([.string("a"), .null]))
        // Dictionaries in byte order of their names, so the same value always gives the same fields.
        #expect(fields["map"] == .object(["a": .double(1), "b": .double(2)]))
        #expect(fields["exactMap"]?.objectValue?.names.map { Array($0.utf8) } == [[0x65, 0xCC, 0x81], [0xC3, 0xA9]])
        #expect(fields["status"] == .string("frozen"))
        #expect(fields["address"] == .object(["street": .string("Main")]))
        #expect(fields["note"] == .object(["text": .string("hi"), "tags": .array([.string("x")])]))
        // The string's bytes are kept as they are, not normalised.
        #expect(fields["string"]?.stringValue.map { Array($0.utf8) } == Array("é\u{301}\"quoted\"".utf8))
    }

    @Test("an optional reads as nil whether absent or null, and nil is left out")
    func optionals() throws {
        var fields = try Everything.sample.fields
        #expect(!fields.contains(name: "optional"))
        #expect(try Everything(fields: fields).optional == nil)
        fields["optional"] = .null
        #expect(try Everything(fields: fields).optional == nil)
        fields["optional"] = .string("here")
        #expect(try Everything(fields: fields).optional == "here")
        var nested = try Address(street: "Main", zip: 5).fields
        #expect(nested["zip"] == .int(5))
        nested["zip"] = .null
        #expect(try Address(fields: nested) == Address(street: "Main", zip: nil))
    }

    @Test("an integral double reads as an integer; an integer reads as a double")
    func numbers() throws {
        var fields = try Everything.sample.fields
        fields["int"] = .double(42)
        fields["double"] = .int(3)
        let value = try Everything(fields: fields)
        #expect(value.int == 42)
        #expect(value.double == 3)
    }

    @Test("CodingKeys rename; a property they leave out keeps its own value")
    func codingKeys() throws {
        let fields = try Renamed(holdUntil: 9, id: "a", scratch: 5).fields
        #expect(fields == ["hold_until": .int(9), "id": .string("a")])
        #expect(try Renamed(fields: fields) == Renamed(holdUntil: 9, id: "a", scratch: 0))
    }

    @Test("a missing field, a wrong type, an integer out of range: the error names the type, the field and the fix")
    func readErrors() throws {
        let good = try Everything.sample.fields
        var fields = good
        fields["int8"] = nil
        expectFieldError({ _ = try Everything(fields: fields) }, type: "Everything", field: "int8", saying: ["is missing", "make the property optional"])
        fields = good
        fields["int"] = .string("1")
        expectFieldError({ _ = try Everything(fields: fields) }, type: "Everything", field: "int", saying: ["a JSON string", "Int needs a JSON integer"])
        fields = good
        fields["bool"] = .null
        expectFieldError({ _ = try Everything(fields: fields) }, type: "Everything", field: "bool", saying: ["holds null"])
        fields = good
        fields["int8"] = .int(300)
        expectFieldError({ _ = try Everything(fields: fields) }, type: "Everything", field: "int8", saying: ["300", "Int8", "widen"])
        fields = good
        fields["uint"] = .int(-1)
        expectFieldError({ _ = try Everything(fields: fields) }, type: "Everything", field: "uint", saying: ["-1", "UInt"])
        fields = good
        fields["int"] = .double(1.5)
        expectFieldError({ _ = try Everything(fields: fields) }, type: "Everything", field: "int", saying: ["JSON number"])
        fields = good
        fields["float"] = .double(1e300)
        expectFieldError({ _ = try Everything(fields: fields) }, type: "Everything", field: "float", saying: ["Float"])
        fields = good
        fields["status"] = .string("closed")
        expectFieldError({ _ = try Everything(fields: fields) }, type: "Everything", field: "status", saying: ["closed", "not a Status"])
        fields = good
        fields["list"] = .array([.int(1), .string("two")])
        expectFieldError({ _ = try Everything(fields: fields) }, type: "Everything", field: "list", saying: ["at [1]", "a JSON string"])
        fields = good
        fields["addresses"] = .array([.object(["zip": .int(1)])])
        expectFieldError({ _ = try Everything(fields: fields) }, type: "Everything", field: "addresses", saying: ["at [0]", "Address field \"street\": is missing"])
        fields = good
        fields["note"] = .object(["text": .int(1), "tags": .array([])])
        expectFieldError({ _ = try Everything(fields: fields) }, type: "Everything", field: "note", saying: ["Note field \"text\""])
    }

    @Test("two names a String-keyed dictionary would merge are refused, not merged")
    func equivalentNames() throws {
        var fields = try Everything.sample.fields
        fields["map"] = .object(JSONObject([.init(name: "e\u{301}", value: .double(1)), .init(name: "\u{E9}", value: .double(2))]))
        expectFieldError({ _ = try Everything(fields: fields) }, type: "Everything", field: "map", saying: ["ExactKey"])
        // Keyed by ExactKey, both are kept.
        fields = try Everything.sample.fields
        #expect(try Everything(fields: fields).exactMap.count == 2)
    }

    @Test("values JSON cannot hold are refused while encoding, naming the field")
    func writeErrors() {
        var value = Everything.sample
        value.double = .nan
        expectFieldError({ _ = try value.fields }, type: "Everything", field: "double", saying: ["nan", "while encoding"])
        value = Everything.sample
        value.uint64 = .max
        expectFieldError({ _ = try value.fields }, type: "Everything", field: "uint64", saying: ["18446744073709551615", "UInt64"])
        value = Everything.sample
        value.addresses = [Address(street: "a", zip: nil)]
        value.map = ["x": .infinity]
        expectFieldError({ _ = try value.fields }, type: "Everything", field: "map", saying: ["[\"x\"]", "inf"])
    }

    // MARK: The project's entities

    @Test("the macro, the Codable default and the hand-written bench.Account give the same fields as Foundation's coders did")
    func sameFieldsEveryWay() throws {
        let handWritten = BenchAccount(id: "acc-1", balance: 42).fields
        let generated = try BenchCodableAccount(id: "acc-1", balance: 42).fields
        let codable = try BenchCodableDefaultAccount(id: "acc-1", balance: 42).fields
        let viaText = try JSONParser().parse(Array(JSONEncoder().encode(BenchCodableDefaultAccount(id: "acc-1", balance: 42))))
        #expect(generated == handWritten)
        #expect(codable == handWritten)
        #expect(try #require(viaText.objectValue).jsonEqualsObject(handWritten))  // Foundation kept no member order
        #expect(try BenchCodableAccount(fields: handWritten) == BenchCodableAccount(id: "acc-1", balance: 42))
        #expect(try BenchCodableDefaultAccount(fields: handWritten) == BenchCodableDefaultAccount(id: "acc-1", balance: 42))
    }

    // MARK: CodableCacheEntity without the macro

    struct Profile: CodableCacheEntity {
        static let contract = BenchAccount.contract
        var id: String
        var age: UInt8
        var nickname: String?
        var scores: [Double]
        var tags: [String: Int]
        var home: Home
        var key: String { id }

        struct Home: Codable, Equatable, Sendable {
            var city: String
            var floor: Int16?
        }
    }

    @Test("a CodableCacheEntity converts without JSON text, as Foundation's coders would")
    func codableDefault() throws {
        let profile = Profile(id: "p", age: 40, nickname: nil, scores: [1.5, 2], tags: ["b": 2, "a": 1], home: .init(city: "Oslo", floor: 3))
        let fields = try profile.fields
        #expect(!fields.contains(name: "nickname"))
        #expect(try Profile(fields: fields) == profile)
        let viaText = try JSONParser().parse(Array(JSONEncoder().encode(profile)))
        #expect(try #require(viaText.objectValue).jsonEqualsObject(fields))
        var withNull = fields
        withNull["nickname"] = .null
        #expect(try Profile(fields: withNull).nickname == nil)
    }

    @Test("a CodableCacheEntity's errors name the type and the field's path")
    func codableDefaultErrors() throws {
        let profile = Profile(id: "p", age: 40, nickname: nil, scores: [], tags: [:], home: .init(city: "Oslo", floor: nil))
        let good = try profile.fields
        var fields = good
        fields["age"] = nil
        expectFieldError({ _ = try Profile(fields: fields) }, type: "Profile", field: "age", saying: ["is missing"])
        fields = good
        fields["age"] = .int(256)
        expectFieldError({ _ = try Profile(fields: fields) }, type: "Profile", field: "age", saying: ["256", "UInt8"])
        fields = good
        fields["home"] = .object(["city": .int(1)])
        expectFieldError({ _ = try Profile(fields: fields) }, type: "Profile", field: "home.city", saying: ["JSON integer", "String"])
        fields = good
        fields["scores"] = .array([.double(1), .string("x")])
        expectFieldError({ _ = try Profile(fields: fields) }, type: "Profile", field: "scores[1]", saying: ["JSON string"])
        var bad = profile
        bad.scores = [.nan]
        expectFieldError({ _ = try bad.fields }, type: "Profile", field: "scores[0]", saying: ["nan", "while encoding"])
    }

    @Test("a CodableCacheEntity refuses two names its String-keyed dictionary would merge, as @CacheFields does", arguments: [("e\u{301}", "\u{E9}"), ("\u{212B}", "\u{C5}"), ("\u{212A}", "K")])
    func codableDefaultEquivalentNames(one: String, other: String) throws {
        var fields = try Profile(id: "p", age: 40, nickname: nil, scores: [], tags: [:], home: .init(city: "Oslo", floor: nil)).fields
        fields["tags"] = .object(JSONObject([.init(name: one, value: .int(1)), .init(name: other, value: .int(2))]))
        expectFieldError({ _ = try Profile(fields: fields) }, type: "Profile", field: "tags", saying: ["Unicode normalization", "rename one"])
        // Byte-different names Swift also tells apart are two entries.
        fields["tags"] = .object(JSONObject([.init(name: one, value: .int(1)), .init(name: "x", value: .int(2))]))
        #expect(try Profile(fields: fields).tags.count == 2)
    }
}

extension JSONObject {
    fileprivate func jsonEqualsObject(_ other: JSONObject) -> Bool {
        JSONValue.object(self).jsonEquals(.object(other))
    }
}

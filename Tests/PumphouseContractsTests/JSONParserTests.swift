import PumphouseContracts
import PumphouseTestSupport
import Testing

@Suite("JSON parser strictness")
struct JSONParserTests {
    @Test("rejects what RFC 8259 rejects", arguments: [
        "", "{", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "-", "1e", "+1", "NaN", "Infinity", "tru", "nul",
        "\"unterminated", "\"bad \\x escape\"", "\"\\ud800\"", "\"\\udc00\"", "\"tab\there\"", "{\"a\" 1}", "[1 2]", "1 2", "{a:1}",
    ])
    func rejects(text: String) {
        #expect(throws: JSONError.self) { try JSONParser().parse(text) }
    }

    @Test("accepts and decodes edge values")
    func accepts() throws {
        #expect(try JSONParser().parse("-9223372036854775808") == .int(.min))
        #expect(try JSONParser().parse("9223372036854775808") == .double(9_223_372_036_854_775_808))
        #expect(try JSONParser().parse("\"\\ud834\\udd1e\"") == .string("𝄞"))
        #expect(try JSONParser().parse(" [ 1.5e3 , -0 , true ] ") == .array([.double(1500), .int(0), .bool(true)]))
        #expect(try JSONParser().parse("{}") == .object(JSONObject()))
    }

    @Test("strict UTF-8: overlong forms, surrogates, out-of-range and truncated sequences are rejected", arguments: [
        [0xC0, 0xAF], [0xE0, 0x80, 0xAF], [0xF0, 0x80, 0x80, 0xAF],  // overlong "/"
        [0xED, 0xA0, 0x80],  // UTF-16 surrogate U+D800
        [0xF4, 0x90, 0x80, 0x80],  // above U+10FFFF
        [0xF5, 0x80, 0x80, 0x80], [0xFF],  // never valid lead bytes
        [0xE2, 0x82], [0xC3],  // truncated
        [0x80],  // lone continuation
    ] as [[UInt8]])
    func invalidUTF8(sequence: [UInt8]) throws {
        let bytes = Array("\"a".utf8) + sequence + Array("b\"".utf8)
        let error = try #require(throws: JSONError.self) { try JSONParser().parse(bytes) }
        #expect(error.reason == .invalidUTF8)
    }

    @Test("valid multi-byte UTF-8 at every length is accepted")
    func validUTF8() throws {
        let text = "é€𝄞\u{7F}\u{80}\u{7FF}\u{800}\u{FFFF}\u{10000}\u{10FFFF}"
        #expect(try JSONParser().parse("\"\(text)\"") == .string(text))
    }

    @Test("bounds depth and size")
    func limits() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: JSONError(reason: .tooDeep(limit: 64), offset: 64)) { try JSONParser().parse(deep) }
        #expect(throws: JSONError(reason: .tooLarge(limit: 4), offset: 4)) { try JSONParser(maxBytes: 4).parse("[1,2,3]") }
    }

    @Test("large objects: duplicates are still found by bytes, and many members cost linear time, not quadratic")
    func largeObjects() throws {
        let names = (0..<100).map { "n\($0)" }
        func object(_ names: [String]) -> String { "{" + names.map { "\"\($0)\":0" }.joined(separator: ",") + "}" }
        #expect(throws: JSONError(reason: .duplicateMember("n7"), offset: 791)) { try JSONParser().parse(object(names + ["n7"])) }
        // Canonically equivalent but different bytes (KELVIN SIGN and K): distinct members.
        let kelvin = try #require(try JSONParser().parse(object(names + ["K", "\u{212A}"])).objectValue)
        #expect(kelvin.count == 102)
        // Names alike in length and first byte defeat the small-object filter.
        let many = object((0..<80_000).map { "a\(100_000 + $0)" })
        let started = ContinuousClock.now
        #expect(try JSONParser().parse(many).objectValue?.count == 80_000)
        // A bound against the quadratic check (92 s in a debug build), not a speed test:
        // loose enough for a loaded CI machine.
        #expect(ContinuousClock.now - started < .seconds(20))
    }

    @Test("no input crashes the parser")
    func fuzz() {
        var rng = SplitMix(state: 7)
        let pieces = ["{", "}", "[", "]", "\"", "\\", ":", ",", "1", "-", "e", ".", "true", "null", "\\u00", "é", " "]
        for _ in 0..<5_000 {
            var bytes = Array((0..<Int.random(in: 0...24, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined().utf8)
            if Bool.random(using: &rng), !bytes.isEmpty { bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            _ = try? JSONParser().parse(bytes)
        }
    }
}

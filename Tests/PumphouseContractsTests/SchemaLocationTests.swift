import PumphouseContracts
import PumphouseTestSupport
import Testing

@Suite("Where a schema problem is, and how to evolve instead", .timeLimit(.minutes(1)))
struct SchemaLocationTests {
    static let text = Array("""
        {
          "type": "object",
          "properties": {
            "id": { "type": "string" },
            "a/b": { "type": "integer" },
            "caf\\u00e9": {
              "type": "array",
              "items": [
                { "type": "string" },
                { "type": "number",
                  "maximum": 5 }
              ]
            }
          }
        }
        """.utf8)

    @Test("a pointer names the line of its deepest member the text has", arguments: [
        ("", 1),
        ("/type", 2),
        ("/properties/id", 4),
        ("/properties/id/type", 4),
        // ~1 is a slash in the name; a \\u escape is decoded before names compare.
        ("/properties/a~1b", 5),
        ("/properties/caf\u{E9}/items/1/maximum", 11),
        ("/properties/caf\u{E9}/items/1", 10),
        // Gone from this version (a removed property): its parent's line.
        ("/properties/removed", 3),
        // The decomposed é is other bytes: not the member.
        ("/properties/cafe\u{301}/items", 3),
    ])
    func lines(pointer: String, line: Int) {
        #expect(JSONPointerLine.line(of: pointer, in: Self.text) == line)
    }

    @Test("text that is not JSON gives a line and ends, for any pointer (a stray bracket once stalled the scan)")
    func notJSON() {
        for text in ["", "{", "{\"a\" 1}", "[[[", "\"\\u12", "{\"a\":{\"b\":", "[}", "{\"a\":[}]}", "{\"a\":}", "[,,]", "{\"a\"}"] {
            #expect(JSONPointerLine.line(of: "/a/b", in: Array(text.utf8)) >= 1)
        }
    }

    @Test("any bytes end the scan with a line within the text, for pointers on and off the path")
    func mutatedText() {
        var random = SplitMix(seed: 21)
        let pointers = ["", "/properties/caf\u{E9}/items/1/maximum", "/properties/a~1b", "/x/0/y"]
        let alphabet = Array("{}[]\":,\\ \nab0u".utf8)
        for _ in 0..<3_000 {
            var text = Self.text
            for _ in 0...Int(random.next() % 6) {
                let at = Int(random.next() % UInt64(text.count))
                switch random.next() % 3 {
                case 0: text[at] = alphabet[Int(random.next() % UInt64(alphabet.count))]
                case 1: text.remove(at: at)
                default: text.insert(alphabet[Int(random.next() % UInt64(alphabet.count))], at: at)
                }
            }
            let lines = text.count { $0 == UInt8(ascii: "\n") } + 1
            for pointer in pointers {
                #expect((1...lines).contains(JSONPointerLine.line(of: pointer, in: text)))
            }
        }
    }

    @Test("every breaking rule the compatibility table produces comes with advice")
    func everyRuleAdvised() {
        let rules = Set(compatibilityCases.flatMap { $0.backward.union($0.forward) })
        #expect(rules.count > 30)
        for rule in rules.sorted() {
            #expect(SchemaAdvice.advice(forRule: "BACKWARD \(rule)") != nil, "no advice for \(rule)")
        }
        #expect(SchemaAdvice.advice(forRule: "NO_SUCH_RULE") == nil)
    }
}

import PumphouseContracts
import PumphouseTestSupport

/// Random object schemas built from keywords whose verdict on a value is stated here by
/// hand, with the issues a validator must report for a payload: the oracle of the
/// differential check in SchemaFuzzTests.
enum SchemaRules {
    /// One keyword (or a fixed combination standing for one) and when a value passes it.
    struct Rule: Sendable {
        let schema: JSONObject
        let keyword: String
        let accepts: @Sendable (JSONValue) -> Bool
    }

    static func isInteger(_ value: JSONValue) -> Bool {
        switch value {
        case .int: true
        case .double(let d): d.rounded(.towardZero) == d && d.isFinite
        default: false
        }
    }

    static func number(_ value: JSONValue) -> Double? {
        switch value {
        case .int(let i): Double(i)
        case .double(let d): d
        default: nil
        }
    }

    static let rules: [Rule] = [
        Rule(schema: ["type": .string("integer")], keyword: "type") { isInteger($0) },
        Rule(schema: ["type": .string("number")], keyword: "type") { number($0) != nil },
        Rule(schema: ["type": .array([.string("string"), .string("null")])], keyword: "type") { if case .string = $0 { true } else { $0 == .null } },
        Rule(schema: ["minLength": .int(3)], keyword: "minLength") { if case .string(let s) = $0 { s.unicodeScalars.count >= 3 } else { true } },
        Rule(schema: ["maxLength": .int(2)], keyword: "maxLength") { if case .string(let s) = $0 { s.unicodeScalars.count <= 2 } else { true } },
        Rule(schema: ["pattern": .string("[0-9]")], keyword: "pattern") { if case .string(let s) = $0 { s.unicodeScalars.contains { (48...57).contains($0.value) } } else { true } },
        Rule(schema: ["minimum": .int(0)], keyword: "minimum") { number($0).map { $0 >= 0 } ?? true },
        Rule(schema: ["exclusiveMaximum": .int(100)], keyword: "exclusiveMaximum") { number($0).map { $0 < 100 } ?? true },
        Rule(schema: ["enum": .array([.string("a"), .int(1), .null])], keyword: "enum") { value in [JSONValue.string("a"), .int(1), .null].contains { $0.jsonEquals(value) } },
        Rule(schema: ["const": .string("e\u{301}")], keyword: "enum") { if case .string(let s) = $0 { Array(s.utf8) == Array("e\u{301}".utf8) } else { false } },
        Rule(schema: ["maxItems": .int(2)], keyword: "maxItems") { if case .array(let a) = $0 { a.count <= 2 } else { true } },
        Rule(schema: ["uniqueItems": .bool(true)], keyword: "uniqueItems") { value in
            guard case .array(let a) = value else { return true }
            return !a.indices.contains { i in a.indices.contains { j in j < i && a[i].jsonEquals(a[j]) } }
        },
        Rule(schema: ["anyOf": .array([.object(["type": .string("boolean")]), .object(["minimum": .int(5)])])], keyword: "anyOf") { value in
            if case .bool = value { return true }
            return number(value).map { $0 >= 5 } ?? true
        },
        Rule(schema: ["oneOf": .array([.object(["type": .string("integer")]), .object(["minimum": .int(0)])])], keyword: "oneOf") { value in
            (isInteger(value) ? 1 : 0) + (number(value).map { $0 >= 0 } ?? true ? 1 : 0) == 1
        },
        Rule(schema: ["not": .object(["type": .string("string")])], keyword: "not") { if case .string = $0 { false } else { true } },
    ]

    /// The order in which a schema object reports its keywords: `type` alone when it
    /// fails, then the rest in this order.
    static let reportOrder = ["type", "enum", "minLength", "maxLength", "pattern", "minimum", "exclusiveMaximum", "maxItems", "uniqueItems", "anyOf", "oneOf", "not"]

    /// Names that differ by bytes only, or need escaping in a pointer.
    static let names = ["a", "b", "\u{E9}", "e\u{301}", "K", "\u{212A}", "a/b", "t~0"]

    static let values: [JSONValue] = [
        .int(-3), .int(4), .int(7), .int(150), .double(2.5), .double(-0.5), .double(6.0), .string(""), .string("ab1"),
        .string("abcd"), .string("e\u{301}"), .string("\u{E9}"), .string("a"), .null, .bool(true),
        .array([.int(1), .double(1.0)]), .array([.string("x"), .int(2), .int(3)]), .array([]), .object([:]),
    ]

    static func pointer(_ name: String) -> String {
        "/" + name.replacing("~", with: "~0").replacing("/", with: "~1")
    }

    /// A property's schema: `true`, `false`, or one or two rules with distinct keywords.
    struct Property {
        let name: String
        let rules: [Rule]
        let boolean: Bool?

        var schema: JSONValue {
            if let boolean { return .bool(boolean) }
            return .object(JSONObject(rules.flatMap(\.schema)))
        }

        /// The (pointer, keyword) pairs a value fails with, in reported order.
        func issues(_ value: JSONValue, at pointer: String) -> [String] {
            if let boolean { return boolean ? [] : ["\(pointer) false"] }
            let failing = rules.filter { !$0.accepts(value) }
            if failing.contains(where: { $0.keyword == "type" }) { return ["\(pointer) type"] }
            return failing.map(\.keyword).sorted { reportOrder.firstIndex(of: $0)! < reportOrder.firstIndex(of: $1)! }.map { "\(pointer) \($0)" }
        }
    }

    static func property(_ name: String, _ rng: inout SplitMix) -> Property {
        switch Int.random(in: 0..<10, using: &rng) {
        case 0: return Property(name: name, rules: [], boolean: Bool.random(using: &rng))
        case 1...5: return Property(name: name, rules: [rules.randomElement(using: &rng)!], boolean: nil)
        default:
            let first = rules.randomElement(using: &rng)!
            // Distinct keywords: `const` beside `enum` narrows it rather than adding a check.
            let others = rules.filter { rule in rule.keyword != first.keyword && !rule.schema.contains { first.schema.contains(name: $0.name) } }
            return Property(name: name, rules: [first, others.randomElement(using: &rng)!], boolean: nil)
        }
    }

    /// A schema, a payload for it, and the issues the payload has, as (pointer, keyword).
    struct Case {
        let schema: JSONValue
        let payload: JSONValue
        let issues: [String]
        /// Each payload member's own issues, as an update checks it; nil when the root
        /// does not declare the members (they sit one level down).
        let fieldIssues: [(name: String, value: JSONValue, issues: [String])]?
    }

    static func randomCase(_ rng: inout SplitMix) -> Case {
        let declared = names.shuffled(using: &rng).prefix(Int.random(in: 1...5, using: &rng)).map { property($0, &rng) }
        let required = declared.map(\.name).filter { _ in Int.random(in: 0..<3, using: &rng) == 0 }
        let rest: Property? = switch Int.random(in: 0..<3, using: &rng) {
        case 0: nil
        case 1: Property(name: "", rules: [], boolean: false)
        default: property("", &rng)
        }
        // Declarations sometimes live in $defs, and then possibly shared by a second property.
        var definitions = JSONObject()
        var properties = JSONObject()
        for (index, property) in declared.enumerated() {
            if Bool.random(using: &rng) {
                definitions["D\(index)"] = property.schema
                properties[property.name] = .object(["$ref": .string("#/$defs/D\(index)")])
            } else {
                properties[property.name] = property.schema
            }
        }
        var object: JSONObject = ["type": .string("object"), "properties": .object(properties)]
        if !required.isEmpty { object["required"] = .array(required.map { .string($0) }) }
        if let rest { object["additionalProperties"] = rest.schema }

        var members = JSONObject()
        for name in (names + ["z"]).shuffled(using: &rng) where Int.random(in: 0..<3, using: &rng) > 0 {
            members[name] = Bool.random(using: &rng) ? values.randomElement(using: &rng)! : RandomContracts.json(&rng)
        }
        var fields: [(name: String, value: JSONValue, issues: [String])] = []
        for member in members {
            let pointer = pointer(member.name)
            let issues: [String]
            if let property = declared.first(where: { Array($0.name.utf8) == Array(member.name.utf8) }) {
                issues = property.issues(member.value, at: pointer)
            } else if let rest {
                issues = rest.boolean == false ? ["\(pointer) additionalProperties"] : rest.issues(member.value, at: pointer)
            } else {
                issues = []
            }
            fields.append((member.name, member.value, issues))
        }
        let missing = required.filter { name in !members.contains { Array($0.name.utf8) == Array(name.utf8) } }
        let issues = missing.map { _ in " required" } + fields.flatMap(\.issues)

        let nested = Int.random(in: 0..<4, using: &rng) == 0
        var root: JSONObject = nested ? ["type": .string("object"), "properties": .object(["inner": .object(object)])] : object
        if !definitions.isEmpty { root["$defs"] = .object(definitions) }
        return Case(
            schema: .object(root),
            payload: nested ? .object(["inner": .object(members)]) : .object(members),
            issues: nested ? issues.map { "/inner" + $0 } : issues,
            fieldIssues: nested ? nil : fields
        )
    }
}

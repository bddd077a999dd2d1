import PumphouseContracts
@testable import PumphouseSchemaGate
import Testing

@Suite("Schema gate reports in every format")
struct SchemaReportTests {
    static let problems: [SchemaProblem] = {
        var narrowed = SchemaProblem(
            contract: "shop.Order", version: 2, pointer: "/properties/total", rule: "BACKWARD TYPE_NARROWED",
            message: "type narrowed from [integer, string] to integer", against: 1
        )
        narrowed.file = "Schemas/shop.Order/v2.json"
        narrowed.line = 6
        // Characters each format must escape: % , : newline, XML's five, a control character.
        var odd = SchemaProblem(contract: "shop.Odd", rule: "UNEXPECTED_FILE", message: "100% <wrong> & \"odd\", 'x': a\nb\u{1}")
        odd.file = "Schemas/shop.Odd"
        return [narrowed, odd]
    }()
    static let report = SchemaReport(subject: "Schemas", checked: ["shop.Clean", "shop.Odd", "shop.Order"], problems: problems)

    @Test("text names file, line, versions compared, pointer and rule, and says how to evolve instead")
    func text() {
        let text = Self.report.render(.text)
        #expect(text.contains("Schemas/shop.Order/v2.json:6: shop.Order v2 (against v1) /properties/total: BACKWARD TYPE_NARROWED: type narrowed"))
        #expect(text.contains("instead: keep accepting the earlier types"))
        #expect(SchemaReport(subject: "Schemas", checked: ["a", "b"], problems: []).render(.text) == "schemas ok: 2 checked in Schemas")
    }

    @Test("GitHub annotations: one ::error per problem at its file and line, data and properties escaped")
    func github() {
        let lines = Self.report.render(.github).split(separator: "\n").map(String.init)
        #expect(lines.count == 2)
        #expect(lines[0].hasPrefix("::error file=Schemas/shop.Order/v2.json,line=6,title=shop.Order%3A BACKWARD TYPE_NARROWED::shop.Order v2 (against v1)"))
        #expect(lines[0].contains("%0AInstead: keep accepting"))
        #expect(lines[1].hasPrefix("::error file=Schemas/shop.Odd,title=shop.Odd%3A UNEXPECTED_FILE::"))
        #expect(lines[1].contains("100%25 <wrong>") && lines[1].contains("a%0Ab"))
    }

    @Test("JUnit: a passing case per clean contract, one failing case per contract with problems, XML escaped")
    func junit() throws {
        let xml = Self.report.render(.junit)
        #expect(xml.contains(#"<testsuites name="pumphouse-schema" tests="3" failures="2">"#))
        #expect(xml.contains(#"<testcase classname="schemas" name="shop.Clean"/>"#))
        #expect(xml.contains(#"<testcase classname="schemas" name="shop.Order" file="Schemas/shop.Order/v2.json">"#))
        #expect(xml.contains(#"<failure type="BACKWARD TYPE_NARROWED" message="BACKWARD TYPE_NARROWED">"#))
        #expect(xml.contains("100% &lt;wrong&gt; &amp; &quot;odd&quot;, &apos;x&apos;: a\nb\u{FFFD}"))
        // Every element opened is closed, in order.
        var open: [Substring] = []
        for tag in xml.matches(of: /<(\/?)([a-z]+)[^>]*?(\/?)>/) {
            if !tag.output.3.isEmpty { continue }
            if tag.output.1.isEmpty { open.append(tag.output.2) } else { #expect(open.popLast() == tag.output.2) }
        }
        #expect(open.isEmpty)
    }

    @Test("SARIF 2.1.0: rules with their advice as help, results at file and line")
    func sarif() throws {
        let text = Self.report.render(.sarif)
        let log = try JSONParser().parse(Array(text.utf8))
        guard case .object(let root) = log, case .array(let runs) = root["runs"], case .object(let run) = runs.first,
              case .array(let results) = run["results"], case .object(let tool) = run["tool"], case .object(let driver) = tool["driver"],
              case .array(let rules) = driver["rules"]
        else {
            Issue.record("not a SARIF log: \(text)")
            return
        }
        #expect(root["version"] == .string("2.1.0"))
        #expect(results.count == 2 && rules.count == 2)
        guard case .object(let first) = results[0], case .array(let locations) = first["locations"], case .object(let location) = locations.first,
              case .object(let physical) = location["physicalLocation"], case .object(let region) = physical["region"],
              case .object(let rule) = rules[0], case .object(let help) = rule["help"]
        else {
            Issue.record("no location or help: \(text)")
            return
        }
        #expect(first["ruleId"] == .string("BACKWARD/TYPE_NARROWED"))
        #expect(physical["artifactLocation"] == .object(["uri": .string("Schemas/shop.Order/v2.json")]))
        #expect(region["startLine"] == .int(6))
        #expect(help["text"] == .string(SchemaAdvice.advice(forRule: "TYPE_NARROWED")!))
    }

    @Test("JSON: every problem with its file, line, versions and advice")
    func json() throws {
        guard case .array(let items) = try JSONParser().parse(Array(Self.report.render(.json).utf8)), case .object(let first) = items.first else {
            Issue.record("not a JSON array")
            return
        }
        #expect(first["file"] == .string("Schemas/shop.Order/v2.json") && first["line"] == .int(6) && first["against"] == .int(1))
        #expect(first["advice"] != .null)
    }
}

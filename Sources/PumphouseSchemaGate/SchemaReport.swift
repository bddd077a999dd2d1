import ArgumentParser
import PumphouseContracts

/// How a gate prints what it found: for people (text), for scripts (JSON), and for the
/// CI systems that show findings beside the code: GitHub Actions annotations, JUnit XML
/// (GitLab, Jenkins and most others read it as test results) and SARIF (GitHub code
/// scanning and most static-analysis dashboards).
package enum SchemaReportFormat: String, CaseIterable, Sendable, ExpressibleByArgument {
    case text, json, github, junit, sarif
}

/// The findings of one gate run over what it checked.
package struct SchemaReport: Sendable {
    /// What was checked, for a report's title: the directory, or the two files.
    package var subject: String
    /// The contracts (or, for two files, the newer file) checked: a clean one is a
    /// passing test case in JUnit, so a report shows what passed as well.
    package var checked: [String]
    package var problems: [SchemaProblem]

    package init(subject: String, checked: [String], problems: [SchemaProblem]) {
        self.subject = subject
        self.checked = checked
        self.problems = problems
    }

    package func render(_ format: SchemaReportFormat) -> String {
        switch format {
        case .text: text()
        case .json: String(decoding: (try? JSONWriter.encode(.array(problems.map(Self.json)))) ?? [], as: UTF8.self)
        case .github: github()
        case .junit: junit()
        case .sarif: sarif()
        }
    }

    /// One problem as JSON: every field a consumer may want, absent ones as null.
    static func json(_ problem: SchemaProblem) -> JSONValue {
        .object([
            "contract": .string(problem.contract),
            "version": problem.version.map { .int(Int64($0)) } ?? .null,
            "against": problem.against.map { .int(Int64($0)) } ?? .null,
            "file": problem.file.map(JSONValue.string) ?? .null,
            "line": problem.line.map { .int(Int64($0)) } ?? .null,
            "pointer": .string(problem.pointer),
            "rule": .string(problem.rule),
            "message": .string(problem.message),
            "advice": problem.advice.map(JSONValue.string) ?? .null,
        ])
    }

    /// The problem's place and what it is, on one line: `file:line: contract vN (against vM) pointer: RULE: message`.
    static func headline(_ problem: SchemaProblem) -> String {
        let place = problem.file.map { file in problem.line.map { "\(file):\($0): " } ?? "\(file): " } ?? ""
        return place + problem.description
    }

    private func text() -> String {
        guard !problems.isEmpty else { return "schemas ok: \(checked.count) checked in \(subject)" }
        var lines = ["\(problems.count) schema problem(s) in \(subject):"]
        for problem in problems {
            lines.append("  " + Self.headline(problem))
            if let advice = problem.advice { lines.append("    instead: \(advice)") }
        }
        return lines.joined(separator: "\n")
    }

    /// Workflow commands (`::error file=…,line=…,title=…::message`), one per problem,
    /// which GitHub shows on the pull request's diff at that line.
    private func github() -> String {
        guard !problems.isEmpty else { return "schemas ok: \(checked.count) checked in \(subject)" }
        return problems.map { problem in
            var properties: [String] = []
            if let file = problem.file { properties.append("file=\(Self.githubProperty(file))") }
            if let line = problem.line { properties.append("line=\(line)") }
            properties.append("title=\(Self.githubProperty("\(problem.contract): \(problem.rule)"))")
            var message = problem.description
            if let advice = problem.advice { message += "\nInstead: \(advice)" }
            return "::error \(properties.joined(separator: ","))::\(Self.githubData(message))"
        }.joined(separator: "\n")
    }

    static func githubData(_ text: String) -> String {
        text.replacing("%", with: "%25").replacing("\r", with: "%0D").replacing("\n", with: "%0A")
    }

    static func githubProperty(_ text: String) -> String {
        githubData(text).replacing(":", with: "%3A").replacing(",", with: "%2C")
    }

    /// One test case per contract checked, failed by its problems; problems of no
    /// checked contract (a missing directory) are test cases of their own.
    private func junit() -> String {
        var cases: [(name: String, problems: [SchemaProblem])] = checked.map { name in (name, problems.filter { $0.contract.utf8.elementsEqual(name.utf8) }) }
        for problem in problems where !checked.contains(where: { $0.utf8.elementsEqual(problem.contract.utf8) }) {
            cases.append((problem.contract, [problem]))
        }
        let failures = cases.filter { !$0.problems.isEmpty }.count
        var xml = [
            #"<?xml version="1.0" encoding="UTF-8"?>"#,
            #"<testsuites name="pumphouse-schema" tests="\#(cases.count)" failures="\#(failures)">"#,
            #"  <testsuite name="\#(Self.xml(subject))" tests="\#(cases.count)" failures="\#(failures)">"#,
        ]
        for (name, found) in cases {
            let file = found.first?.file.map { #" file="\#(Self.xml($0))""# } ?? ""
            guard !found.isEmpty else {
                xml.append(#"    <testcase classname="schemas" name="\#(Self.xml(name))"/>"#)
                continue
            }
            xml.append(#"    <testcase classname="schemas" name="\#(Self.xml(name))"\#(file)>"#)
            let summary = found.count == 1 ? found[0].rule : "\(found.count) problems: \(found.map(\.rule).joined(separator: ", "))"
            let body = found.map { problem in Self.headline(problem) + (problem.advice.map { "\n  instead: \($0)" } ?? "") }.joined(separator: "\n")
            xml.append(#"      <failure type="\#(Self.xml(found[0].rule))" message="\#(Self.xml(summary))">\#(Self.xml(body))</failure>"#)
            xml.append("    </testcase>")
        }
        xml += ["  </testsuite>", "</testsuites>"]
        return xml.joined(separator: "\n")
    }

    static func xml(_ text: String) -> String {
        var escaped = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&apos;"
            // XML 1.0 has no way to write other control characters at all.
            case "\t", "\n", "\r": escaped.unicodeScalars.append(scalar)
            case _ where scalar.value < 0x20: escaped += "\u{FFFD}"
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped
    }

    /// SARIF 2.1.0: one run, its rules with their advice as help, one result per problem.
    private func sarif() -> String {
        func ruleID(_ rule: String) -> String { rule.replacing(" ", with: "/") }
        var rules: [JSONValue] = []
        var seen: [String] = []
        for problem in problems where !seen.contains(ruleID(problem.rule)) {
            seen.append(ruleID(problem.rule))
            var rule: JSONObject = ["id": .string(ruleID(problem.rule)), "shortDescription": .object(["text": .string(problem.rule)])]
            if let advice = problem.advice { rule["help"] = .object(["text": .string(advice)]) }
            rules.append(.object(rule))
        }
        let results: [JSONValue] = problems.map { problem in
            let text = problem.description + (problem.advice.map { " Instead: \($0)" } ?? "")
            var result: JSONObject = ["ruleId": .string(ruleID(problem.rule)), "level": .string("error"), "message": .object(["text": .string(text)])]
            if let file = problem.file {
                var location: JSONObject = ["artifactLocation": .object(["uri": .string(file)])]
                if let line = problem.line { location["region"] = .object(["startLine": .int(Int64(line))]) }
                result["locations"] = .array([.object(["physicalLocation": .object(location)])])
            }
            return .object(result)
        }
        let log: JSONValue = .object([
            "$schema": .string("https://json.schemastore.org/sarif-2.1.0.json"),
            "version": .string("2.1.0"),
            "runs": .array([.object([
                "tool": .object(["driver": .object(["name": .string("pumphouse-schema"), "rules": .array(rules)])]),
                "results": .array(results),
            ])]),
        ])
        return String(decoding: (try? JSONWriter.encode(log)) ?? [], as: UTF8.self)
    }
}

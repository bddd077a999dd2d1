import Synchronization

/// One way a value fails its schema.
public struct SchemaValidationIssue: Sendable, Hashable, CustomStringConvertible {
    /// JSON pointer into the value, e.g. `/fields/balance`.
    public let pointer: String
    /// The schema keyword that failed.
    public let keyword: String
    public let message: String

    public var description: String { "\(pointer.isEmpty ? "/" : pointer): \(message)" }
}

/// Checks values against one schema document. Patterns are compiled once, and a valid
/// value allocates nothing beyond the path stack, so it can sit on a writer's intake path.
public struct SchemaValidator: Sendable {
    public let document: SchemaDocument
    private let patterns: PatternCache
    /// Stops collecting after this many issues; a hostile payload cannot make the report huge.
    public var maxIssues = 20

    public init(document: SchemaDocument) {
        self.document = document
        self.patterns = PatternCache(document: document)
    }

    public func validate(_ value: JSONValue) -> [SchemaValidationIssue] {
        var run = Run(validator: self)
        run.path.reserveCapacity(16)
        run.check(value, document.root)
        return run.issues
    }

    /// Checks one top-level field on its own, for partial payloads (an update carries
    /// only the changed fields, so `required` does not apply).
    public func validateField(_ name: String, _ value: JSONValue) -> [SchemaValidationIssue] {
        var run = Run(validator: self)
        guard case .node(let root) = document.resolve(document.root) else {
            run.check(.object(JSONObject([JSONObject.Member(name: name, value: value)])), document.root)
            return run.issues
        }
        run.path.append(name)
        if let schema = root.property(name) {
            run.check(value, schema)
        } else if let rest = root.additionalProperties {
            if rest == .always(false) {
                run.fail("additionalProperties", "field \"\(name)\" is not in the schema")
            } else {
                run.check(value, rest)
            }
        }
        return run.issues
    }

    public func isValid(_ value: JSONValue) -> Bool {
        var run = Run(validator: self)
        run.maxIssues = 1
        run.check(value, document.root)
        return run.issues.isEmpty
    }

    fileprivate struct Run {
        let validator: SchemaValidator
        var maxIssues: Int
        var path: [String] = []
        var issues: [SchemaValidationIssue] = []

        init(validator: SchemaValidator) {
            self.validator = validator
            self.maxIssues = validator.maxIssues
        }

        var full: Bool { issues.count >= maxIssues }

        mutating func fail(_ keyword: String, _ message: @autoclosure () -> String) {
            guard !full else { return }
            // Escaped only here: the happy path never pays for pointer syntax.
            let pointer = path.isEmpty ? "" : "/" + path.map(SchemaParser.escape).joined(separator: "/")
            issues.append(SchemaValidationIssue(pointer: pointer, keyword: keyword, message: message()))
        }

        /// Runs a check in isolation and says whether it passed.
        mutating func passes(_ value: JSONValue, _ schema: JSONSchema) -> Bool {
            var probe = Run(validator: validator)
            probe.maxIssues = 1
            probe.check(value, schema)
            return probe.issues.isEmpty
        }

        mutating func check(_ value: JSONValue, _ schema: JSONSchema) {
            guard !full else { return }
            switch validator.document.resolve(schema) {
            case .always(true): return
            case .always(false): fail("false", "no value is allowed here")
            case .node(let node): check(value, node)
            }
        }

        mutating func check(_ value: JSONValue, _ node: SchemaNode) {
            if let ref = node.ref, let target = ref == "#" ? validator.document.root : validator.document.definitions[ref] {
                check(value, target)
            }
            if let types = node.types {
                let actual = value.schemaType
                // An integer is also a number; compared as enum cases, not type names.
                guard types.contains(actual) || (actual == .integer && types.contains(.number)) else {
                    fail("type", "expected \(types.sorted().map(\.rawValue).joined(separator: " or ")), got \(actual.rawValue)")
                    return
                }
            }
            if let allowed = node.enumValues, !allowed.contains(where: { $0.jsonEquals(value) }) {
                fail("enum", "value is not one of the allowed values")
            }
            switch value {
            case .string(let text): checkString(text, node)
            case .int(let integer): checkNumber(Double(integer), exactInteger: integer, node)
            case .double(let double): checkNumber(double, exactInteger: nil, node)
            case .array(let items): checkArray(items, node)
            case .object(let object): checkObject(object, node)
            default: break
            }
            if let all = node.allOf { for part in all { check(value, part) } }
            if let any = node.anyOf, !any.contains(where: { passes(value, $0) }) {
                fail("anyOf", "matches none of the \(any.count) alternatives")
            }
            if let one = node.oneOf {
                let count = one.reduce(0) { $0 + (passes(value, $1) ? 1 : 0) }
                if count != 1 { fail("oneOf", "matches \(count) of the alternatives; exactly one must match") }
            }
            if let not = node.not, passes(value, not) {
                fail("not", "matches a schema it must not match")
            }
        }

        mutating func checkString(_ text: String, _ node: SchemaNode) {
            if node.minLength != nil || node.maxLength != nil {
                let length = text.unicodeScalars.count
                if let min = node.minLength, length < min { fail("minLength", "shorter than \(min) characters") }
                if let max = node.maxLength, length > max { fail("maxLength", "longer than \(max) characters") }
            }
            if let pattern = node.pattern, !validator.patterns.matches(pattern, text) {
                fail("pattern", "does not match the pattern \"\(pattern)\"")
            }
        }

        mutating func checkNumber(_ number: Double, exactInteger: Int64?, _ node: SchemaNode) {
            if let min = node.minimum, number < min { fail("minimum", "less than \(min)") }
            if let max = node.maximum, number > max { fail("maximum", "greater than \(max)") }
            if let min = node.exclusiveMinimum, number <= min { fail("exclusiveMinimum", "not greater than \(min)") }
            if let max = node.exclusiveMaximum, number >= max { fail("exclusiveMaximum", "not less than \(max)") }
            if let multiple = node.multipleOf, !Self.isMultiple(number, exactInteger: exactInteger, of: multiple) {
                fail("multipleOf", "not a multiple of \(multiple)")
            }
        }

        /// Exact for integers; for decimals, the remainder must be within a few units in
        /// the last place of the value, so 0.3 is a multiple of 0.1 but 10000000.005 is
        /// not a multiple of 0.01.
        static func isMultiple(_ number: Double, exactInteger: Int64?, of multiple: Double) -> Bool {
            if let exactInteger, multiple.rounded() == multiple, multiple <= 9.0e18 {
                return exactInteger % Int64(multiple) == 0
            }
            let remainder = number - (number / multiple).rounded() * multiple
            return abs(remainder) <= max(abs(number), abs(multiple)).ulp * 4
        }

        mutating func checkArray(_ items: [JSONValue], _ node: SchemaNode) {
            if let min = node.minItems, items.count < min { fail("minItems", "fewer than \(min) items") }
            if let max = node.maxItems, items.count > max { fail("maxItems", "more than \(max) items") }
            if node.uniqueItems {
                // Bucket by a hash that agrees with JSON equality, then compare within a
                // bucket: linear on hostile input instead of quadratic.
                var buckets: [Int: [Int]] = [:]
                outer: for (index, item) in items.enumerated() {
                    let hash = item.jsonHash
                    for earlier in buckets[hash, default: []] where items[earlier].jsonEquals(item) {
                        fail("uniqueItems", "items \(earlier) and \(index) are equal")
                        break outer
                    }
                    buckets[hash, default: []].append(index)
                }
            }
            for (index, item) in items.enumerated() {
                let schema = index < node.prefixItems.count ? node.prefixItems[index] : node.items
                guard let schema else { continue }
                path.append(String(index))
                check(item, schema)
                path.removeLast()
            }
        }

        mutating func checkObject(_ object: JSONObject, _ node: SchemaNode) {
            if let min = node.minProperties, object.count < min { fail("minProperties", "fewer than \(min) properties") }
            if let max = node.maxProperties, object.count > max { fail("maxProperties", "more than \(max) properties") }
            for name in node.required where object[name] == nil {
                fail("required", "required field \"\(name)\" is missing")
            }
            for member in object {
                let declared = node.property(member.name)
                guard let schema = declared ?? node.additionalProperties else { continue }
                path.append(member.name)
                if declared == nil, schema == .always(false) {
                    fail("additionalProperties", "field \"\(member.name)\" is not allowed")
                } else {
                    check(member.value, schema)
                }
                path.removeLast()
            }
            for (trigger, dependents) in node.dependentRequired where object.contains(name: trigger.text) {
                for dependent in dependents where object[dependent] == nil {
                    fail("dependentRequired", "\"\(dependent)\" is required when \"\(trigger)\" is present")
                }
            }
            for (trigger, schema) in node.dependentSchemas where object.contains(name: trigger.text) {
                check(.object(object), schema)
            }
        }
    }
}

/// Compiled `pattern` keywords of one document, with the recent outcomes of each.
///
/// A match through Swift's Regex costs about 2 µs even for `^[A-Z]{3}$`, more than the
/// rest of a contract's validation, while the values a pattern sees repeat (currency
/// codes, statuses). So each pattern remembers whether short texts matched: a bounded
/// table, emptied when full, keyed by the text's bytes. Regex values are immutable once
/// built; the box exists because `Regex<AnyRegexOutput>` is not declared Sendable.
private final class PatternCache: @unchecked Sendable {
    private final class Pattern {
        let regex: Regex<AnyRegexOutput>?
        let outcomes = Mutex<[ExactKey: Bool]>([:])

        init(regex: Regex<AnyRegexOutput>?) {
            self.regex = regex
        }
    }

    /// Texts longer than this (in UTF-8 bytes) are matched every time, never remembered.
    static let rememberedLength = 64
    /// Outcomes remembered per pattern before the table is emptied.
    static let rememberedTexts = 4_096

    private let compiled: [ExactKey: Pattern]

    init(document: SchemaDocument) {
        var patterns = Set<ExactKey>()
        func collect(_ schema: JSONSchema) {
            guard case .node(let node) = schema else { return }
            if let pattern = node.pattern { patterns.insert(ExactKey(pattern)) }
            node.properties.forEach { collect($0.schema) }
            node.prefixItems.forEach(collect)
            node.items.map(collect)
            node.additionalProperties.map(collect)
            node.dependentSchemas.values.forEach(collect)
            (node.allOf ?? []).forEach(collect)
            (node.anyOf ?? []).forEach(collect)
            (node.oneOf ?? []).forEach(collect)
            node.not.map(collect)
        }
        collect(document.root)
        document.definitions.values.forEach(collect)
        var compiled: [ExactKey: Pattern] = [:]
        for pattern in patterns {
            // Unicode scalars, as ECMA-262 patterns match: Swift's default (grapheme
            // clusters under canonical equivalence) would let one spelling of a text
            // match where a byte-different one that PostgreSQL keeps apart does not.
            compiled[pattern] = Pattern(regex: (try? Regex(pattern.text))?.matchingSemantics(.unicodeScalar))
        }
        self.compiled = compiled
    }

    func matches(_ pattern: String, _ text: String) -> Bool {
        guard let entry = compiled[ExactKey(pattern)], let regex = entry.regex else { return false }
        guard text.utf8.count <= Self.rememberedLength else { return (try? regex.firstMatch(in: text)) != nil }
        let key = ExactKey(text)
        if let known = entry.outcomes.withLock({ $0[key] }) { return known }
        let matched = (try? regex.firstMatch(in: text)) != nil
        entry.outcomes.withLock { outcomes in
            if outcomes.count >= Self.rememberedTexts { outcomes.removeAll(keepingCapacity: true) }
            outcomes[key] = matched
        }
        return matched
    }
}

/// One value's walk through a `SchemaProgram`.
///
/// A valid value allocates nothing: an issue, its message and its pointer are built only
/// when a check fails, and the pointer is assembled on the way back out, each member or
/// item the walk returns from putting its segment in front of the issues raised inside it.
struct ValidationRun {
    /// Failures after which the walk stops; a hostile payload cannot make the report huge.
    let limit: Int
    /// Whether failures are written up as issues, or only counted (`isValid`, and the
    /// probes of `anyOf`, `oneOf` and `not`, which only need to know whether one fails).
    let records: Bool
    private(set) var failures = 0
    private(set) var issues: [SchemaValidationIssue] = []

    init(limit: Int, records: Bool) {
        self.limit = limit
        self.records = records
    }

    var full: Bool { failures >= limit }

    mutating func fail(_ keyword: String, _ message: @autoclosure () -> String) {
        guard !full else { return }
        failures += 1
        if records { issues.append(SchemaValidationIssue(pointer: "", keyword: keyword, message: message())) }
    }

    /// Whether `value` passes `schema`, checked on its own.
    static func passes(_ value: JSONValue, _ schema: CompiledSchema) -> Bool {
        var unrecorded = Unrecorded()
        return passes(value, schema, recording: &unrecorded)
    }

    /// Whether `value` passes `schema` on its own; what it evaluated joins `evaluated`
    /// only if it passed, as 2020-12 drops a failed subschema's annotations.
    static func passes<Record: EvaluationRecord>(_ value: JSONValue, _ schema: CompiledSchema, recording evaluated: inout Record) -> Bool {
        var probe = ValidationRun(limit: 1, records: false)
        var own = Record()
        probe.check(value, schema, recording: &own)
        guard probe.failures == 0 else { return false }
        evaluated.formUnion(own)
        return true
    }

    mutating func check(_ value: JSONValue, _ schema: CompiledSchema) {
        var unrecorded = Unrecorded()
        check(value, schema, recording: &unrecorded)
    }

    /// Checks `value` against `schema`, adding the members or items of `value` it
    /// evaluated to `evaluated` (for an `unevaluated*` keyword of a schema applying
    /// `schema` in place).
    mutating func check<Record: EvaluationRecord>(_ value: JSONValue, _ schema: CompiledSchema, recording evaluated: inout Record) {
        guard !full, !schema.acceptsAll else { return }
        if schema.rejectsAll { return fail("false", "no value is allowed here") }
        guard schema.evaluatesRest else { return checkKeywords(value, schema, recording: &evaluated) }
        switch (value, schema.unevaluatedProperties, schema.unevaluatedItems) {
        case (.object(let object), let rest?, _):
            checkUnevaluated(value, schema, rest.node, "unevaluatedProperties", locations: object.count) { (object[$0].value, object[$0].name) }
            evaluated.insertAll()
        case (.array(let items), _, let rest?):
            checkUnevaluated(value, schema, rest.node, "unevaluatedItems", locations: items.count) { (items[$0], nil) }
            evaluated.insertAll()
        default:
            checkKeywords(value, schema, recording: &evaluated)
        }
    }

    /// Checks `value` against the schema's other keywords, recording what they evaluate,
    /// then each of its `count` members or items (by position; `location` gives its
    /// value, and a member's name) that none did against `rest`, the `unevaluated*` keyword.
    private mutating func checkUnevaluated(
        _ value: JSONValue, _ schema: CompiledSchema, _ rest: CompiledSchema, _ keyword: String, locations count: Int,
        _ location: (Int) -> (value: JSONValue, name: String?)
    ) {
        var own = EvaluatedLocations()
        checkKeywords(value, schema, recording: &own)
        for position in 0..<count where !own.contains(position) {
            guard !full else { return }
            let (item, name) = location(position)
            let before = issues.count
            checkLeftOver(item, rest, keyword, name.map { "field \"\($0)\"" } ?? "item \(position)")
            prefixIssues(from: before, with: name ?? String(position))
        }
    }

    /// A member or item nothing evaluated, against `unevaluated*` (`false` names it).
    private mutating func checkLeftOver(_ value: JSONValue, _ rest: CompiledSchema, _ keyword: String, _ described: @autoclosure () -> String) {
        if rest.rejectsAll { fail(keyword, "\(described()) is not allowed: no keyword of the schema evaluates it") } else { check(value, rest) }
    }

    /// Subschemas whose failure fails this schema (`allOf`, the branch `if` chose,
    /// `dependentSchemas`) record straight into `evaluated`: 2020-12 drops what a failed
    /// one evaluated, but this schema fails with it whatever its `unevaluated*` says, and
    /// counting it keeps a failure inside from being reported again as unevaluated members.
    /// Only the probes (`anyOf`, `oneOf`, `if`) keep what a failed alternative evaluated out.
    private mutating func checkKeywords<Record: EvaluationRecord>(_ value: JSONValue, _ schema: CompiledSchema, recording evaluated: inout Record) {
        let type = value.schemaType
        guard schema.acceptedTypes.contains(JSONTypeSet(type)) else {
            return fail("type", "expected \(schema.expectedTypes), got \(type.rawValue)")
        }
        if schema.enumerates, !schema.allowed.contains(value) {
            fail("enum", "value is not one of the allowed values")
        }
        switch value {
        case .string(let text) where schema.checksStrings: checkString(text, schema)
        case .int(let integer) where schema.checksNumbers: checkNumber(Double(integer), exactInteger: integer, schema)
        case .double(let number) where schema.checksNumbers: checkNumber(number, exactInteger: nil, schema)
        case .array(let items) where schema.checksArrays: checkArray(items, schema, recording: &evaluated)
        case .object(let object) where schema.checksObjects: checkObject(object, value, schema, recording: &evaluated)
        default: break
        }
        for part in schema.allOf { check(value, part.node, recording: &evaluated) }
        if let alternatives = schema.anyOf {
            var matched = false
            // Recording, every alternative that passes counts, so none is skipped.
            for alternative in alternatives where Self.passes(value, alternative.node, recording: &evaluated) {
                matched = true
                if !Record.isRecording { break }
            }
            if !matched { fail("anyOf", "matches none of the \(alternatives.count) alternatives") }
        }
        if let alternatives = schema.oneOf {
            let matched = alternatives.reduce(0) { $0 + (Self.passes(value, $1.node, recording: &evaluated) ? 1 : 0) }
            if matched != 1 { fail("oneOf", "matches \(matched) of the alternatives; exactly one must match") }
        }
        if let not = schema.not, Self.passes(value, not.node) {
            fail("not", "matches a schema it must not match")
        }
        if let condition = schema.condition {
            if let branch = Self.passes(value, condition.if.node, recording: &evaluated) ? condition.then : condition.else {
                check(value, branch.node, recording: &evaluated)
            }
        }
    }

    /// Checks a top-level field on its own, as in an update: the field is checked
    /// against its declaration and the patterns its name matches, or against
    /// `additionalProperties` when it has neither.
    mutating func checkField(_ name: String, _ value: JSONValue, in program: SchemaProgram) {
        let root = program.root
        // A `false` root rejects the field as it would a whole payload, at its root.
        if root.rejectsAll { return check(value, root) }
        let before = issues.count
        let declared = program.declaredField(name)
        if let declared { check(value, declared) }
        let evaluated = checkPatternsAndRest(name, value, root, declared: declared != nil, undeclared: "is not in the schema")
        if !evaluated, let rest = root.unevaluatedProperties, !root.mayEvaluateInPlace(name) {
            checkLeftOver(value, rest.node, "unevaluatedProperties", "field \"\(name)\"")
        }
        prefixIssues(from: before, with: name)
    }

    /// A member's value against every pattern its name matches, and against
    /// `additionalProperties` if it is neither declared nor matched; whether the member
    /// counts as evaluated (declared, matched, or met by `additionalProperties`).
    private mutating func checkPatternsAndRest(_ name: String, _ value: JSONValue, _ schema: CompiledSchema, declared: Bool, undeclared: String) -> Bool {
        if let names = schema.propertyNames, !Self.passes(.string(name), names.node) {
            fail("propertyNames", "the name \"\(name)\" does not match the propertyNames schema")
        }
        var matched = false
        for (pattern, link) in schema.patternProperties where pattern.matches(name) {
            matched = true
            check(value, link.node)
        }
        guard !declared, !matched else { return true }
        guard let rest = schema.additionalProperties else { return false }
        if schema.closed { fail("additionalProperties", "field \"\(name)\" \(undeclared)") } else { check(value, rest.node) }
        return true
    }

    /// Puts `segment` in front of the pointers of the issues raised since `start`.
    private mutating func prefixIssues(from start: Int, with segment: @autoclosure () -> String) {
        guard issues.count > start else { return }
        let prefix = "/" + SchemaParser.escape(segment())
        for index in start..<issues.count {
            let issue = issues[index]
            issues[index] = SchemaValidationIssue(pointer: prefix + issue.pointer, keyword: issue.keyword, message: issue.message)
        }
    }

    private mutating func checkString(_ text: String, _ schema: CompiledSchema) {
        if schema.minLength != nil || schema.maxLength != nil {
            // A text has at least a quarter as many scalars as UTF-8 bytes and at most as
            // many, which mostly settles a bound without counting the scalars.
            let bytes = text.utf8.count
            let fewest = (bytes + 3) / 4
            lazy var length = text.unicodeScalars.count
            if let min = schema.minLength, bytes < min || (fewest < min && length < min) {
                fail("minLength", "shorter than \(min) characters")
            }
            if let max = schema.maxLength, fewest > max || (bytes > max && length > max) {
                fail("maxLength", "longer than \(max) characters")
            }
        }
        if let pattern = schema.pattern, !pattern.matches(text) {
            fail("pattern", "does not match the pattern \"\(pattern.source)\"")
        }
    }

    private mutating func checkNumber(_ number: Double, exactInteger: Int64?, _ schema: CompiledSchema) {
        if let min = schema.minimum, number < min { fail("minimum", "less than \(min)") }
        if let max = schema.maximum, number > max { fail("maximum", "greater than \(max)") }
        if let min = schema.exclusiveMinimum, number <= min { fail("exclusiveMinimum", "not greater than \(min)") }
        if let max = schema.exclusiveMaximum, number >= max { fail("exclusiveMaximum", "not less than \(max)") }
        if let multiple = schema.multipleOf, !Self.isMultiple(number, exactInteger: exactInteger, of: multiple, integral: schema.integralMultiple) {
            fail("multipleOf", "not a multiple of \(multiple)")
        }
    }

    /// Exact for integers; for decimals, the remainder must be within a few units in
    /// the last place of the value, so 0.3 is a multiple of 0.1 but 10000000.005 is
    /// not a multiple of 0.01.
    static func isMultiple(_ number: Double, exactInteger: Int64?, of multiple: Double, integral: Int64?) -> Bool {
        if let exactInteger, let integral { return exactInteger % integral == 0 }
        let remainder = number - (number / multiple).rounded() * multiple
        return abs(remainder) <= max(abs(number), abs(multiple)).ulp * 4
    }

    private mutating func checkArray<Record: EvaluationRecord>(_ items: [JSONValue], _ schema: CompiledSchema, recording evaluated: inout Record) {
        if let min = schema.minItems, items.count < min { fail("minItems", "fewer than \(min) items") }
        if let max = schema.maxItems, items.count > max { fail("maxItems", "more than \(max) items") }
        if schema.uniqueItems, let (earlier, later) = Self.firstRepeat(in: items) {
            fail("uniqueItems", "items \(earlier) and \(later) are equal")
        }
        if let contains = schema.contains {
            var matching = 0
            for (index, item) in items.enumerated() where Self.passes(item, contains.node) {
                matching += 1
                evaluated.insert(index)
            }
            if matching < schema.minContains {
                fail(schema.minContains == 1 ? "contains" : "minContains", "\(matching) item(s) match the contains schema; at least \(schema.minContains) must")
            }
            if let max = schema.maxContains, matching > max { fail("maxContains", "\(matching) items match the contains schema; at most \(max) may") }
        }
        let prefixItems = schema.prefixItems
        for (index, item) in items.enumerated() {
            guard !full else { return }
            guard let link = index < prefixItems.count ? prefixItems[index] : schema.items else { continue }
            evaluated.insert(index)
            let before = issues.count
            check(item, link.node)
            prefixIssues(from: before, with: String(index))
        }
    }

    /// The first item equal (as JSON) to an earlier one, with the earliest such one.
    static func firstRepeat(in items: [JSONValue]) -> (earlier: Int, later: Int)? {
        // Few items: compare pairwise, which allocates nothing.
        if items.count <= 16 {
            for later in items.indices {
                for earlier in 0..<later where items[earlier].jsonEquals(items[later]) { return (earlier, later) }
            }
            return nil
        }
        // Many: bucket by a hash that agrees with JSON equality, then compare within a
        // bucket, linear on hostile input instead of quadratic.
        var buckets: [Int: [Int]] = [:]
        for (later, item) in items.enumerated() {
            let hash = item.jsonHash
            if let earlier = buckets[hash, default: []].first(where: { items[$0].jsonEquals(item) }) { return (earlier, later) }
            buckets[hash, default: []].append(later)
        }
        return nil
    }

    private mutating func checkObject<Record: EvaluationRecord>(_ object: JSONObject, _ value: JSONValue, _ schema: CompiledSchema, recording evaluated: inout Record) {
        if let min = schema.minProperties, object.count < min { fail("minProperties", "fewer than \(min) properties") }
        if let max = schema.maxProperties, object.count > max { fail("maxProperties", "more than \(max) properties") }
        // Required fields are reported before the members' own issues, but whether one
        // is missing is learnt while checking the members. A payload that lacks one (or
        // whose check stopped early) is rare: take back what the members reported, report
        // what is missing, and check the members again in the reported order.
        let mark = (issues: issues.count, failures: failures)
        let present = checkMembers(object, schema, recording: &evaluated)
        if present & schema.requiredProperties != schema.requiredProperties
            || !schema.requiredElsewhere.allSatisfy({ object.contains(name: $0) }) {
            issues.removeSubrange(mark.issues...)
            failures = mark.failures
            for name in schema.required where !object.contains(name: name) {
                fail("required", "required field \"\(name)\" is missing")
            }
            _ = checkMembers(object, schema, recording: &evaluated)
        }
        for (trigger, dependents) in schema.dependentRequired where object.contains(name: trigger) {
            for dependent in dependents where !object.contains(name: dependent) {
                fail("dependentRequired", "\"\(dependent)\" is required when \"\(trigger)\" is present")
            }
        }
        for (trigger, dependent) in schema.dependentSchemas where object.contains(name: trigger) {
            check(value, dependent.node, recording: &evaluated)
        }
    }

    /// Checks each member against its declaration or `additionalProperties`, records the
    /// members a keyword evaluated, and returns which declared properties (bit i for
    /// `properties[i]`) were present.
    private mutating func checkMembers<Record: EvaluationRecord>(_ object: JSONObject, _ schema: CompiledSchema, recording evaluated: inout Record) -> UInt64 {
        var present: UInt64 = 0
        var hint = 0
        for position in object.indices {
            guard !full else { break }
            let member = object[position]
            let before = issues.count
            let index = schema.propertyIndex(of: member.name, hint: &hint)
            if let index {
                if index < UInt64.bitWidth { present |= 1 << UInt64(index) }
                check(member.value, schema.properties[index].schema.node)
            }
            if checkPatternsAndRest(member.name, member.value, schema, declared: index != nil, undeclared: "is not allowed") {
                evaluated.insert(position)
            }
            prefixIssues(from: before, with: member.name)
        }
        return present
    }
}

/// Decides whether data valid under one schema (the writer's) is always valid under
/// another (the reader's), and lists every place where it is not.
///
/// The check is structural and conservative: where it cannot prove that the reader
/// accepts what the writer may produce, it reports a breaking change. Rule names follow
/// Confluent Schema Registry's JSON Schema difference types.
public struct SchemaCompatibility: Sendable {
    public init() {}

    /// Breaking changes between `old` and `new` under `mode` (direct predecessor only;
    /// the registry applies transitive modes across versions).
    public func check(old: SchemaDocument, new: SchemaDocument, mode: CompatibilityMode) -> [SchemaIncompatibility] {
        mode.directions.flatMap { direction in
            var walk = Walk(direction: direction, writerDocument: direction == .backward ? old : new, readerDocument: direction == .backward ? new : old)
            walk.compare(writer: walk.writerDocument.root, reader: walk.readerDocument.root, at: "")
            // Past its budget every comparison reports, so nested checks fail safe; one
            // report is enough for the reader of the result.
            guard walk.steps > Walk.maximumSteps else { return walk.issues }
            return walk.issues.filter { $0.rule != Walk.tooLarge } + [SchemaIncompatibility(
                direction: direction, pointer: "", rule: Walk.tooLarge,
                message: "comparing these schemas takes more than \(Walk.maximumSteps) steps (combinators branching at every level), so compatibility cannot be shown; simplify the anyOf/oneOf/allOf nesting or check it by hand"
            )]
        }
    }
}

private struct Walk {
    let direction: CompatibilityDirection
    let writerDocument: SchemaDocument
    let readerDocument: SchemaDocument
    var issues: [SchemaIncompatibility] = []
    /// Reference pairs under comparison; meeting one again means a recursive schema,
    /// which is compatible at that depth if it is compatible everywhere else.
    var inProgress = Set<String>()
    /// Nested comparisons under way, and comparisons made. Keying references does not
    /// catch every recursion: combinators and open content models make new schemas as the
    /// walk goes, and alternatives branch. So the walk also stops at a depth and a size no
    /// real contract reaches, with an issue rather than a verdict of "compatible"
    /// (over-reporting is the safe side for a gate); SchemaFuzzTests found both the stack
    /// overflow and, once depth alone was bounded, the exponential time.
    var depth = 0
    var steps = 0
    static let maximumDepth = 64
    static let maximumSteps = 20_000
    static let tooLarge = "COMPARISON_TOO_LARGE"

    init(direction: CompatibilityDirection, writerDocument: SchemaDocument, readerDocument: SchemaDocument) {
        self.direction = direction
        self.writerDocument = writerDocument
        self.readerDocument = readerDocument
    }

    mutating func report(_ pointer: String, _ rule: String, _ message: String) {
        issues.append(SchemaIncompatibility(direction: direction, pointer: pointer, rule: rule, message: message))
    }

    /// Runs a nested comparison and says whether it found problems, without keeping them.
    mutating func accepts(writer: JSONSchema, reader: JSONSchema) -> Bool {
        let saved = issues
        compare(writer: writer, reader: reader, at: "")
        let fine = issues.count == saved.count
        issues = saved
        return fine
    }

    mutating func compare(writer rawWriter: JSONSchema, reader rawReader: JSONSchema, at path: String) {
        guard depth < Self.maximumDepth else {
            report(path, "NESTING_TOO_DEEP", "the schemas nest (or recurse) more than \(Self.maximumDepth) comparisons deep here, so compatibility cannot be shown; flatten the schema or check it by hand")
            return
        }
        steps += 1
        guard steps <= Self.maximumSteps else {
            report(path, Self.tooLarge, "over the comparison budget")
            return
        }
        depth += 1
        defer { depth -= 1 }
        let refKey = refPair(rawWriter, rawReader)
        if let refKey {
            guard inProgress.insert(refKey).inserted else { return }
        }
        defer { if let refKey { inProgress.remove(refKey) } }
        let writer = Self.following(rawWriter, in: writerDocument, asWriter: true)
        let reader = Self.following(rawReader, in: readerDocument, asWriter: false)

        switch (writer, reader) {
        case (_, .always(true)), (.always(false), _):
            return
        case (_, .always(false)):
            report(path, "TYPE_NARROWED", "the reading schema accepts nothing, but the writing schema accepts values")
        case (.always(true), .node(let r)):
            compareNodes(SchemaNode(), r, at: path)
        case (.node(let w), .node(let r)):
            compareNodes(w, r, at: path)
        }
    }

    /// Only a reference can recur on the reader's side (a reader of `true` ends the walk).
    /// An inline writer is finite, so a walk that consumes it ends, with one exception:
    /// `true` (an open content model's undeclared properties) is never consumed, since
    /// every level of it is `true` again, so it is keyed like a reference. Without that,
    /// an open model meeting a recursive property recursed until the stack ran out
    /// (found by SchemaFuzzTests). Keying on pairs keeps inline schemas compared in full.
    func refPair(_ writer: JSONSchema, _ reader: JSONSchema) -> String? {
        guard case .node(let r) = reader, let readerRef = r.ref else { return nil }
        switch writer {
        case .node(let w): return w.ref.map { "\($0)|\(readerRef)" }
        case .always(true): return "true|\(readerRef)"
        case .always(false): return nil
        }
    }

    // MARK: Node comparison

    mutating func compareNodes(_ w: SchemaNode, _ r: SchemaNode, at path: String) {
        // A writer value satisfies one of the writer's alternatives, so each alternative
        // must be acceptable to the whole reader. (The writer's sibling keywords only
        // narrow what it produces; ignoring them can only over-report, never miss.)
        if let alternatives = w.anyOf ?? w.oneOf {
            let keyword = w.anyOf != nil ? "anyOf" : "oneOf"
            for (index, alternative) in alternatives.enumerated() where !accepts(writer: alternative, reader: .node(r)) {
                report(path, "SUM_TYPE_NARROWED", "alternative \(index) of the writing schema's \(keyword) is no longer accepted")
            }
            return
        }
        // A writer value satisfies every part of an allOf: one part the reader accepts is enough.
        if let parts = w.allOf, r.allOf == nil, parts.contains(where: { accepts(writer: $0, reader: .node(r)) }) {
            return
        }
        compareCombinators(w, r, at: path)
        let produced = Self.types(w.types)
        let accepted = Self.types(r.types)
        compareTypes(w, r, at: path)
        compareEnum(w, r, at: path)
        if produced.contains(.string) && accepted.contains(.string) { compareStrings(w, r, at: path) }
        if !produced.isDisjoint(with: [.integer, .number]) && !accepted.isDisjoint(with: [.integer, .number]) { compareNumbers(w, r, at: path) }
        if produced.contains(.array) && accepted.contains(.array) {
            compareArrays(w, r, at: path)
            compareUnevaluatedItems(w, r, at: path)
        }
        if produced.contains(.object) && accepted.contains(.object) {
            compareObjects(w, r, at: path)
            compareUnevaluatedProperties(w, r, at: path)
        }
    }

    static func types(_ declared: Set<JSONType>?) -> Set<JSONType> {
        guard let declared else { return Set(JSONType.allCases) }
        return declared.contains(.number) ? declared.union([.integer]) : declared
    }

    mutating func compareTypes(_ w: SchemaNode, _ r: SchemaNode, at path: String) {
        guard let readerTypes = r.types else { return }
        let accepted = Self.types(readerTypes)
        guard let writerTypes = w.types else {
            report(path, "TYPE_NARROWED", "type restricted to \(Self.list(readerTypes)) where any type was accepted")
            return
        }
        let rejected = writerTypes.filter { !accepted.contains($0) }
        guard !rejected.isEmpty else { return }
        if rejected.count == writerTypes.count && !(writerTypes.contains(.number) && readerTypes.contains(.integer)) {
            report(path, "TYPE_CHANGED", "type changed from \(Self.list(writerTypes)) to \(Self.list(readerTypes))")
        } else {
            report(path, "TYPE_NARROWED", "type narrowed from \(Self.list(writerTypes)) to \(Self.list(readerTypes)); \(Self.list(Set(rejected))) no longer accepted")
        }
    }

    mutating func compareEnum(_ w: SchemaNode, _ r: SchemaNode, at path: String) {
        guard let readerValues = r.enumValues else { return }
        guard let writerValues = w.enumValues else {
            report(path, "ENUM_ARRAY_CHANGED", "enum added; values outside \(Self.render(readerValues)) were accepted")
            return
        }
        let missing = writerValues.filter { value in !readerValues.contains { $0.jsonEquals(value) } }
        if !missing.isEmpty {
            report(path, "ENUM_ARRAY_NARROWED", "enum no longer accepts \(Self.render(missing))")
        }
    }

    mutating func compareStrings(_ w: SchemaNode, _ r: SchemaNode, at path: String) {
        if let max = r.maxLength {
            if let old = w.maxLength {
                if old > max { report(path + "/maxLength", "MAX_LENGTH_DECREASED", "maxLength decreased from \(old) to \(max)") }
            } else {
                report(path + "/maxLength", "MAX_LENGTH_ADDED", "maxLength \(max) added")
            }
        }
        if let min = r.minLength, min > 0 {
            if let old = w.minLength {
                if old < min { report(path + "/minLength", "MIN_LENGTH_INCREASED", "minLength increased from \(old) to \(min)") }
            } else {
                report(path + "/minLength", "MIN_LENGTH_ADDED", "minLength \(min) added")
            }
        }
        if let pattern = r.pattern {
            if let old = w.pattern {
                if !old.isSameBytes(as: pattern) { report(path + "/pattern", "PATTERN_CHANGED", "pattern changed from \"\(old)\" to \"\(pattern)\"") }
            } else {
                report(path + "/pattern", "PATTERN_ADDED", "pattern \"\(pattern)\" added")
            }
        }
    }

    mutating func compareNumbers(_ w: SchemaNode, _ r: SchemaNode, at path: String) {
        // The writer's tightest upper and lower bounds, inclusive or exclusive.
        let writerUpper = Self.bound(inclusive: w.maximum, exclusive: w.exclusiveMaximum, upper: true)
        let writerLower = Self.bound(inclusive: w.minimum, exclusive: w.exclusiveMinimum, upper: false)
        func checkUpper(_ limit: Double, exclusive: Bool, keyword: String) {
            guard let (value, writerExclusive) = writerUpper else {
                report(path + "/\(keyword)", "\(Self.rule(keyword))_ADDED", "\(keyword) \(Self.render(limit)) added")
                return
            }
            let fine = exclusive ? (value < limit || (value == limit && writerExclusive)) : value <= limit
            if !fine { report(path + "/\(keyword)", "\(Self.rule(keyword))_DECREASED", "\(keyword) lowered to \(Self.render(limit)) below the previous bound \(Self.render(value))") }
        }
        func checkLower(_ limit: Double, exclusive: Bool, keyword: String) {
            guard let (value, writerExclusive) = writerLower else {
                report(path + "/\(keyword)", "\(Self.rule(keyword))_ADDED", "\(keyword) \(Self.render(limit)) added")
                return
            }
            let fine = exclusive ? (value > limit || (value == limit && writerExclusive)) : value >= limit
            if !fine { report(path + "/\(keyword)", "\(Self.rule(keyword))_INCREASED", "\(keyword) raised to \(Self.render(limit)) above the previous bound \(Self.render(value))") }
        }
        if let max = r.maximum { checkUpper(max, exclusive: false, keyword: "maximum") }
        if let max = r.exclusiveMaximum { checkUpper(max, exclusive: true, keyword: "exclusiveMaximum") }
        if let min = r.minimum { checkLower(min, exclusive: false, keyword: "minimum") }
        if let min = r.exclusiveMinimum { checkLower(min, exclusive: true, keyword: "exclusiveMinimum") }
        if let multiple = r.multipleOf {
            let integersOnly = w.types.map { $0 == [.integer] } ?? false
            if let old = w.multipleOf {
                let ratio = old / multiple
                if abs(ratio - ratio.rounded()) > 1e-9 {
                    report(path + "/multipleOf", "MULTIPLE_OF_CHANGED", "multipleOf \(Self.render(multiple)) does not divide the previous \(Self.render(old))")
                }
            } else if !(integersOnly && multiple == 1) {
                report(path + "/multipleOf", "MULTIPLE_OF_ADDED", "multipleOf \(Self.render(multiple)) added")
            }
        }
    }

    static func bound(inclusive: Double?, exclusive: Double?, upper: Bool) -> (Double, Bool)? {
        switch (inclusive, exclusive) {
        case (nil, nil): return nil
        case (let i?, nil): return (i, false)
        case (nil, let e?): return (e, true)
        case (let i?, let e?):
            if upper { return e <= i ? (e, true) : (i, false) }
            return e >= i ? (e, true) : (i, false)
        }
    }

    static func rule(_ keyword: String) -> String {
        switch keyword {
        case "exclusiveMaximum": "EXCLUSIVE_MAXIMUM"
        case "exclusiveMinimum": "EXCLUSIVE_MINIMUM"
        default: keyword.uppercased()
        }
    }

    mutating func compareArrays(_ w: SchemaNode, _ r: SchemaNode, at path: String) {
        compareCounts(old: w.maxItems, new: r.maxItems, min: false, keyword: "maxItems", rule: "MAX_ITEMS", at: path)
        compareCounts(old: w.minItems, new: r.minItems, min: true, keyword: "minItems", rule: "MIN_ITEMS", at: path)
        if r.uniqueItems && !w.uniqueItems {
            report(path + "/uniqueItems", "UNIQUE_ITEMS_ADDED", "uniqueItems added; arrays with repeated items were accepted")
        }
        compareContains(w, r, at: path)
        let writerRest = w.items ?? writerItemLeftover(w, at: nil)
        let readerRest = r.items ?? .any
        for index in 0..<max(w.prefixItems.count, r.prefixItems.count) {
            let itemPath = path + "/prefixItems/\(index)"
            switch (index < w.prefixItems.count, index < r.prefixItems.count) {
            case (true, true):
                compare(writer: w.prefixItems[index], reader: r.prefixItems[index], at: itemPath)
            case (false, true):
                // A new positional item: what did the writer allow at this position?
                if !accepts(writer: w.items ?? writerItemLeftover(w, at: index), reader: r.prefixItems[index]) {
                    let rule = w.items == nil && w.unevaluatedItems == nil ? "ITEM_ADDED_TO_OPEN_CONTENT_MODEL" : "ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
                    report(itemPath, rule, "item \(index) added, but the previous schema allowed other values there")
                }
            case (true, false):
                if !accepts(writer: w.prefixItems[index], reader: readerRest) {
                    let rule = r.items == .always(false) ? "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL" : "ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
                    report(path + "/items", rule, "item \(index) removed and the remaining item schema does not accept it")
                }
            case (false, false):
                break
            }
        }
        guard !accepts(writer: writerRest, reader: readerRest) else { return }
        if w.prefixItems.isEmpty && r.prefixItems.isEmpty {
            compare(writer: writerRest, reader: readerRest, at: path + "/items")
        } else {
            report(path + "/items", w.items == nil ? "ADDITIONAL_ITEMS_ADDED" : "ADDITIONAL_ITEMS_NARROWED", "items after the positional ones accept less than before")
        }
    }

    /// `contains` and its counts. The reader needs `minContains` items matching its
    /// schema: old data is sure to have them only if the writer required as many of a
    /// schema the reader's accepts. A reader's `maxContains` holds for old data only if
    /// the writer bounded the same schema as tightly. Confluent compares neither; the
    /// rules are Pumphouse's, named as its other count rules are.
    mutating func compareContains(_ w: SchemaNode, _ r: SchemaNode, at path: String) {
        guard let readerContains = r.contains else { return }
        let pointer = path + "/contains"
        let readerMin = r.minContains ?? 1
        if readerMin > 0 {
            if let writerContains = w.contains, (w.minContains ?? 1) > 0 {
                compare(writer: writerContains, reader: readerContains, at: pointer)
                compareCounts(old: w.minContains ?? 1, new: readerMin, min: true, keyword: "minContains", rule: "MIN_CONTAINS", at: path)
            } else {
                report(pointer, "CONTAINS_ADDED", "arrays must now hold \(readerMin) item(s) matching contains; old arrays need not")
            }
        }
        if let readerMax = r.maxContains {
            let sameSchema = w.contains == readerContains
            compareCounts(old: sameSchema ? w.maxContains : nil, new: readerMax, min: false, keyword: "maxContains", rule: "MAX_CONTAINS", at: path)
        }
    }

    mutating func compareCounts(old: Int?, new: Int?, min: Bool, keyword: String, rule: String, at path: String) {
        guard let new, !(min && new == 0) else { return }
        guard let old else {
            report(path + "/\(keyword)", "\(rule)_ADDED", "\(keyword) \(new) added")
            return
        }
        if min && old < new { report(path + "/\(keyword)", "\(rule)_INCREASED", "\(keyword) increased from \(old) to \(new)") }
        if !min && old > new { report(path + "/\(keyword)", "\(rule)_DECREASED", "\(keyword) decreased from \(old) to \(new)") }
    }

    mutating func compareObjects(_ w: SchemaNode, _ r: SchemaNode, at path: String) {
        compareCounts(old: w.maxProperties, new: r.maxProperties, min: false, keyword: "maxProperties", rule: "MAX_PROPERTIES", at: path)
        compareCounts(old: w.minProperties, new: r.minProperties, min: true, keyword: "minProperties", rule: "MIN_PROPERTIES", at: path)
        let writerRest = w.additionalProperties ?? writerLeftover(w, named: nil)
        let readerRest = r.additionalProperties ?? .any

        for (name, readerProperty) in r.properties {
            let propertyPath = path + "/properties/" + SchemaParser.escape(name)
            if let writerProperty = w.property(name) {
                compare(writer: writerProperty, reader: readerProperty, at: propertyPath)
            } else if !accepts(writer: writerUndeclared(name, in: w), reader: readerProperty) {
                // The writer may have sent this name as an undeclared property.
                if Self.isOpen(w) {
                    report(propertyPath, "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", "property \"\(name)\" added with a schema, but the previous open content model allowed any value under that name, so old data may carry it with another type")
                } else {
                    report(propertyPath, "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", "property \"\(name)\" added, but its schema does not accept what the previous additionalProperties or patternProperties allowed under that name")
                }
            }
        }
        for (name, writerProperty) in w.properties where r.property(name) == nil {
            let readerRest = Self.undeclared(name, in: r)
            guard !accepts(writer: writerProperty, reader: readerRest) else { continue }
            let propertyPath = path + "/properties/" + SchemaParser.escape(name)
            if readerRest == .always(false) {
                report(propertyPath, "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", "property \"\(name)\" removed from a closed content model; data that has it is rejected")
            } else {
                report(propertyPath, "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", "property \"\(name)\" removed, and what now applies to that name (additionalProperties or patternProperties) does not accept its values")
            }
        }
        comparePatterns(w, r, at: path)
        if let readerNames = r.propertyNames {
            // Names are strings: the writer's names must all be ones the reader accepts.
            compare(writer: w.propertyNames ?? .node(Self.anyString), reader: readerNames, at: path + "/propertyNames")
        }
        if !accepts(writer: writerRest, reader: readerRest) {
            let rule = Self.isOpen(w) ? "ADDITIONAL_PROPERTIES_ADDED" : "ADDITIONAL_PROPERTIES_NARROWED"
            report(path + "/additionalProperties", rule, "undeclared properties accept less than before")
        }

        let writerRequired = Set(w.required.map { ExactKey($0) })
        for name in r.required where !writerRequired.contains(ExactKey(name)) {
            let readerProperty = r.property(name).map { readerDocument.resolve($0) }
            if case .node(let node)? = readerProperty, node.defaultValue != nil { continue }
            let pointer = path + "/required"
            if w.property(name) == nil && Self.undeclared(name, in: w) == .always(false) {
                report(pointer, "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", "property \"\(name)\" added as required without a default; previous data never has it")
            } else {
                report(pointer, "REQUIRED_ATTRIBUTE_ADDED", "\"\(name)\" became required without a default; previous data may lack it")
            }
        }

        for (name, readerDependents) in r.dependentRequired.sorted(by: { $0.key < $1.key }) {
            let pointer = path + "/dependentRequired/" + SchemaParser.escape(name.text)
            guard let writerDependents = w.dependentRequired[name] else {
                report(pointer, "DEPENDENCY_ARRAY_ADDED", "\"\(name)\" now requires \(readerDependents)")
                continue
            }
            let extra = readerDependents.filter { dependent in !writerDependents.contains { $0.isSameBytes(as: dependent) } }
            if !extra.isEmpty { report(pointer, "DEPENDENCY_ARRAY_EXTENDED", "\"\(name)\" now also requires \(extra)") }
        }
        for (name, readerDependent) in r.dependentSchemas.sorted(by: { $0.key < $1.key }) {
            let pointer = path + "/dependentSchemas/" + SchemaParser.escape(name.text)
            if let writerDependent = w.dependentSchemas[name] {
                compare(writer: writerDependent, reader: readerDependent, at: pointer)
            } else if !accepts(writer: .any, reader: readerDependent) {
                report(pointer, "DEPENDENCY_SCHEMA_ADDED", "a schema now applies when \"\(name)\" is present")
            }
        }
    }

    /// Any string: what a property name is when nothing constrains it.
    static let anyString: SchemaNode = {
        var node = SchemaNode()
        node.types = [.string]
        return node
    }()

    /// Whether any value goes under any undeclared name: Confluent's open content model.
    static func isOpen(_ node: SchemaNode) -> Bool {
        node.patternProperties.isEmpty && (node.additionalProperties == nil || node.additionalProperties == .always(true))
            && (node.unevaluatedProperties == nil || node.unevaluatedProperties == .always(true))
    }

    /// What `node` lets an undeclared property named `name` hold: the schemas of the
    /// patterns the name matches, or `additionalProperties` (anything when absent) if it
    /// matches none.
    static func undeclared(_ name: String, in node: SchemaNode) -> JSONSchema {
        let matching = node.patternProperties.filter { SchemaPattern($0.pattern).matches(name) }.map(\.schema)
        guard matching.count > 1 else { return matching.first ?? node.additionalProperties ?? .any }
        var all = SchemaNode()
        all.allOf = matching
        return .node(all)
    }

    /// `patternProperties` by pattern text. A pattern kept is compared as a property is.
    /// One added or removed covers names that another schema covered before or after:
    /// which names two regular expressions share is not decided here, so the check is
    /// conservative, against every schema an undeclared name could have met on the
    /// other side (its patterns and its additionalProperties). Confluent compares no
    /// pattern itself; these two rules are Pumphouse's.
    mutating func comparePatterns(_ w: SchemaNode, _ r: SchemaNode, at path: String) {
        for (pattern, readerSchema) in r.patternProperties {
            let pointer = path + "/patternProperties/" + SchemaParser.escape(pattern)
            if let writerSchema = w.patternProperties.first(where: { $0.pattern.isSameBytes(as: pattern) })?.schema {
                compare(writer: writerSchema, reader: readerSchema, at: pointer)
            } else if (w.patternProperties.map(\.schema) + [w.additionalProperties ?? .any]).contains(where: { !accepts(writer: $0, reader: readerSchema) }) {
                report(pointer, "PATTERN_PROPERTY_ADDED_NOT_COVERED", "pattern \"\(pattern)\" added with a schema that does not accept what the previous content model allowed under names it may match")
            }
        }
        for (pattern, writerSchema) in w.patternProperties where !r.patternProperties.contains(where: { $0.pattern.isSameBytes(as: pattern) }) {
            if (r.patternProperties.map(\.schema) + [r.additionalProperties ?? .any]).contains(where: { !accepts(writer: writerSchema, reader: $0) }) {
                report(path + "/patternProperties/" + SchemaParser.escape(pattern), "PATTERN_PROPERTY_REMOVED_NOT_COVERED", "pattern \"\(pattern)\" removed, and what may now apply to the names it matched does not accept their values")
            }
        }
    }

    // MARK: allOf / anyOf / oneOf / not

    mutating func compareCombinators(_ w: SchemaNode, _ r: SchemaNode, at path: String) {
        let writer = JSONSchema.node(Self.withoutCombinators(w))
        if let alternatives = r.anyOf, !alternatives.contains(where: { accepts(writer: writer, reader: $0) }) {
            report(path + "/anyOf", "COMBINED_TYPE_CHANGED", "became an anyOf none of whose alternatives accepts the previous schema")
        }
        if let alternatives = r.oneOf {
            // oneOf needs exactly one match: one alternative must accept the writer's
            // values and every other must provably reject them.
            if let match = alternatives.firstIndex(where: { accepts(writer: writer, reader: $0) }) {
                for (index, other) in alternatives.enumerated() where index != match && !disjoint(writer, other) {
                    report(path + "/oneOf/\(index)", "COMBINED_TYPE_CHANGED", "values of the previous schema may match oneOf alternatives \(match) and \(index); oneOf requires exactly one")
                }
            } else {
                report(path + "/oneOf", "COMBINED_TYPE_CHANGED", "became a oneOf none of whose alternatives accepts the previous schema")
            }
        }
        if let readerAll = r.allOf {
            let writerAll = w.allOf ?? [.node(Self.withoutCombinators(w))]
            for (index, part) in readerAll.enumerated() where !writerAll.contains(where: { accepts(writer: $0, reader: part) }) {
                if w.allOf == nil {
                    compare(writer: .node(Self.withoutCombinators(w)), reader: part, at: path + "/allOf/\(index)")
                } else {
                    report(path + "/allOf/\(index)", "PRODUCT_TYPE_EXTENDED", "allOf part \(index) adds a constraint the previous schema did not have")
                }
            }
        }
        compareCondition(w, r, at: path)
        if let readerNot = r.not {
            if let writerNot = w.not {
                // not(A) accepts all that not(B) accepts when A's values are all B's.
                if !accepts(writer: readerNot, reader: writerNot) {
                    report(path + "/not", "NOT_TYPE_EXTENDED", "\"not\" now excludes values that were accepted")
                }
            } else {
                report(path + "/not", "NOT_TYPE_EXTENDED", "\"not\" added; it excludes values that were accepted")
            }
        }
    }

    /// `if`/`then`/`else`. Old data is sure to pass the reader's condition when the writer
    /// had the same one, or when each of the reader's branches accepts everything the
    /// writer's schema does (whichever branch a value takes). Anything else is reported:
    /// what the condition selects is not worked out here. Confluent compares no
    /// condition; the two rules are Pumphouse's.
    mutating func compareCondition(_ w: SchemaNode, _ r: SchemaNode, at path: String) {
        guard let condition = r.ifSchema else { return }
        if w.ifSchema == condition && w.thenSchema == r.thenSchema && w.elseSchema == r.elseSchema { return }
        let writer = JSONSchema.node(Self.withoutCombinators(w))
        let covered = [r.thenSchema, r.elseSchema].allSatisfy { branch in branch.map { accepts(writer: writer, reader: $0) } ?? true }
        guard !covered else { return }
        if w.ifSchema == nil {
            report(path + "/if", "CONDITION_ADDED", "if/then/else added; values the previous schema allowed may fail the branch they take")
        } else {
            report(path + "/if", "CONDITION_CHANGED", "if/then/else changed; values the previous schema allowed may fail the branch they now take")
        }
    }

    /// Whether no value the writer allows can satisfy `other`: disjoint types, disjoint
    /// enums, or `false`. Anything subtler counts as overlapping (conservative).
    func disjoint(_ writer: JSONSchema, _ other: JSONSchema) -> Bool {
        guard case .node(let r) = readerDocument.resolve(other) else {
            return readerDocument.resolve(other) == .always(false)
        }
        guard case .node(let w) = writerDocument.resolve(writer) else { return false }
        if r.types != nil && Self.types(w.types).isDisjoint(with: Self.types(r.types)) { return true }
        if let produced = w.enumValues, let accepted = r.enumValues {
            return !produced.contains { value in accepted.contains { $0.jsonEquals(value) } }
        }
        if let produced = w.enumValues, r.types != nil {
            let accepted = Self.types(r.types)
            return produced.allSatisfy { value in !accepted.contains { $0.rawValue == value.typeName || ($0 == .number && value.numberValue != nil) } }
        }
        return false
    }

    static func withoutCombinators(_ node: SchemaNode) -> SchemaNode {
        var copy = node
        copy.allOf = nil
        copy.anyOf = nil
        copy.oneOf = nil
        copy.not = nil
        return copy
    }

    // MARK: Rendering

    static func list(_ types: Set<JSONType>) -> String {
        types.count == 1 ? types.first!.rawValue : "[" + types.sorted().map(\.rawValue).joined(separator: ", ") + "]"
    }

    static func render(_ values: [JSONValue]) -> String {
        values.map { (try? JSONWriter.encode($0)).map { String(decoding: $0, as: UTF8.self) } ?? "?" }.joined(separator: ", ")
    }

    static func render(_ number: Double) -> String {
        number.rounded() == number && abs(number) < 1e15 ? String(Int64(number)) : String(number)
    }

    // MARK: unevaluated* and $dynamicRef

    /// `schema` with its references followed. A `$dynamicRef` leads where the path that
    /// evaluation took decides, which the comparison does not track, so it stands for
    /// every schema it may lead to: on the writer's side any of them (each must be
    /// accepted), on the reader's side all of them (each must accept). Conservative: a
    /// dynamic reference left unchanged may still be reported.
    static func following(_ schema: JSONSchema, in document: SchemaDocument, asWriter: Bool) -> JSONSchema {
        let resolved = document.resolve(schema)
        guard case .node(let node) = resolved, let reference = node.dynamicRef else { return resolved }
        let candidates = document.candidates(of: reference).map { target in
            var part = SchemaNode()
            part.ref = target
            return JSONSchema.node(part)
        }
        guard candidates.count > 1 else { return following(candidates[0], in: document, asWriter: asWriter) }
        var combined = SchemaNode()
        if asWriter { combined.anyOf = candidates } else { combined.allOf = candidates }
        return .node(combined)
    }

    /// What the writer may hold under an undeclared name no pattern matches, when it has
    /// no `additionalProperties`: anything, unless `unevaluatedProperties` bounds it; then
    /// whatever may have evaluated such a member in place (for `name`, what names it,
    /// matches it or takes every member), or the unevaluatedProperties schema.
    func writerLeftover(_ w: SchemaNode, named name: String?) -> JSONSchema {
        guard let rest = w.unevaluatedProperties else { return .any }
        let inPlace = InPlaceEvaluations(of: w, in: writerDocument)
        var options = inPlace.otherMembers + [rest]
        options += inPlace.properties.filter { entry in name.map { entry.name.isSameBytes(as: $0) } ?? true }.map(\.schema)
        options += inPlace.patterns.filter { entry in name.map { SchemaPattern(entry.pattern).matches($0) } ?? true }.map(\.schema)
        guard options.count > 1 else { return rest }
        var any = SchemaNode()
        any.anyOf = options
        return .node(any)
    }

    /// What the writer may hold at a position past its own positional items (`index`, or
    /// any when nil), when it has no `items`: as `writerLeftover`, for unevaluatedItems.
    func writerItemLeftover(_ w: SchemaNode, at index: Int?) -> JSONSchema {
        guard let rest = w.unevaluatedItems else { return .any }
        let inPlace = InPlaceEvaluations(of: w, in: writerDocument)
        let options = inPlace.otherItems + [rest] + inPlace.prefixItems.filter { entry in index.map { entry.offset == $0 } ?? true }.map(\.element)
        guard options.count > 1 else { return rest }
        var any = SchemaNode()
        any.anyOf = options
        return .node(any)
    }

    func writerUndeclared(_ name: String, in w: SchemaNode) -> JSONSchema {
        let matched = w.patternProperties.contains { SchemaPattern($0.pattern).matches(name) }
        return matched || w.additionalProperties != nil ? Self.undeclared(name, in: w) : writerLeftover(w, named: name)
    }

    /// The reader's `unevaluatedProperties` applies to the members nothing it is sure to
    /// apply evaluated (its own properties, patterns and `additionalProperties`, and its
    /// allOf parts', references included). Each other member of the writer's objects was
    /// evaluated by something of the writer's, or by nothing: its value passes that
    /// schema (a declaration, a pattern, additionalProperties, unevaluatedProperties), or
    /// is anything when the writer has no unevaluatedProperties. Every such schema must be
    /// accepted by the reader's. Which of the writer's in-place alternatives evaluated a
    /// member is not worked out, so each is held to it (conservative). Confluent knows
    /// no unevaluatedProperties; the two UNEVALUATED_ rules are Pumphouse's, named as
    /// Confluent names additionalProperties'.
    mutating func compareUnevaluatedProperties(_ w: SchemaNode, _ r: SchemaNode, at path: String) {
        guard let readerRest = r.unevaluatedProperties, !accepts(writer: .any, reader: readerRest) else { return }
        let sure = SureEvaluations(of: r, in: readerDocument)
        guard !sure.allMembers else { return }
        let pointer = path + "/unevaluatedProperties"
        let inPlace = InPlaceEvaluations(of: w, in: writerDocument)
        var reported = Set<ExactKey>()
        for (name, schema) in w.properties + inPlace.properties where !sure.names.contains(where: { $0.isSameBytes(as: name) }) {
            guard !accepts(writer: schema, reader: readerRest), reported.insert(ExactKey(name)).inserted else { continue }
            let rule = readerRest == .always(false) ? "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL" : "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
            report(pointer, rule, "property \"\(name)\" is no longer evaluated for sure, and unevaluatedProperties does not accept what the previous schema allowed under it")
        }
        for (pattern, schema) in w.patternProperties + inPlace.patterns where !sure.patterns.contains(where: { $0.isSameBytes(as: pattern) }) {
            guard !accepts(writer: schema, reader: readerRest), reported.insert(ExactKey(pattern)).inserted else { continue }
            report(pointer, "PATTERN_PROPERTY_REMOVED_NOT_COVERED", "members matching \"\(pattern)\" are no longer evaluated for sure, and unevaluatedProperties does not accept what the previous schema allowed under them")
        }
        guard w.additionalProperties != nil || w.unevaluatedProperties != nil else {
            report(pointer, "UNEVALUATED_PROPERTIES_ADDED", "unevaluatedProperties added; members the previous schema left unevaluated could hold any value")
            return
        }
        let writerRests = [w.additionalProperties ?? w.unevaluatedProperties].compactMap { $0 } + inPlace.otherMembers
        if writerRests.contains(where: { !accepts(writer: $0, reader: readerRest) }) {
            report(pointer, "UNEVALUATED_PROPERTIES_NARROWED", "unevaluatedProperties accepts less than what the previous schema allowed in members it did not declare")
        }
    }

    /// `unevaluatedItems`, as `compareUnevaluatedProperties`: the reader is sure to have
    /// evaluated its own (and its allOf parts') positional items, or every item when one
    /// of them has `items`; any other item of the writer's arrays passed one of the
    /// writer's positional schemas, `items`, `contains` or `unevaluatedItems`, or is
    /// anything when the writer has neither `items` nor `unevaluatedItems`.
    mutating func compareUnevaluatedItems(_ w: SchemaNode, _ r: SchemaNode, at path: String) {
        guard let readerRest = r.unevaluatedItems, !accepts(writer: .any, reader: readerRest) else { return }
        let sure = SureEvaluations(of: r, in: readerDocument)
        guard !sure.allItems else { return }
        let pointer = path + "/unevaluatedItems"
        let inPlace = InPlaceEvaluations(of: w, in: writerDocument)
        var reported = Set<Int>()
        for (index, schema) in Array(w.prefixItems.enumerated()) + inPlace.prefixItems where index >= sure.prefixItems {
            guard !accepts(writer: schema, reader: readerRest), reported.insert(index).inserted else { continue }
            let rule = readerRest == .always(false) ? "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL" : "ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
            report(pointer, rule, "item \(index) is no longer evaluated for sure, and unevaluatedItems does not accept what the previous schema allowed there")
        }
        guard w.items != nil || w.unevaluatedItems != nil else {
            report(pointer, "UNEVALUATED_ITEMS_ADDED", "unevaluatedItems added; items the previous schema left unevaluated could hold any value")
            return
        }
        let writerRests = [w.items ?? w.unevaluatedItems, w.contains].compactMap { $0 } + inPlace.otherItems
        if writerRests.contains(where: { !accepts(writer: $0, reader: readerRest) }) {
            report(pointer, "UNEVALUATED_ITEMS_NARROWED", "unevaluatedItems accepts less than what the previous schema allowed in items it did not declare")
        }
    }
}

/// What the subschemas applying in place to a schema's value (every applicator but
/// `not`, whose annotations never count, through references) may evaluate, each with
/// the schema a value it evaluated passed.
private struct InPlaceEvaluations {
    var properties: [(name: String, schema: JSONSchema)] = []
    var patterns: [(pattern: String, schema: JSONSchema)] = []
    /// `additionalProperties` and `unevaluatedProperties`: each evaluates every member left.
    var otherMembers: [JSONSchema] = []
    var prefixItems: [(offset: Int, element: JSONSchema)] = []
    /// `items`, `contains` and `unevaluatedItems`.
    var otherItems: [JSONSchema] = []

    init(of node: SchemaNode, in document: SchemaDocument) {
        var stack = Self.children(of: node)
        var followed = Set<ExactKey>()
        while let next = stack.popLast() {
            guard case .node(let child) = next else { continue }
            // The parser leaves a reference alone in its node; each target is walked once.
            let targets = child.ref.map { [$0] } ?? child.dynamicRef.map { document.candidates(of: $0) }
            if let targets {
                stack += targets.filter { followed.insert(ExactKey($0)).inserted }.compactMap { document.schema(at: $0) }
                continue
            }
            properties += child.properties
            patterns += child.patternProperties
            otherMembers += [child.additionalProperties, child.unevaluatedProperties].compactMap { $0 }
            prefixItems += child.prefixItems.enumerated()
            otherItems += [child.items, child.contains, child.unevaluatedItems].compactMap { $0 }
            stack += Self.children(of: child)
        }
    }

    static func children(of node: SchemaNode) -> [JSONSchema] {
        (node.allOf ?? []) + (node.anyOf ?? []) + (node.oneOf ?? []) + [node.ifSchema, node.thenSchema, node.elseSchema].compactMap { $0 }
            + node.dependentSchemas.sorted { $0.key < $1.key }.map(\.value)
    }
}

/// What a schema evaluates whenever it holds: its own properties, patterns and
/// positional items, and those of its allOf parts (references followed; a dynamic one,
/// whose target is not known, is not counted on).
private struct SureEvaluations {
    var names: [String] = []
    var patterns: [String] = []
    var allMembers = false
    var prefixItems = 0
    var allItems = false

    init(of node: SchemaNode, in document: SchemaDocument) {
        // The schema's own unevaluated* is what is being checked; a part's evaluates all.
        absorb(node, rest: false)
        var stack = node.allOf ?? []
        var followed = Set<ExactKey>()
        while let next = stack.popLast() {
            guard case .node(let part) = next, part.dynamicRef == nil else { continue }
            if let ref = part.ref {
                if followed.insert(ExactKey(ref)).inserted, let target = document.schema(at: ref) { stack.append(target) }
                continue
            }
            absorb(part, rest: true)
            stack += part.allOf ?? []
        }
    }

    private mutating func absorb(_ node: SchemaNode, rest: Bool) {
        names += node.properties.map(\.name)
        patterns += node.patternProperties.map(\.pattern)
        allMembers = allMembers || node.additionalProperties != nil || (rest && node.unevaluatedProperties != nil)
        prefixItems = max(prefixItems, node.prefixItems.count)
        allItems = allItems || node.items != nil || (rest && node.unevaluatedItems != nil)
    }
}

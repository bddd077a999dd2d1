import Foundation
import PropertyBased
import PumphouseContracts
import PumphouseTestSupport
import Synchronization
import Testing

/// The schema checker runs in CI on whatever a pull request puts in Schemas/, and the
/// validator on every payload a writer takes in; neither may trap or hang, whatever the
/// document or the payload.
@Suite("Schema parser, validator and compatibility checker under fuzzed input")
struct SchemaFuzzTests {
    static let schemasDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Schemas").path

    /// Every schema version in the project, as text, keyed by `contract/vN.json`.
    static let projectSchemas: [(path: String, bytes: [UInt8])] = {
        let files = (try? FileManager.default.subpathsOfDirectory(atPath: schemasDirectory)) ?? []
        return files.filter { $0.hasSuffix(".json") }.sorted().compactMap { path in
            FileManager.default.contents(atPath: "\(schemasDirectory)/\(path)").map { (path, Array($0)) }
        }
    }()

    /// Keywords the parser knows, so mutations hit its checks rather than only its
    /// "not supported" branch.
    static let keywords = [
        "$ref", "$defs", "type", "enum", "const", "minLength", "maxLength", "pattern", "minimum", "maximum",
        "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "items", "prefixItems", "additionalItems", "minItems",
        "maxItems", "uniqueItems", "properties", "required", "additionalProperties", "minProperties", "maxProperties",
        "dependentRequired", "dependentSchemas", "dependencies", "allOf", "anyOf", "oneOf", "not", "default", "$schema",
    ]

    static let extremeNumbers: [JSONValue] = [
        .int(.max), .int(.min), .int(0), .int(-1), .int(Int64(Int32.max) + 1),
        .double(1e308), .double(-1e308), .double(.leastNonzeroMagnitude), .double(-0.0), .double(0.1),
    ]

    static let hostilePatterns = ["(unclosed", "[", "\\", "(?<", "a{99999999999}", "*", "(?", "[z-a]", "(a+)+$", "\u{0}", "^[A-Z]{3}$"]

    /// Schemas that loop or nest: legal recursion through a property, loops through
    /// combinators and bare references, and references to nowhere.
    static let references: [JSONValue] = [
        .object(["$ref": .string("#")]),
        .object(["$ref": .string("#/$defs/Loop")]),
        .object(["allOf": .array([.object(["$ref": .string("#")])])]),
        .object(["not": .object(["$ref": .string("#")])]),
        .object(["$ref": .string("#/$defs/Nowhere")]),
        .object(["$ref": .string("#/properties")]),
        .object(["type": .string("object"), "properties": .object(["next": .object(["$ref": .string("#")])])]),
    ]

    /// One structural edit somewhere in a schema tree.
    static func mutate(_ schema: JSONValue, _ rng: inout SplitMix, depth: Int = 0) -> JSONValue {
        guard case .object(var object) = schema else {
            return Int.random(in: 0..<3, using: &rng) == 0 ? .object(JSONObject()) : RandomContracts.json(&rng)
        }
        // Descend into a child schema (or a map of them) most of the time, so edits land deep too.
        let nested = object.filter { if case .object = $0.value { true } else if case .array = $0.value { true } else { false } }
        if !nested.isEmpty, depth < 8, Int.random(in: 0..<3, using: &rng) > 0 {
            let member = nested.randomElement(using: &rng)!
            switch member.value {
            case .array(var items) where !items.isEmpty:
                let index = Int.random(in: 0..<items.count, using: &rng)
                items[index] = mutate(items[index], &rng, depth: depth + 1)
                object[member.name] = .array(items)
            default:
                object[member.name] = mutate(member.value, &rng, depth: depth + 1)
            }
            return .object(object)
        }
        let keyword = keywords.randomElement(using: &rng)!
        switch Int.random(in: 0..<9, using: &rng) {
        case 0:
            if let victim = object.randomElement(using: &rng) { object[victim.name] = nil }
        case 1:
            object[keyword] = RandomContracts.json(&rng)
        case 2:
            object[["minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxProperties"].randomElement(using: &rng)!] = extremeNumbers.randomElement(using: &rng)!
        case 3:
            object["pattern"] = .string(hostilePatterns.randomElement(using: &rng)!)
        case 4:
            object["$defs"] = .object(["Loop": references.randomElement(using: &rng)!])
            object[["items", "not", "additionalProperties"].randomElement(using: &rng)!] = references.randomElement(using: &rng)!
        case 5:
            var wrapped = JSONValue.object(object)
            for _ in 0..<Int.random(in: 1...80, using: &rng) {
                wrapped = Bool.random(using: &rng) ? .object(["allOf": .array([wrapped])]) : .object(["properties": .object(["x": wrapped])])
            }
            return wrapped
        case 6:
            object["type"] = .array(JSONType.allCases.shuffled(using: &rng).prefix(Int.random(in: 0...3, using: &rng)).map { .string($0.rawValue) })
        case 7:
            object[["allOf", "anyOf", "oneOf", "prefixItems", "required", "enum"].randomElement(using: &rng)!] =
                .array((0..<Int.random(in: 0...3, using: &rng)).map { _ in Bool.random(using: &rng) ? .object(object) : RandomContracts.json(&rng) })
        default:
            return RandomContracts.json(&rng)
        }
        return .object(object)
    }

    /// A payload shaped like `schema`: some of its declared properties with random values.
    static func payload(for schema: JSONValue, _ rng: inout SplitMix) -> JSONValue {
        guard Int.random(in: 0..<4, using: &rng) > 0, case .object(let properties)? = schema.objectValue?["properties"] else {
            return RandomContracts.json(&rng)
        }
        var fields = JSONObject()
        for property in properties where Int.random(in: 0..<4, using: &rng) > 0 {
            fields[property.name] = RandomContracts.json(&rng)
        }
        if Bool.random(using: &rng) { fields["stray_\(RandomContracts.string(&rng, maxLength: 4))"] = .int(1) }
        return .object(fields)
    }

    /// The slowest case of a run and how many documents parsed, for the bounds checks.
    final class Tally: Sendable {
        private let state = Mutex<(parsed: Int, rejected: Int, slowest: Duration)>((0, 0, .zero))
        func record(parsed: Bool, _ elapsed: Duration) {
            state.withLock {
                if parsed { $0.parsed += 1 } else { $0.rejected += 1 }
                $0.slowest = max($0.slowest, elapsed)
            }
        }
        var parsed: Int { state.withLock { $0.parsed } }
        var rejected: Int { state.withLock { $0.rejected } }
        var slowest: Duration { state.withLock { $0.slowest } }
    }

    /// Parses `bytes`; if it is a schema, runs every consumer of schemas over it: the
    /// validator on payloads, the update path of the registry, and the compatibility
    /// checker against the original in every mode and both directions.
    static func exercise(_ bytes: [UInt8], original: SchemaDocument, source: JSONValue, _ rng: inout SplitMix, into tally: Tally) {
        let started = ContinuousClock.now
        let document: SchemaDocument
        do {
            document = try SchemaParser().parse(bytes)
        } catch {
            tally.record(parsed: false, ContinuousClock.now - started)
            #expect(!error.message.isEmpty)
            return
        }
        defer { tally.record(parsed: true, ContinuousClock.now - started) }
        let validator = SchemaValidator(document: document)
        for _ in 0..<4 {
            let value = payload(for: source, &rng)
            let issues = validator.validate(value)
            #expect(issues.count <= validator.maxIssues)
            #expect(validator.isValid(value) == issues.isEmpty)
            if case .object(let fields) = value, let field = fields.first {
                _ = validator.validateField(field.name, field.value)
            }
        }
        let schemas = ContractSchemas(name: try! ContractName("fuzz.Thing"), definition: ContractDefinition(topic: "fuzz.thing", keyField: "id"), versions: [original, document])
        var update = RandomContracts.contract(seed: rng.next())
        update.version = 2
        update.action = .update
        if case .object(let properties)? = source.objectValue?["properties"], let name = properties.randomElement(using: &rng)?.name {
            update.deltas = [name: .int(1)]
        }
        _ = schemas.issues(of: update)
        for mode in CompatibilityMode.allCases {
            _ = SchemaCompatibility().check(old: original, new: document, mode: mode)
            _ = SchemaCompatibility().check(old: document, new: original, mode: mode)
        }
    }

    @Test("the project's schemas, structurally mutated, parse to a usable schema or a typed error, in bounded time")
    func structuralMutations() async throws {
        let sources = try Self.projectSchemas.map { try JSONParser().parse($0.bytes) }
        try #require(!sources.isEmpty, "no schemas found in \(Self.schemasDirectory)")
        let tally = Tally()
        await CaseSeeds.check(count: 3_000, "SchemaFuzzTests/structuralMutations") { seed in
            var rng = SplitMix(state: seed)
            let index = Int.random(in: 0..<sources.count, using: &rng)
            let mutated = Self.mutate(sources[index], &rng)
            guard let original = try? SchemaParser().parse(sources[index]), let bytes = try? JSONWriter.encode(mutated) else { return }
            Self.exercise(bytes, original: original, source: mutated, &rng, into: tally)
        }
        #expect(tally.parsed > 0, "no mutation left a valid schema, so validation and compatibility were never exercised")
        #expect(tally.rejected > 0)
        #expect(tally.slowest < .seconds(10), "slowest case took \(tally.slowest)")
    }

    @Test("the project's schema files, mutated byte by byte, parse or fail typed, in bounded time")
    func byteMutations() async throws {
        try #require(!Self.projectSchemas.isEmpty)
        let tally = Tally()
        await CaseSeeds.check(count: 3_000, "SchemaFuzzTests/byteMutations") { seed in
            var rng = SplitMix(state: seed)
            let file = Self.projectSchemas.randomElement(using: &rng)!
            guard let original = try? SchemaParser().parse(file.bytes) else { return }
            let bytes = ByteMutations.mutate(file.bytes, &rng)
            Self.exercise(bytes, original: original, source: (try? JSONParser().parse(bytes)) ?? .null, &rng, into: tally)
        }
        #expect(tally.parsed > 0 && tally.rejected > 0)
        #expect(tally.slowest < .seconds(10), "slowest case took \(tally.slowest)")
    }

    @Test("random payloads against the project's real schemas give bounded reports and agree with isValid")
    func randomPayloads() async throws {
        let documents = try Self.projectSchemas.map { (try SchemaParser().parse($0.bytes), try JSONParser().parse($0.bytes)) }
        await CaseSeeds.check(count: 3_000, "SchemaFuzzTests/randomPayloads") { seed in
            var rng = SplitMix(state: seed)
            let (document, source) = documents.randomElement(using: &rng)!
            let validator = SchemaValidator(document: document)
            let value = Self.payload(for: source, &rng)
            let issues = validator.validate(value)
            #expect(issues.count <= validator.maxIssues, "seed \(seed)")
            #expect(validator.isValid(value) == issues.isEmpty, "seed \(seed)")
        }
    }

    @Test("random payloads against random object schemas get exactly the issues the keywords' own rules predict, in order, cut at any limit")
    func differential() async throws {
        await CaseSeeds.check(count: 3_000, "SchemaFuzzTests/differential") { seed in
            var rng = SplitMix(state: seed)
            let generated = SchemaRules.randomCase(&rng)
            guard let bytes = try? JSONWriter.encode(generated.schema), let document = try? SchemaParser().parse(bytes) else {
                Issue.record("seed \(seed): the generated schema does not parse")
                return
            }
            var validator = SchemaValidator(document: document)
            validator.maxIssues = 100
            let described = { (issues: [SchemaValidationIssue]) in issues.map { "\($0.pointer) \($0.keyword)" } }
            #expect(described(validator.validate(generated.payload)) == generated.issues, "seed \(seed)")
            #expect(validator.isValid(generated.payload) == generated.issues.isEmpty, "seed \(seed)")
            for field in generated.fieldIssues ?? [] {
                #expect(described(validator.validateField(field.name, field.value)) == field.issues, "seed \(seed), field \(field.name)")
            }
            validator.maxIssues = Int.random(in: 1...3, using: &rng)
            #expect(described(validator.validate(generated.payload)) == Array(generated.issues.prefix(validator.maxIssues)), "seed \(seed)")
        }
    }

    @Test("a Schemas directory with a mutated version file is checked without a trap, naming a rule for each problem")
    func mutatedRepository() throws {
        var rng = SplitMix(state: 6)
        let account = try #require(Self.projectSchemas.first { $0.path.hasPrefix("bench.Account/") && $0.path.hasSuffix("v2.json") })
        let definition = try String(contentsOfFile: "\(Self.schemasDirectory)/bench.Account/contract.yaml", encoding: .utf8)
        let v1 = try #require(Self.projectSchemas.first { $0.path == "bench.Account/v1.json" })
        let source = try JSONParser().parse(account.bytes)
        for round in 0..<60 {
            let folder = try SchemaFolder()
            defer { folder.remove() }
            let bytes = round.isMultiple(of: 2) ? ByteMutations.mutate(account.bytes, &rng) : try JSONWriter.encode(Self.mutate(source, &rng))
            try folder.write("bench.Account/contract.yaml", definition)
            try folder.write("bench.Account/v1.json", String(decoding: v1.bytes, as: UTF8.self))
            try #require(FileManager.default.createFile(atPath: "\(folder.root)/bench.Account/v2.json", contents: Data(bytes)))
            for problem in SchemaRepository(directory: folder.root).check() {
                #expect(!problem.rule.isEmpty, "round \(round): \(problem)")
            }
        }
    }
}

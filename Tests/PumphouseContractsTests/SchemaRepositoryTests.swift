import Foundation
import PumphouseContracts
import Testing

/// Builds a throw-away Schemas/ directory.
struct SchemaFolder {
    let root: String

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("schemas-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    func write(_ path: String, _ text: String) throws {
        let full = "\(root)/\(path)"
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: full, atomically: true, encoding: .utf8)
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }

    func rules(against ref: String? = nil) -> [String] {
        SchemaRepository(directory: root).check(againstGitRef: ref).map(\.rule)
    }
}

func accountSchema(_ properties: String, required: String = #"["id"]"#, closed: Bool = true, examples: String = "") -> String {
    #"{"type":"object",\#(closed ? #""additionalProperties":false,"# : "")"required":\#(required),"properties":{"id":{"type":"string"}\#(properties)}\#(examples)}"#
}

@Suite("Schema directory checks")
struct SchemaRepositoryTests {
    @Test("the project's own Schemas directory passes")
    func projectSchemas() {
        let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let problems = SchemaRepository(directory: here.appendingPathComponent("Schemas").path).check()
        #expect(problems.isEmpty, "\(problems)")
    }

    @Test("a compatible evolution with a defaulted field passes, and its example upcasts")
    func compatible() throws {
        let folder = try SchemaFolder()
        defer { folder.remove() }
        try folder.write("a.Thing/contract.yaml", "key: id\nupcast:\n  - from: 1\n    defaults: { size: 1 }\n")
        try folder.write("a.Thing/v1.json", accountSchema("", examples: #","examples":[{"id":"x"}]"#))
        try folder.write("a.Thing/v2.json", accountSchema(#","size":{"type":"integer","default":1}"#, required: #"["id","size"]"#))
        #expect(folder.rules() == [])
    }

    @Test("layout problems are named", arguments: [
        ("gap", ["a.Thing/contract.yaml": "key: id", "a.Thing/v1.json": accountSchema(""), "a.Thing/v3.json": accountSchema("")], "VERSION_GAP"),
        ("no definition", ["a.Thing/v1.json": accountSchema("")], "NO_DEFINITION"),
        ("unknown key", ["a.Thing/contract.yaml": "key: id\ncompatibilty: FULL", "a.Thing/v1.json": accountSchema("")], "INVALID_DEFINITION"),
        ("bad mode", ["a.Thing/contract.yaml": "key: id\ncompatibility: SIDEWAYS", "a.Thing/v1.json": accountSchema("")], "INVALID_DEFINITION"),
        ("bad name", ["Thing/contract.yaml": "key: id", "Thing/v1.json": accountSchema("")], "INVALID_CONTRACT_NAME"),
        ("stray file", ["a.Thing/contract.yaml": "key: id", "a.Thing/v1.json": accountSchema(""), "a.Thing/v1.yaml": "x"], "UNEXPECTED_FILE"),
        ("invalid schema", ["a.Thing/contract.yaml": "key: id", "a.Thing/v1.json": #"{"type":"object","propertes":{}}"#], "INVALID_SCHEMA"),
        ("key not a property", ["a.Thing/contract.yaml": "key: sku", "a.Thing/v1.json": accountSchema("")], "KEY_FIELD_MISSING"),
        // `required` names the key field only in another Unicode spelling: another name.
        ("key optional by bytes", ["a.Thing/contract.yaml": "key: caf\u{E9}", "a.Thing/v1.json": #"{"type":"object","properties":{"caf\#u{E9}":{"type":"string"}},"required":["cafe\#u{301}"]}"#], "KEY_FIELD_OPTIONAL"),
        ("not an object", ["a.Thing/contract.yaml": "key: id", "a.Thing/v1.json": #"{"type":"string"}"#], "NOT_AN_OBJECT_SCHEMA"),
    ])
    func layout(name: String, files: [String: String], rule: String) throws {
        let folder = try SchemaFolder()
        defer { folder.remove() }
        for (path, text) in files { try folder.write(path, text) }
        #expect(folder.rules().contains(rule), "\(folder.rules())")
    }

    @Test("a breaking change fails its declared mode, naming version, field and rule")
    func breaking() throws {
        let folder = try SchemaFolder()
        defer { folder.remove() }
        try folder.write("a.Thing/contract.yaml", "key: id\ncompatibility: BACKWARD\n")
        try folder.write("a.Thing/v1.json", accountSchema(#","n":{"type":"number"}"#))
        try folder.write("a.Thing/v2.json", accountSchema(#","n":{"type":"integer"}"#))
        let problems = SchemaRepository(directory: folder.root).check()
        #expect(problems.map(\.rule) == ["BACKWARD TYPE_NARROWED"])
        #expect(problems.first?.version == 2)
        #expect(problems.first?.pointer == "/properties/n")
    }

    @Test("transitive modes check every earlier version, plain modes only the previous")
    func transitive() throws {
        let folder = try SchemaFolder()
        defer { folder.remove() }
        // v2 makes "n" required with a default (readable from v1 data); v3 drops the
        // default: it still reads v2 data, which always has "n", but not v1 data.
        try folder.write("a.Thing/v1.json", accountSchema(""))
        try folder.write("a.Thing/v2.json", accountSchema(#","n":{"type":"string","default":"x"}"#, required: #"["id","n"]"#))
        try folder.write("a.Thing/v3.json", accountSchema(#","n":{"type":"string"}"#, required: #"["id","n"]"#))
        try folder.write("a.Thing/contract.yaml", "key: id\ncompatibility: BACKWARD\nupcast:\n  - from: 1\n    defaults: { n: x }\n")
        #expect(folder.rules() == [])
        try folder.write("a.Thing/contract.yaml", "key: id\ncompatibility: BACKWARD_TRANSITIVE\nupcast:\n  - from: 1\n    defaults: { n: x }\n")
        #expect(folder.rules() == ["BACKWARD REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL"])
    }

    @Test("a version that cannot reach the latest is caught, statically and by its examples")
    func upcastCoverage() throws {
        let folder = try SchemaFolder()
        defer { folder.remove() }
        try folder.write("a.Thing/contract.yaml", "key: id\ncompatibility: NONE\nupcast:\n  - from: 1\n    rename: { nme: name }\n")
        try folder.write("a.Thing/v1.json", accountSchema(#","name":{"type":"string"}"#, examples: #","examples":[{"id":"x","name":"n"}]"#))
        try folder.write("a.Thing/v2.json", accountSchema(#","name":{"type":"string"},"size":{"type":"integer"}"#, required: #"["id","name","size"]"#))
        let rules = folder.rules()
        #expect(rules.contains("UPCAST_UNKNOWN_FIELD"))
        #expect(rules.contains("UPCAST_MISSING_FIELD"))
        #expect(rules.contains("UPCAST_FAILED"))
    }

    @Test("an optional field made required needs an upcast default, a schema default is not enough")
    func optionalBecameRequired() throws {
        let folder = try SchemaFolder()
        defer { folder.remove() }
        try folder.write("a.Thing/contract.yaml", "key: id\n")
        try folder.write("a.Thing/v1.json", accountSchema(#","email":{"type":"string"}"#, examples: #","examples":[{"id":"x"}]"#))
        try folder.write("a.Thing/v2.json", accountSchema(#","email":{"type":"string","default":"none"}"#, required: #"["id","email"]"#))
        let rules = folder.rules()
        #expect(rules.contains("UPCAST_MISSING_FIELD"), "\(rules)")
        #expect(rules.contains("UPCAST_FAILED"), "\(rules)")
        try folder.write("a.Thing/contract.yaml", "key: id\nupcast:\n  - from: 1\n    defaults: { email: none }\n")
        #expect(folder.rules() == [])
    }

    @Test("an edited or deleted published version fails --against")
    func immutability() throws {
        let folder = try SchemaFolder()
        defer { folder.remove() }
        try folder.write("a.Thing/contract.yaml", "key: id\n")
        try folder.write("a.Thing/v1.json", accountSchema(""))
        try folder.write("b.Other/contract.yaml", "key: id\n")
        try folder.write("b.Other/v1.json", accountSchema(""))
        for command in [["init", "-q"], ["add", "."], ["-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "published"]] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["git", "-C", folder.root] + command
            try process.run()
            process.waitUntilExit()
            try #require(process.terminationStatus == 0)
        }
        #expect(folder.rules(against: "HEAD") == [])
        try folder.write("a.Thing/v1.json", accountSchema(#","x":{}"#))
        try FileManager.default.removeItem(atPath: "\(folder.root)/b.Other/v1.json")
        let rules = folder.rules(against: "HEAD")
        #expect(rules.contains("PUBLISHED_VERSION_EDITED"))
        #expect(rules.contains("NO_VERSIONS") || rules.contains("PUBLISHED_VERSION_DELETED"))
        #expect(folder.rules(against: "no-such-ref").contains("GIT_REF_UNREADABLE"))
    }
}

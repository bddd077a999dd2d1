import Foundation

/// Reads a Schemas/ directory: `Schemas/<contract>/contract.yaml` and
/// `Schemas/<contract>/v<N>.json`, and checks everything CI must hold before a schema
/// ships. Problems are collected, not thrown one by one, so a run reports them all.
public struct SchemaRepository: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    /// The registry, or every problem that stops one from being built.
    public func load() throws(SchemaCheckFailure) -> ContractRegistry {
        let scanned = scan()
        guard scanned.problems.isEmpty else { throw SchemaCheckFailure(problems: scanned.problems) }
        return ContractRegistry(contracts: scanned.contracts)
    }

    /// What a check looked at (the contract folders, by name) and what it found.
    package struct CheckResult: Sendable {
        package var checked: [String]
        package var problems: [SchemaProblem]
    }

    /// Every check: layout, validity, compatibility per mode, upcasting to the latest
    /// version, and (with `againstGitRef`) that no published version was edited.
    public func check(againstGitRef ref: String? = nil) -> [SchemaProblem] {
        checkResult(againstGitRef: ref).problems
    }

    /// `check`'s problems with the folders it read to find them, from one reading of the
    /// directory.
    package func checkResult(againstGitRef ref: String? = nil) -> CheckResult {
        let scanned = scan()
        var all = scanned.problems
        for schemas in scanned.contracts.sorted(by: { $0.name < $1.name }) {
            all += compatibilityProblems(schemas)
            all += upcastProblems(schemas)
        }
        if let ref { all += immutabilityProblems(against: ref) }
        return CheckResult(checked: scanned.folders, problems: all.map(located))
    }

    /// `problem` with the file it is in and, in a JSON schema, the line of its pointer:
    /// contract.yaml for what the definition declares (upcast steps among it), a
    /// version's schema for the rest that name a version, else the contract's folder.
    func located(_ problem: SchemaProblem) -> SchemaProblem {
        var problem = problem
        let folder = "\(directory)/\(problem.contract)"
        if ["INVALID_DEFINITION", "NO_DEFINITION"].contains(problem.rule) || problem.rule.hasPrefix("UPCAST_") {
            problem.file = "\(folder)/contract.yaml"
        } else if let version = problem.version {
            problem.file = "\(folder)/v\(version).json"
        } else {
            problem.file = FileManager.default.fileExists(atPath: folder) ? folder : directory
        }
        if let file = problem.file, file.hasSuffix(".json"), let bytes = FileManager.default.contents(atPath: file) {
            problem.line = JSONPointerLine.line(of: problem.pointer, in: Array(bytes))
        }
        return problem
    }

    // MARK: Loading

    func scan() -> (folders: [String], contracts: [ContractSchemas], problems: [SchemaProblem]) {
        let files = FileManager.default
        var isDirectory: ObjCBool = false
        guard files.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            return ([], [], [SchemaProblem(contract: directory, rule: "NO_SCHEMA_DIRECTORY", message: "\(directory) is not a directory")])
        }
        let entries: [String]
        do {
            entries = try files.contentsOfDirectory(atPath: directory).sorted()
        } catch {
            return ([], [], [SchemaProblem(contract: directory, rule: "NO_SCHEMA_DIRECTORY", message: "\(directory) cannot be listed (\((error as NSError).localizedDescription)); the gate needs read access to it")])
        }
        var folders: [String] = []
        var contracts: [ContractSchemas] = []
        var problems: [SchemaProblem] = []
        for entry in entries where !entry.hasPrefix(".") && entry != "README.md" {
            let path = "\(directory)/\(entry)"
            guard files.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                problems.append(SchemaProblem(contract: entry, rule: "UNEXPECTED_FILE", message: "only contract folders (and README.md) belong in \(directory)"))
                continue
            }
            folders.append(entry)
            let name: ContractName
            do {
                name = try ContractName(entry)
            } catch {
                problems.append(SchemaProblem(contract: entry, rule: "INVALID_CONTRACT_NAME", message: "\(error)"))
                continue
            }
            switch loadContract(name, at: path) {
            case .success(let schemas): contracts.append(schemas)
            case .failure(let failure): problems += failure.problems
            }
        }
        return (folders, contracts, problems)
    }

    func loadContract(_ name: ContractName, at path: String) -> Result<ContractSchemas, SchemaCheckFailure> {
        let contract = name.rawValue
        var problems: [SchemaProblem] = []
        let entries = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
        var versionFiles: [Int: String] = [:]
        for entry in entries where !entry.hasPrefix(".") && entry != "contract.yaml" && entry != "README.md" {
            guard entry.hasPrefix("v"), entry.hasSuffix(".json"), let number = Int(entry.dropFirst().dropLast(5)), number >= 1,
                  entry == "v\(number).json"
            else {
                problems.append(SchemaProblem(contract: contract, rule: "UNEXPECTED_FILE", message: "\(entry): schema files are named v1.json, v2.json, ..."))
                continue
            }
            versionFiles[number] = "\(path)/\(entry)"
        }
        guard let latest = versionFiles.keys.max() else {
            return .failure(SchemaCheckFailure(problems: problems + [SchemaProblem(contract: contract, rule: "NO_VERSIONS", message: "add \(path)/v1.json")]))
        }
        for missing in (1...latest) where versionFiles[missing] == nil {
            problems.append(SchemaProblem(contract: contract, version: missing, rule: "VERSION_GAP", message: "v\(missing).json is missing; versions run from v1 without gaps"))
        }

        var definition: ContractDefinition?
        let definitionPath = "\(path)/contract.yaml"
        if let text = try? String(contentsOfFile: definitionPath, encoding: .utf8) {
            do {
                definition = try ContractDefinition.parse(text, contract: name, file: definitionPath)
            } catch {
                problems.append(SchemaProblem(contract: contract, pointer: error.pointer, rule: "INVALID_DEFINITION", message: error.message))
            }
        } else {
            problems.append(SchemaProblem(contract: contract, rule: "NO_DEFINITION", message: "add \(definitionPath) declaring at least the key field"))
        }

        var versions: [SchemaDocument] = []
        for version in 1...latest {
            guard let file = versionFiles[version] else { continue }
            guard let bytes = FileManager.default.contents(atPath: file) else {
                problems.append(SchemaProblem(contract: contract, version: version, rule: "UNREADABLE", message: "cannot read \(file)"))
                continue
            }
            do {
                let document = try SchemaParser().parse(Array(bytes))
                guard case .node(let root) = document.resolve(document.root), root.types == [.object] else {
                    problems.append(SchemaProblem(contract: contract, version: version, rule: "NOT_AN_OBJECT_SCHEMA", message: "a contract schema must have \"type\": \"object\" at its root"))
                    continue
                }
                versions.append(document)
            } catch {
                problems.append(SchemaProblem(contract: contract, version: version, pointer: error.pointer, rule: "INVALID_SCHEMA", message: error.message))
            }
        }
        if let definition {
            for (version, document) in versions.enumerated() {
                guard case .node(let root) = document.resolve(document.root) else { continue }
                if root.property(definition.keyField) == nil {
                    problems.append(SchemaProblem(contract: contract, version: version + 1, pointer: "/properties", rule: "KEY_FIELD_MISSING", message: "the key field \"\(definition.keyField)\" is not a property"))
                } else if !root.required.contains(where: { $0.isSameBytes(as: definition.keyField) }) {
                    problems.append(SchemaProblem(contract: contract, version: version + 1, pointer: "/required", rule: "KEY_FIELD_OPTIONAL", message: "the key field \"\(definition.keyField)\" must be required"))
                }
            }
        }
        guard problems.isEmpty, let definition else { return .failure(SchemaCheckFailure(problems: problems)) }
        return .success(ContractSchemas(name: name, definition: definition, versions: versions))
    }

    // MARK: Checks

    func compatibilityProblems(_ schemas: ContractSchemas) -> [SchemaProblem] {
        let mode = schemas.definition.compatibility
        guard mode != .none, schemas.latestVersion > 1 else { return [] }
        var problems: [SchemaProblem] = []
        for version in 2...schemas.latestVersion {
            let earlier = mode.isTransitive ? Array(1..<version) : [version - 1]
            for old in earlier {
                for issue in SchemaCompatibility().check(old: schemas.versions[old - 1], new: schemas.versions[version - 1], mode: mode) {
                    problems.append(SchemaProblem(
                        contract: schemas.name.rawValue, version: version, pointer: issue.pointer,
                        rule: "\(issue.direction.rawValue.uppercased()) \(issue.rule)",
                        message: "\(mode): \(issue.message)", against: old
                    ))
                }
            }
        }
        return problems
    }

    /// Each version must reach the latest: declared steps must name real fields, every
    /// field the latest requires must come from the old version or a default, and the
    /// schema's own `examples` must upcast into valid latest-version payloads.
    func upcastProblems(_ schemas: ContractSchemas) -> [SchemaProblem] {
        let contract = schemas.name.rawValue
        let latest = schemas.latestVersion
        var problems: [SchemaProblem] = []
        func root(_ version: Int) -> SchemaNode? {
            guard let document = schemas.schema(version: version), case .node(let node) = document.resolve(document.root) else { return nil }
            return node
        }
        for (from, step) in schemas.definition.upcasts.sorted(by: { $0.key < $1.key }) {
            guard from < latest, let old = root(from), let new = root(from + 1) else {
                problems.append(SchemaProblem(contract: contract, version: from, pointer: "/upcast", rule: "UPCAST_WITHOUT_TARGET", message: "a step from v\(from) needs a v\(from + 1).json"))
                continue
            }
            for (source, target) in step.rename.sorted(by: { $0.key < $1.key }) {
                if old.property(source.text) == nil { problems.append(SchemaProblem(contract: contract, version: from, pointer: "/upcast/rename/\(source)", rule: "UPCAST_UNKNOWN_FIELD", message: "v\(from) has no field \"\(source)\" to rename")) }
                if new.property(target) == nil { problems.append(SchemaProblem(contract: contract, version: from + 1, pointer: "/upcast/rename/\(source)", rule: "UPCAST_UNKNOWN_FIELD", message: "v\(from + 1) has no field \"\(target)\" to rename into")) }
            }
            for (field, value) in step.defaults.sorted(by: { $0.key < $1.key }) {
                guard let schema = new.property(field.text) else {
                    problems.append(SchemaProblem(contract: contract, version: from + 1, pointer: "/upcast/defaults/\(field)", rule: "UPCAST_UNKNOWN_FIELD", message: "v\(from + 1) has no field \"\(field)\""))
                    continue
                }
                let document = schemas.versions[from]
                let issues = SchemaValidator(document: SchemaDocument(root: schema, definitions: document.definitions, dynamicAnchors: document.dynamicAnchors)).validate(value)
                if let issue = issues.first {
                    problems.append(SchemaProblem(contract: contract, version: from + 1, pointer: "/upcast/defaults/\(field)", rule: "UPCAST_DEFAULT_INVALID", message: issue.message))
                }
            }
            for field in step.widen.keys.sorted() where new.property(field.text) == nil {
                problems.append(SchemaProblem(contract: contract, version: from + 1, pointer: "/upcast/widen/\(field)", rule: "UPCAST_UNKNOWN_FIELD", message: "v\(from + 1) has no field \"\(field)\""))
            }
        }
        guard latest > 1, let newest = root(latest) else { return problems }
        for version in 1..<latest {
            // Only required fields are sure to be present in old data; an optional one
            // may be missing and then needs a default like a new field does.
            guard var fields = root(version).map({ Set($0.required.map { ExactKey($0) }) }) else { continue }
            for step in version..<latest {
                guard let declared = schemas.definition.upcasts[step] else { continue }
                fields = Set(fields.map { declared.rename[$0].map { ExactKey($0) } ?? $0 }).union(declared.defaults.keys)
            }
            for required in newest.required where !fields.contains(ExactKey(required)) {
                problems.append(SchemaProblem(contract: contract, version: version, pointer: "/required", rule: "UPCAST_MISSING_FIELD", message: "v\(version) data cannot become v\(latest): required field \"\(required)\" may be missing (it is new or was optional); add it to \"defaults\" of an upcast step"))
            }
        }
        problems += exampleProblems(schemas)
        return problems
    }

    /// Runs each version's `examples` through the real upcaster.
    func exampleProblems(_ schemas: ContractSchemas) -> [SchemaProblem] {
        let registry = ContractRegistry(contracts: [schemas])
        var problems: [SchemaProblem] = []
        for version in 1...schemas.latestVersion {
            let file = "\(directory)/\(schemas.name.rawValue)/v\(version).json"
            guard let bytes = FileManager.default.contents(atPath: file),
                  case .object(let raw)? = try? JSONParser().parse(Array(bytes)),
                  case .array(let examples)? = raw["examples"]
            else { continue }
            for (index, example) in examples.enumerated() {
                guard case .object(let fields) = example else {
                    problems.append(SchemaProblem(contract: schemas.name.rawValue, version: version, pointer: "/examples/\(index)", rule: "EXAMPLE_INVALID", message: "an example must be an object"))
                    continue
                }
                let key = fields[schemas.definition.keyField].flatMap { value in
                    value.stringValue ?? (try? JSONWriter.encode(value)).map { String(decoding: $0, as: UTF8.self) }
                } ?? "example"
                let contract = Contract(name: schemas.name, version: version, action: .add, key: key, origin: "schema-check", sequence: Int64(index), eventTime: 0, fields: fields)
                do {
                    try registry.validate(contract)
                    _ = try registry.upcast(contract)
                } catch {
                    problems.append(SchemaProblem(contract: schemas.name.rawValue, version: version, pointer: "/examples/\(index)", rule: error.code == "upcast-failed" ? "UPCAST_FAILED" : "EXAMPLE_INVALID", message: "\(error)"))
                }
            }
        }
        return problems
    }

    /// Published versions are immutable: every v<N>.json present at `ref` must be
    /// byte-identical now.
    func immutabilityProblems(against ref: String) -> [SchemaProblem] {
        let listing: String
        do {
            listing = try Self.git(["ls-tree", "-r", "--name-only", ref, "."], in: directory)
        } catch {
            return [SchemaProblem(contract: directory, rule: "GIT_REF_UNREADABLE", message: "cannot list \(directory) at \(ref): \(error)")]
        }
        var problems: [SchemaProblem] = []
        for path in listing.split(separator: "\n").map(String.init).sorted() {
            let parts = path.split(separator: "/")
            guard parts.count == 2, parts[1].hasPrefix("v"), parts[1].hasSuffix(".json"), let version = Int(parts[1].dropFirst().dropLast(5)) else { continue }
            let contract = String(parts[0])
            guard let published = try? Self.gitBytes(["show", "\(ref):./\(path)"], in: directory) else { continue }
            guard let current = FileManager.default.contents(atPath: "\(directory)/\(path)") else {
                problems.append(SchemaProblem(contract: contract, version: version, rule: "PUBLISHED_VERSION_DELETED", message: "v\(version) exists at \(ref) but was deleted; published versions are immutable"))
                continue
            }
            if Array(current) != published {
                problems.append(SchemaProblem(contract: contract, version: version, rule: "PUBLISHED_VERSION_EDITED", message: "v\(version) differs from \(ref); published versions are immutable; add a new version instead"))
            }
        }
        return problems
    }

    struct GitError: Error, CustomStringConvertible {
        let description: String
    }

    static func git(_ arguments: [String], in directory: String) throws -> String {
        String(decoding: try gitBytes(arguments, in: directory), as: UTF8.self)
    }

    static func gitBytes(_ arguments: [String], in directory: String) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "-C", directory] + arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw GitError(description: errorText.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return Array(data)
    }
}

/// Problems that stop a schema directory from loading.
public struct SchemaCheckFailure: Error, Sendable, CustomStringConvertible {
    public let problems: [SchemaProblem]
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

import ArgumentParser
import Foundation
@testable import PumphouseCLI
import PumphousePipeline
import PumphouseSchemaGate
import PumphouseTestSupport
import Testing
import Yams

/// deploy/: every manifest parses, every command line in it names a binary, subcommand
/// and flags that exist, the pipeline file it carries loads through the services' own
/// loader, and probes ask the right paths on the right ports. Nothing here needs Kafka or
/// PostgreSQL.
@Suite("DeployManifests")
struct DeployManifests {
    @Test("every YAML file under deploy/ parses")
    func yamlParses() throws {
        let files = Deploy.files { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
        #expect(files.count >= 8, "found only \(files)")
        for file in files {
            #expect(throws: Never.self, "\(file) does not parse") { _ = try Deploy.documents(Deploy.read(file), file: file) }
        }
    }

    @Test("Kubernetes: commands, probes, ports, ConfigMap and Secret references")
    func kubernetes() throws {
        var problems: [String] = []
        for file in Deploy.files(under: "kubernetes", { $0.hasSuffix(".yaml") }) {
            problems += try Kubernetes.problems(file: file, text: Deploy.read(file))
        }
        #expect(problems.isEmpty, "\n\(problems.joined(separator: "\n"))")
        let workloads = try Deploy.files(under: "kubernetes", { $0.hasSuffix(".yaml") }).flatMap { try Kubernetes.documents($0) }
        let kinds = Set(workloads.compactMap { $0["kind"]?.string })
        for kind in ["ConfigMap", "Secret", "StatefulSet", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service", "Job"] {
            #expect(kinds.contains(kind), "deploy/kubernetes has no \(kind)")
        }
    }

    @Test("compose: commands, healthchecks, dependencies and the units' published ports")
    func compose() throws {
        let problems = try Compose.problems(file: "compose/compose.yaml", text: Deploy.read("compose/compose.yaml"))
        #expect(problems.isEmpty, "\n\(problems.joined(separator: "\n"))")
    }

    @Test("systemd: units parse as INI, ExecStart names real flags, hardening and graceful stop are set")
    func systemd() throws {
        var problems: [String] = []
        let units = Deploy.files(under: "systemd") { $0.hasSuffix(".service") }
        #expect(Set(units.map { ($0 as NSString).lastPathComponent }) == ["pumphouse-writer@.service", "pumphouse-reader.service", "ticketing-unit@.service"])
        for file in units {
            problems += try Systemd.problems(file: file, text: Deploy.read(file))
        }
        #expect(problems.isEmpty, "\n\(problems.joined(separator: "\n"))")
    }

    @Test("nginx round-robins over the three local units, the ports compose publishes")
    func nginx() throws {
        let upstream = try Nginx.upstreamServers(Deploy.read("nginx/ticketing.conf"))
        #expect(upstream["ticketing_units"] == ["127.0.0.1:8081", "127.0.0.1:8082", "127.0.0.1:8083"], "\(upstream)")
        let text = try Deploy.read("nginx/ticketing.conf")
        #expect(text.contains("proxy_pass http://ticketing_units;"))
        #expect(text.contains("keepalive "))
        // The proxy passes the public API only: the units' non-public routes and their
        // metrics end there.
        let collapsed = text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(collapsed.contains("location /admin/ { return 404; }"), "nginx must not pass /admin/ to the units")
        #expect(collapsed.contains("location = /metrics { return 404; }"))
        let published = try Compose.publishedUnitPorts(Deploy.read("compose/compose.yaml"))
        #expect(published.map { "127.0.0.1:\($0)" } == upstream["ticketing_units"], "compose publishes the units on \(published)")
    }

    @Test("the pipeline files load through PipelineConfiguration, with every key known")
    func pipelinesLoad() throws {
        let configMap = try Pipelines.configMapText()
        let cluster = try Pipelines.load(configMap, name: "kubernetes/pipeline-configmap.yaml")
        #expect(cluster.writer(named: "ticketing") != nil)
        #expect(Set(cluster.caches.map(\.contract.rawValue)) == ["ticketing.Concert", "ticketing.Seat", "ticketing.Sale"])
        let compose = try Pipelines.load(Deploy.read("compose/pipeline.yaml"), name: "compose/pipeline.yaml")
        #expect(compose.writers == cluster.writers)
        #expect(compose.reader == cluster.reader)
    }

    @Test("the cluster pipelines map caches exactly as deploy/local/pipeline.yaml does")
    func pipelinesAgree() throws {
        let configMap = try Deploy.map(Deploy.documents(Pipelines.configMapText(), file: "ConfigMap pipeline.yaml").first)
        let compose = try Deploy.map(Deploy.documents(Deploy.read("compose/pipeline.yaml"), file: "compose/pipeline.yaml").first)
        let local = try Deploy.map(Deploy.documents(Deploy.read("local/pipeline.yaml"), file: "local/pipeline.yaml").first)
        let problems = Pipelines.disagreements(configMap, "kubernetes/pipeline-configmap.yaml", with: compose, "compose/pipeline.yaml", keys: ["partitions", "load", "mapping"], sections: ["writers", "reader"])
            + Pipelines.disagreements(configMap, "kubernetes/pipeline-configmap.yaml", with: local, "local/pipeline.yaml", keys: ["topic", "load", "mapping", "reverse_topic"], sections: [])
        #expect(problems.isEmpty, "\n\(problems.joined(separator: "\n"))")
    }

    @Test("the ticketing contracts are in Schemas/")
    func sampleSchemasPresent() throws {
        let missing = try Pipelines.missingContracts(Pipelines.configMapText())
        #expect(missing.isEmpty, "no schema folder in Schemas/ for \(missing)")
    }

    @Test("the ticketing flag list here is the one the built `ticketing unit` accepts")
    func ticketingFlagsAreReal() async throws {
        let help = try await PumphouseProcess.run(["unit", "--help"], executable: "ticketing")
        #expect(help.status == 0, "ticketing unit --help: \(help.errors)")
        let real = Set(help.output.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "-") }).map(String.init).filter { $0.hasPrefix("--") && $0 != "--help" })
        let listed = TicketingCLI.subcommands["unit"]!.options
        #expect(listed.isSubset(of: real), "listed but not accepted: \(listed.subtracting(real))")
    }

    // MARK: the checks can fail

    @Test("a misspelt flag, subcommand or binary in a manifest is caught, naming file and flag")
    func mutationsAreCaught() throws {
        let writer = try Deploy.read("kubernetes/writer.yaml")
        let typo = try Kubernetes.problems(file: "kubernetes/writer.yaml", text: writer.replacingOccurrences(of: "\"--writer\"", with: "\"--writter\""))
        #expect(typo.contains { $0.contains("kubernetes/writer.yaml") && $0.contains("--writter") }, "\(typo)")
        let unknownWriter = try Kubernetes.problems(file: "kubernetes/writer.yaml", text: writer.replacingOccurrences(of: "\"--writer\", \"ticketing\"", with: "\"--writer\", \"tickets\""))
        #expect(unknownWriter.contains { $0.contains("tickets") }, "\(unknownWriter)")
        let subcommand = try Kubernetes.problems(file: "kubernetes/reader.yaml", text: Deploy.read("kubernetes/reader.yaml").replacingOccurrences(of: "args: [\"reader\"", with: "args: [\"readers\""))
        #expect(subcommand.contains { $0.contains("kubernetes/reader.yaml") && $0.contains("readers") }, "\(subcommand)")

        let compose = try Deploy.read("compose/compose.yaml")
        let unitFlag = try Compose.problems(file: "compose/compose.yaml", text: compose.replacingOccurrences(of: "\"--spool-directory\"", with: "\"--spool-dir\""))
        #expect(unitFlag.contains { $0.contains("compose/compose.yaml") && $0.contains("--spool-dir") }, "\(unitFlag)")
        let script = try Compose.problems(file: "compose/compose.yaml", text: compose.replacingOccurrences(of: "topics create --config", with: "topics create --conf"))
        #expect(script.contains { $0.contains("--conf") }, "\(script)")
        let binary = try Compose.problems(file: "compose/compose.yaml", text: compose.replacingOccurrences(of: "[\"ticketing\", \"unit\"", with: "[\"ticketd\", \"unit\""))
        #expect(binary.contains { $0.contains("ticketd") }, "\(binary)")

        let service = try Deploy.read("systemd/pumphouse-reader.service")
        let systemdTypo = try Systemd.problems(file: "systemd/pumphouse-reader.service", text: service.replacingOccurrences(of: "--http-port", with: "--port"))
        #expect(systemdTypo.contains { $0.contains("pumphouse-reader.service") && $0.contains("--port") }, "\(systemdTypo)")

        let units = try Deploy.read("kubernetes/ticketing-units.yaml")
        let probe = try Kubernetes.problems(file: "kubernetes/ticketing-units.yaml", text: units.replacingOccurrences(of: "path: /readyz", with: "path: /ready"))
        #expect(probe.contains { $0.contains("/ready") }, "\(probe)")
        let port = try Kubernetes.problems(file: "kubernetes/ticketing-units.yaml", text: units.replacingOccurrences(of: "containerPort: 8080", with: "containerPort: 8088"))
        #expect(port.contains { $0.contains("8088") }, "\(port)")

        let configMap = try Deploy.read("kubernetes/pipeline-configmap.yaml")
        let key = try Kubernetes.problems(file: "kubernetes/pipeline-configmap.yaml", text: configMap.replacingOccurrences(of: "chunk_rows:", with: "chunk_row:"))
        #expect(key.contains { $0.contains("reader.chunk_row") }, "\(key)")
    }
}

// MARK: - The flags of the sample's binary

/// The `ticketing` sample's command line, listed here in one place because its
/// executable module cannot be imported beside `pumphouse`'s; `ticketingFlagsAreReal`
/// checks the list against the built binary's `--help`.
enum TicketingCLI {
    struct Subcommand {
        /// Every flag takes a value.
        var options: Set<String>
        var required: Set<String>
        var ports: Set<String>
        var integers: Set<String>
    }

    static let subcommands: [String: Subcommand] = [
        "unit": Subcommand(
            options: ["--config", "--id", "--address", "--http-port", "--http-host", "--spool-directory", "--load-timeout-s", "--admin-token-file"],
            required: ["--config", "--id", "--http-port"],
            ports: ["--http-port"],
            integers: ["--load-timeout-s"]
        ),
    ]

    /// The flag values of a valid command line, or the problems with it.
    static func parse(_ arguments: [String]) -> (subcommand: String, values: [String: String], problems: [String]) {
        guard let name = arguments.first else { return ("", [:], ["names no subcommand; ticketing has \(subcommands.keys.sorted())"]) }
        guard let subcommand = subcommands[name] else { return (name, [:], ["ticketing has no subcommand \"\(name)\" (it has \(subcommands.keys.sorted().joined(separator: ", ")))"]) }
        var values: [String: String] = [:]
        var problems: [String] = []
        var index = 1
        while index < arguments.count {
            var flag = arguments[index]
            var value: String?
            if let equals = flag.firstIndex(of: "="), flag.hasPrefix("--") {
                value = String(flag[flag.index(after: equals)...])
                flag = String(flag[..<equals])
            }
            guard subcommand.options.contains(flag) else {
                problems.append("ticketing \(name) has no flag \(flag) (it has \(subcommand.options.sorted().joined(separator: ", ")))")
                // Skip its value too, so one typo is one problem.
                index += value == nil && index + 1 < arguments.count && !arguments[index + 1].hasPrefix("--") ? 2 : 1
                continue
            }
            if value == nil {
                index += 1
                value = index < arguments.count ? arguments[index] : nil
            }
            guard let value, !value.hasPrefix("--") else {
                problems.append("ticketing \(name) \(flag) needs a value")
                continue
            }
            if values[flag] != nil { problems.append("ticketing \(name) \(flag) given twice") }
            if subcommand.ports.contains(flag), !(Int(value).map { (1...65_535).contains($0) } ?? false) {
                problems.append("ticketing \(name) \(flag) \(value) is not a port")
            }
            if subcommand.integers.contains(flag), Int(value) == nil {
                problems.append("ticketing \(name) \(flag) \(value) is not a whole number")
            }
            values[flag] = value
            index += 1
        }
        for flag in subcommand.required.sorted() where values[flag] == nil {
            problems.append("ticketing \(name) needs \(flag)")
        }
        return (name, values, problems)
    }
}

// MARK: - Command lines

/// What a command line found in a manifest turned out to run.
struct CheckedCommand {
    enum Role: Equatable { case writer(String), reader, unit, oneShot }
    var role: Role
    /// The port /healthz and /readyz are served on; nil when none.
    var httpPort: Int?
}

enum CommandCheck {
    static let binaries = ["pumphouse", "ticketing"]

    /// Checks one command line (placeholders already substituted) against the real
    /// `pumphouse` parser or the `ticketing` flag list, and against the pipeline it runs
    /// with (writer names, ports).
    static func check(_ words: [String], where origin: String, pipeline: PipelineConfiguration) -> (CheckedCommand?, [String]) {
        func problem(_ text: String) -> String { "\(origin): \(text) in `\(words.joined(separator: " "))`" }
        guard let first = words.first else { return (nil, ["\(origin): an empty command"]) }
        let binary = (first as NSString).lastPathComponent
        let arguments = Array(words.dropFirst())
        switch binary {
        case "pumphouse":
            // Name the misspelt subcommand or flag first: the parser would report the
            // required flag it then misses, or take a subcommand for an argument.
            let spelling = PumphouseFlags.spellingProblems(arguments)
            if !spelling.isEmpty { return (nil, spelling.map(problem)) }
            let command: any ParsableCommandLike
            do {
                guard let parsed = try Pumphouse.parseAsRoot(arguments) as? any ParsableCommandLike else {
                    return (nil, [problem("runs a pumphouse command this check does not know")])
                }
                command = parsed
            } catch {
                return (nil, [problem(Pumphouse.fullMessage(for: error).replacingOccurrences(of: "\n", with: " "))])
            }
            let config = command.pipelineConfig
            var problems: [String] = []
            if let config, config != Deploy.configPath {
                problems.append(problem("--config \(config) is not \(Deploy.configPath), where the pipeline file is installed"))
            }
            switch command {
            case let writer as WriterCommand:
                guard let declared = pipeline.writer(named: writer.writer) else {
                    return (nil, problems + [problem("--writer \(writer.writer) is not a writer of the pipeline file (it has \(pipeline.writers.map(\.name)))")])
                }
                return (CheckedCommand(role: .writer(writer.writer), httpPort: declared.httpPort), problems)
            case let reader as ReaderCommand:
                return (CheckedCommand(role: .reader, httpPort: reader.httpPort ?? pipeline.reader.httpPort), problems)
            case let unit as UnitCommand:
                return (CheckedCommand(role: .unit, httpPort: unit.httpPort), problems)
            default:
                return (CheckedCommand(role: .oneShot, httpPort: nil), problems)
            }
        case "ticketing":
            let parsed = TicketingCLI.parse(arguments)
            var problems = parsed.problems.map(problem)
            if let config = parsed.values["--config"], config != Deploy.configPath {
                problems.append(problem("--config \(config) is not \(Deploy.configPath), where the pipeline file is installed"))
            }
            guard problems.isEmpty else { return (nil, problems) }
            return (CheckedCommand(role: .unit, httpPort: parsed.values["--http-port"].flatMap { Int($0) }), [])
        default:
            return (nil, [problem("runs \(first); the binaries that exist are \(binaries.joined(separator: " and "))")])
        }
    }

    /// Replaces `$(NAME)` (Kubernetes), `${NAME}` (systemd, compose) and `%i` (systemd)
    /// with sample values; an unknown name is a problem.
    static func substitute(_ words: [String], values: [String: String], origin: String) -> ([String], [String]) {
        var problems: [String] = []
        let result = words.map { word -> String in
            var text = word
            for (open, close) in [("$(", ")"), ("${", "}")] {
                while let start = text.range(of: open), let end = text.range(of: close, range: start.upperBound..<text.endIndex) {
                    let name = String(text[start.upperBound..<end.lowerBound])
                    guard let value = values[name] else {
                        problems.append("\(origin): \(open)\(name)\(close) is not defined")
                        text.replaceSubrange(start.lowerBound..<end.upperBound, with: "UNDEFINED")
                        continue
                    }
                    text.replaceSubrange(start.lowerBound..<end.upperBound, with: value)
                }
            }
            if let instance = values["%i"] { text = text.replacingOccurrences(of: "%i", with: instance) }
            return text
        }
        return (result, problems)
    }

    /// `a b && c d; e` → [[a, b], [c, d], [e]]: enough shell for one-line setup scripts.
    static func shellCommands(_ script: String) -> [[String]] {
        script.replacingOccurrences(of: "&&", with: ";").split(separator: ";").map { part in
            part.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).map(String.init)
        }.filter { !$0.isEmpty }
    }
}

/// `pumphouse`'s subcommands and flags, from its own command tree and help.
enum PumphouseFlags {
    /// An unknown subcommand, or a flag the (sub)command's help does not list.
    static func spellingProblems(_ arguments: [String]) -> [String] {
        var command: any ParsableCommand.Type = Pumphouse.self
        var path = ["pumphouse"]
        var rest = arguments[...]
        while true {
            let subcommands: [any ParsableCommand.Type] = command.configuration.subcommands
            if subcommands.isEmpty { break }
            var names: [String] = []
            for subcommand in subcommands { names.append(subcommand._commandName) }
            guard let next = rest.first, let index = names.firstIndex(of: next) else {
                return ["\(path.joined(separator: " ")) has no subcommand \(rest.first ?? "(none given)") (it has \(names.joined(separator: ", ")))"]
            }
            command = subcommands[index]
            path.append(next)
            rest = rest.dropFirst()
        }
        let help = Pumphouse.helpMessage(for: command)
        let known = Set(help.split(whereSeparator: { $0.isWhitespace || "[],|".contains($0) }).map(String.init).filter { $0.hasPrefix("--") })
        return rest.filter { $0.hasPrefix("--") }.map { String($0.split(separator: "=", maxSplits: 1)[0]) }.filter { !known.contains($0) }.map {
            "\(path.joined(separator: " ")) has no flag \($0) (it has \(known.subtracting(["--help", "--version"]).sorted().joined(separator: ", ")))"
        }
    }
}

/// The pumphouse commands whose settings the checks read.
protocol ParsableCommandLike { var pipelineConfig: String? { get } }
extension WriterCommand: ParsableCommandLike { var pipelineConfig: String? { pipeline.config } }
extension ReaderCommand: ParsableCommandLike { var pipelineConfig: String? { pipeline.config } }
extension UnitCommand: ParsableCommandLike { var pipelineConfig: String? { pipeline.config } }
extension MigrateCommand: ParsableCommandLike { var pipelineConfig: String? { pipeline.config } }
extension TopicsCommand.Create: ParsableCommandLike { var pipelineConfig: String? { pipeline.config } }
extension ReplayCommand: ParsableCommandLike { var pipelineConfig: String? { pipeline.config } }
extension LoadgenCommand: ParsableCommandLike { var pipelineConfig: String? { pipeline.config } }
extension Check: ParsableCommandLike { var pipelineConfig: String? { nil } }
extension SchemaCommand.Check: ParsableCommandLike { var pipelineConfig: String? { nil } }

// MARK: - Files

/// A parsed YAML value, with scalars as their text.
indirect enum YAML: Equatable, CustomStringConvertible {
    case map([String: YAML])
    case list([YAML])
    case scalar(String)
    case null

    init(_ any: Any?) {
        switch any {
        case nil, is NSNull: self = .null
        case let map as [AnyHashable: Any]: self = .map(Dictionary(uniqueKeysWithValues: map.map { ("\($0.key)", YAML($0.value)) }))
        case let list as [Any]: self = .list(list.map { YAML($0) })
        case let value?: self = .scalar("\(value)")
        }
    }

    subscript(key: String) -> YAML? { if case .map(let map) = self { map[key] } else { nil } }
    subscript(path: [String]) -> YAML? { path.reduce(Optional(self)) { $0?[$1] } }
    var string: String? { if case .scalar(let text) = self { text } else { nil } }
    var list: [YAML] { if case .list(let items) = self { items } else { [] } }
    var keys: [String] { entries.keys.sorted() }
    var entries: [String: YAML] { if case .map(let map) = self { map } else { [:] } }

    var description: String {
        switch self {
        case .map(let map): "{" + map.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "}"
        case .list(let items): "[" + items.map(\.description).joined(separator: ", ") + "]"
        case .scalar(let text): text
        case .null: "null"
        }
    }
}

enum Deploy {
    static let root = "\(PumphouseProcess.repository)/deploy"
    /// Where every manifest installs the pipeline file.
    static let configPath = "/etc/pumphouse/pipeline.yaml"

    static func read(_ file: String) throws -> String {
        try String(contentsOfFile: "\(root)/\(file)", encoding: .utf8)
    }

    /// Paths relative to deploy/.
    static func files(under folder: String? = nil, _ include: (String) -> Bool) -> [String] {
        let base = folder.map { "\(root)/\($0)" } ?? root
        let found = (FileManager.default.enumerator(atPath: base)?.allObjects as? [String]) ?? []
        return found.filter(include).map { relative in folder.map { "\($0)/\(relative)" } ?? relative }.sorted()
    }

    static func files(_ include: (String) -> Bool) -> [String] { files(under: nil, include) }

    static func documents(_ text: String, file: String) throws -> [YAML] {
        var sequence = try Yams.load_all(yaml: text)
        var documents: [YAML] = []
        while let document = sequence.next() { documents.append(YAML(document)) }
        if let error = sequence.error { throw ManifestError("\(file): \(error)") }
        return documents
    }

    static func map(_ value: YAML?) -> YAML { value ?? .null }

    /// KEY=VALUE lines of an environment file.
    static func environment(_ text: String) -> [String: String] {
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.hasPrefix("#"), let equals = trimmed.firstIndex(of: "=") else { continue }
            values[String(trimmed[..<equals])] = String(trimmed[trimmed.index(after: equals)...])
        }
        return values
    }
}

struct ManifestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// MARK: - Pipelines

enum Pipelines {
    static func configMapText() throws -> String {
        let documents = try Deploy.documents(Deploy.read("kubernetes/pipeline-configmap.yaml"), file: "kubernetes/pipeline-configmap.yaml")
        return try text(ofConfigMap: documents, file: "kubernetes/pipeline-configmap.yaml")
    }

    static func text(ofConfigMap documents: [YAML], file: String) throws -> String {
        guard let text = documents.lazy.filter({ $0["kind"]?.string == "ConfigMap" }).compactMap({ $0[["data", "pipeline.yaml"]]?.string }).first else {
            throw ManifestError("\(file): no ConfigMap with data.pipeline.yaml")
        }
        return text
    }

    /// The contracts the file's caches name that Schemas/ does not have.
    static func missingContracts(_ text: String) throws -> [String] {
        let root = try Deploy.documents(text, file: "pipeline").first ?? .null
        let schemas = "\(PumphouseProcess.repository)/Schemas"
        return (root["caches"]?.keys ?? []).filter { !FileManager.default.fileExists(atPath: "\(schemas)/\($0)/contract.yaml") }
    }

    /// Loads a pipeline file as the services do (`PipelineConfiguration.load`), with its
    /// image paths (/opt/pumphouse/Schemas, .../Migrations) pointed at the repository's,
    /// the PostgreSQL URL's variable set, and the file's own broker list.
    static func load(_ text: String, name: String) throws -> PipelineConfiguration {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("deploy-manifests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var lines: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("schemas: /opt/pumphouse/") {
                lines.append("schemas: \(PumphouseProcess.repository)/Schemas")
            } else if line.hasPrefix("migrations: /opt/pumphouse/") {
                lines.append("migrations: \(PumphouseProcess.repository)/Migrations")
            } else {
                lines.append(String(line))
            }
        }
        let path = "\(directory)/\((name as NSString).lastPathComponent)"
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        do {
            return try PipelineConfiguration.load(path: path, environment: ["PUMPHOUSE_POSTGRES_URL": "postgresql://pumphouse@db.invalid/pumphouse"])
        } catch {
            throw ManifestError("\(name): \(error.setting.isEmpty ? "" : error.setting + ": ")\(error.message)")
        }
    }

    /// Where two pipeline files disagree: for every cache both declare, the given cache
    /// keys; and the given top-level sections.
    static func disagreements(_ a: YAML, _ aName: String, with b: YAML, _ bName: String, keys: [String], sections: [String]) -> [String] {
        var problems: [String] = []
        let shared = Set(a["caches"]?.keys ?? []).intersection(b["caches"]?.keys ?? [])
        for cache in shared.sorted() {
            for key in keys where a[["caches", cache, key]] != b[["caches", cache, key]] {
                problems.append("caches.\(cache).\(key) differs: \(aName) has \(a[["caches", cache, key]]?.description ?? "nothing"), \(bName) has \(b[["caches", cache, key]]?.description ?? "nothing")")
            }
        }
        for section in sections where a[section] != b[section] {
            problems.append("\(section) differs: \(aName) has \(a[section]?.description ?? "nothing"), \(bName) has \(b[section]?.description ?? "nothing")")
        }
        return problems
    }
}

// MARK: - Kubernetes

enum Kubernetes {
    static let workloadKinds: Set = ["Deployment", "StatefulSet", "Job", "DaemonSet"]
    /// What the kubelet puts in `$(NAME)` from the pod's fields, as sample values.
    static let fieldValues = ["metadata.name": "ticketing-unit-0", "status.podIP": "10.0.0.7", "metadata.namespace": "ticketing"]

    static func documents(_ file: String) throws -> [YAML] {
        try Deploy.documents(Deploy.read(file), file: file)
    }

    static func problems(file: String, text: String) throws -> [String] {
        let documents = try Deploy.documents(text, file: file)
        var problems: [String] = []
        // The ConfigMap this file set carries, or (for a mutated copy) this one.
        let configMapText: String
        if documents.contains(where: { $0["kind"]?.string == "ConfigMap" && $0[["data", "pipeline.yaml"]] != nil }) {
            configMapText = try Pipelines.text(ofConfigMap: documents, file: file)
        } else {
            configMapText = try Pipelines.configMapText()
        }
        let pipeline: PipelineConfiguration
        do {
            pipeline = try Pipelines.load(configMapText, name: "kubernetes/pipeline-configmap.yaml")
        } catch {
            return ["\(file): the ConfigMap's pipeline file does not load: \(error)"]
        }
        let configMapName = "pumphouse-pipeline"
        let secret = try Deploy.documents(Deploy.read("kubernetes/postgres-secret.example.yaml"), file: "postgres-secret.example.yaml").first ?? .null
        let secretName = secret[["metadata", "name"]]?.string ?? "?"
        let secretKeys = secret["stringData"]?.keys ?? []

        for document in documents {
            guard let kind = document["kind"]?.string else { problems.append("\(file): a document without kind"); continue }
            let name = document[["metadata", "name"]]?.string ?? "?"
            guard workloadKinds.contains(kind) else { continue }
            guard let pod = document[["spec", "template", "spec"]] else {
                problems.append("\(file): \(kind) \(name) has no spec.template.spec")
                continue
            }
            let longRunning = kind != "Job"
            for volume in pod["volumes"]?.list ?? [] {
                if let referenced = volume[["configMap", "name"]]?.string, referenced != configMapName {
                    problems.append("\(file): \(kind) \(name) mounts ConfigMap \(referenced), not \(configMapName)")
                }
            }
            for container in (pod["initContainers"]?.list ?? []) + (pod["containers"]?.list ?? []) {
                let origin = "\(file): \(kind) \(name), container \(container["name"]?.string ?? "?")"
                var values: [String: String] = [:]
                for variable in container["env"]?.list ?? [] {
                    guard let variableName = variable["name"]?.string else { continue }
                    if let value = variable["value"]?.string {
                        values[variableName] = value
                        if variableName == "PUMPHOUSE_POSTGRES_URL" {
                            problems.append("\(origin): PUMPHOUSE_POSTGRES_URL is inline; take it from the Secret with secretKeyRef")
                        }
                    } else if let field = variable[["valueFrom", "fieldRef", "fieldPath"]]?.string {
                        values[variableName] = fieldValues[field] ?? "FIELD"
                    } else if let reference = variable[["valueFrom", "secretKeyRef"]] {
                        values[variableName] = "SECRET"
                        if reference["name"]?.string != secretName || !secretKeys.contains(reference["key"]?.string ?? "") {
                            problems.append("\(origin): \(variableName) refers to secret \(reference), but the example Secret is \(secretName) with keys \(secretKeys)")
                        }
                    }
                }
                guard let command = container["command"]?.list.compactMap(\.string), !command.isEmpty else {
                    problems.append("\(origin): no command; name the binary explicitly")
                    continue
                }
                let (words, substitutionProblems) = CommandCheck.substitute(command + (container["args"]?.list.compactMap(\.string) ?? []), values: values, origin: origin)
                problems += substitutionProblems
                // Units never connect to PostgreSQL and get no database secret; everything
                // else loads postgres.url from it.
                let runsUnit = words.dropFirst().first == "unit"
                if runsUnit && values["PUMPHOUSE_POSTGRES_URL"] != nil {
                    problems.append("\(origin): a unit is given PUMPHOUSE_POSTGRES_URL; units never use the database, so keep the secret away from them")
                } else if !runsUnit && values["PUMPHOUSE_POSTGRES_URL"] == nil {
                    problems.append("\(origin): no PUMPHOUSE_POSTGRES_URL (the command loads postgres.url from it)")
                }
                let (checked, commandProblems) = CommandCheck.check(words, where: origin, pipeline: pipeline)
                problems += commandProblems
                guard let checked else { continue }
                problems += probeProblems(container, origin: origin, expected: checked, longRunning: longRunning)
            }
        }
        return problems
    }

    /// Liveness and startup ask /healthz, readiness /readyz, on the port the command serves.
    static func probeProblems(_ container: YAML, origin: String, expected: CheckedCommand, longRunning: Bool) -> [String] {
        var problems: [String] = []
        var ports: [String: Int] = [:]
        for port in container["ports"]?.list ?? [] {
            if let number = port["containerPort"]?.string.flatMap({ Int($0) }) { ports[port["name"]?.string ?? "\(number)"] = number }
        }
        if longRunning && expected.role != .oneShot {
            guard let httpPort = expected.httpPort else {
                return ["\(origin): the command serves no /healthz or /readyz (no HTTP port), so it cannot be probed"]
            }
            if !ports.values.contains(httpPort) {
                problems.append("\(origin): the command serves HTTP on \(httpPort), but the container declares ports \(ports.values.sorted())")
            }
            for required in ["livenessProbe", "readinessProbe"] where container[required] == nil {
                problems.append("\(origin): no \(required)")
            }
            for (probe, path) in [("livenessProbe", "/healthz"), ("startupProbe", "/healthz"), ("readinessProbe", "/readyz")] {
                guard let get = container[[probe, "httpGet"]] else {
                    if container[probe] != nil { problems.append("\(origin): \(probe) is not an httpGet") }
                    continue
                }
                if get["path"]?.string != path {
                    problems.append("\(origin): \(probe) asks \(get["path"]?.string ?? "no path"), not \(path)")
                }
                let portText = get["port"]?.string ?? "?"
                let port = Int(portText) ?? ports[portText]
                if port != httpPort {
                    problems.append("\(origin): \(probe) asks port \(portText) (\(port.map(String.init) ?? "unknown")), but the command serves HTTP on \(httpPort)")
                }
            }
        }
        return problems
    }
}

// MARK: - compose

enum Compose {
    static func problems(file: String, text: String) throws -> [String] {
        guard let root = try Deploy.documents(text, file: file).first, let services = root["services"], case .map(let byName) = services else {
            return ["\(file): no services"]
        }
        let pipeline = try Pipelines.load(Deploy.read("compose/pipeline.yaml"), name: "compose/pipeline.yaml")
        var problems: [String] = []
        for required in ["kafka", "postgres", "setup", "writer", "reader"] where byName[required] == nil {
            problems.append("\(file): no service \(required)")
        }
        if byName["kafka"]?["image"]?.string?.hasPrefix("apache/kafka:") != true {
            problems.append("\(file): kafka does not run the apache/kafka image")
        }
        for (name, service) in byName.sorted(by: { $0.key < $1.key }) {
            let origin = "\(file): service \(name)"
            for (dependency, condition) in (service["depends_on"]?.entries ?? [:]).sorted(by: { $0.key < $1.key }) {
                guard let other = byName[dependency] else { problems.append("\(origin) depends on \(dependency), which does not exist"); continue }
                switch condition["condition"]?.string {
                case "service_healthy":
                    if other["healthcheck"] == nil { problems.append("\(origin) waits for \(dependency) to be healthy, which has no healthcheck") }
                case "service_completed_successfully":
                    if other["restart"]?.string != "no" { problems.append("\(origin) waits for \(dependency) to complete, which restarts") }
                case "service_started": break
                default: problems.append("\(origin): depends_on \(dependency) has no condition")
                }
            }
            guard service["image"]?.string?.hasPrefix("pumphouse:") == true else { continue }
            var commands: [[String]]
            let command = service["command"]?.list.compactMap(\.string) ?? []
            if service["entrypoint"]?.list.compactMap(\.string) == ["/bin/sh", "-c"], command.count == 1 {
                commands = CommandCheck.shellCommands(command[0])
            } else {
                commands = [command]
            }
            let environment = (service["environment"]?.entries ?? [:]).compactMapValues(\.string)
            if environment["PUMPHOUSE_POSTGRES_URL"] == nil || environment["PUMPHOUSE_KAFKA_BROKERS"] == nil {
                problems.append("\(origin): PUMPHOUSE_POSTGRES_URL and PUMPHOUSE_KAFKA_BROKERS must both be set")
            }
            if !(service["volumes"]?.list.compactMap(\.string) ?? []).contains("./pipeline.yaml:\(Deploy.configPath):ro") {
                problems.append("\(origin): does not mount ./pipeline.yaml at \(Deploy.configPath)")
            }
            for words in commands {
                let (substituted, substitutionProblems) = CommandCheck.substitute(words, values: [:], origin: origin)
                problems += substitutionProblems
                let (checked, commandProblems) = CommandCheck.check(substituted, where: origin, pipeline: pipeline)
                problems += commandProblems
                guard let checked, checked.role != .oneShot else { continue }
                guard let port = checked.httpPort else { problems.append("\(origin): serves no HTTP port, so it has no health"); continue }
                let test = service[["healthcheck", "test"]]?.list.compactMap(\.string) ?? []
                let url = test.first { $0.hasPrefix("http://") } ?? ""
                if url != "http://127.0.0.1:\(port)/readyz" && url != "http://127.0.0.1:\(port)/healthz" {
                    problems.append("\(origin): the healthcheck asks \(url.isEmpty ? "no URL" : url), not /readyz or /healthz on port \(port)")
                }
                if checked.role == .unit, !(service["ports"]?.list.compactMap(\.string) ?? []).contains(where: { $0.hasSuffix(":\(port)") }) {
                    problems.append("\(origin): publishes none of its ports to the unit's HTTP port \(port)")
                }
            }
        }
        return problems
    }

    /// The host ports the units' HTTP ports are published on, by service name.
    static func publishedUnitPorts(_ text: String) throws -> [Int] {
        guard let services = try Deploy.documents(text, file: "compose.yaml").first?["services"], case .map(let byName) = services else { return [] }
        return byName.filter { $0.value["command"]?.list.first?.string == "ticketing" }.sorted { $0.key < $1.key }.flatMap { service in
            (service.value["ports"]?.list.compactMap(\.string) ?? []).compactMap { mapping in
                let parts = mapping.split(separator: ":")
                return parts.count >= 2 ? Int(parts[parts.count - 2]) : nil
            }
        }
    }
}

// MARK: - systemd

enum Systemd {
    /// `[Section]` and `Key=Value` lines; a key may repeat.
    static func parse(_ text: String, file: String) throws -> [String: [(key: String, value: String)]] {
        var sections: [String: [(key: String, value: String)]] = [:]
        var current: String?
        var pending = ""
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = pending + raw.trimmingCharacters(in: .whitespaces)
            pending = ""
            if line.hasSuffix("\\") { pending = String(line.dropLast()) + " "; continue }
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]") else { throw ManifestError("\(file): bad section line \(line)") }
                current = String(line.dropFirst().dropLast())
                sections[current!, default: []] = sections[current!] ?? []
                continue
            }
            guard let section = current else { throw ManifestError("\(file): \(line) before any section") }
            guard let equals = line.firstIndex(of: "=") else { throw ManifestError("\(file): [\(section)] \(line) is not Key=Value") }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            line = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            sections[section, default: []].append((key, line))
        }
        return sections
    }

    /// Hardening every unit carries, with the value it must have ("" = any value).
    static let required: [(String, String)] = [
        ("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("ProtectHome", "yes"), ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"), ("ProtectKernelTunables", "yes"), ("ProtectKernelModules", "yes"), ("ProtectKernelLogs", "yes"),
        ("RestrictAddressFamilies", ""), ("SystemCallFilter", "@system-service"), ("Restart", "on-failure"),
        ("KillSignal", "SIGTERM"), ("TimeoutStopSec", ""), ("EnvironmentFile", ""),
    ]

    static func problems(file: String, text: String) throws -> [String] {
        let sections = try parse(text, file: file)
        let name = (file as NSString).lastPathComponent
        guard let service = sections["Service"] else { return ["\(file): no [Service] section"] }
        func values(_ key: String) -> [String] { service.filter { $0.key == key }.map(\.value) }
        var problems: [String] = []
        for section in ["Unit", "Install"] where sections[section] == nil { problems.append("\(file): no [\(section)] section") }
        for (key, value) in required {
            let given = values(key)
            if given.isEmpty { problems.append("\(file): [Service] has no \(key)") }
            else if !value.isEmpty, !given.contains(value) { problems.append("\(file): \(key)=\(given.joined(separator: ",")), not \(value)") }
        }
        if values("DynamicUser") != ["yes"] && values("User").isEmpty { problems.append("\(file): neither DynamicUser=yes nor a dedicated User=") }
        for environment in values("Environment") where environment.hasPrefix("PUMPHOUSE_POSTGRES_URL=") {
            problems.append("\(file): PUMPHOUSE_POSTGRES_URL is inline; keep it in the EnvironmentFile or a credential")
        }
        // Sample values: the env examples for ${NAME}; for %i a writer of the pipeline or a unit id.
        var sample = Deploy.environment(try Deploy.read("systemd/pumphouse.env.example"))
        if name.hasPrefix("ticketing-unit@") {
            sample.merge(Deploy.environment(try Deploy.read("systemd/ticketing-unit.env.example"))) { $1 }
            sample["%i"] = "unit-1"
        } else if name.contains("@") {
            sample["%i"] = "ticketing"
        }
        let execStarts = values("ExecStart")
        guard execStarts.count == 1, let execStart = execStarts.first else { return problems + ["\(file): needs exactly one ExecStart"] }
        let words = execStart.drop { "-@+!:".contains($0) }.split(separator: " ").map(String.init)
        let (substituted, substitutionProblems) = CommandCheck.substitute(words, values: sample, origin: "\(file) ExecStart")
        problems += substitutionProblems
        let pipeline = try Pipelines.load(Pipelines.configMapText(), name: "kubernetes/pipeline-configmap.yaml")
        let (checked, commandProblems) = CommandCheck.check(substituted, where: "\(file) ExecStart", pipeline: pipeline)
        problems += commandProblems
        if checked?.role == .unit {
            // The spool must be in the unit's StateDirectory, the one place it may write.
            let stateDirectories = values("StateDirectory").flatMap { $0.split(separator: " ").map { "/var/lib/\($0)" } }
            let spool = substituted.firstIndex(of: "--spool-directory").flatMap { $0 + 1 < substituted.count ? substituted[$0 + 1] : nil }
            if spool.map({ stateDirectories.contains($0) }) != true {
                problems.append("\(file): --spool-directory \(spool ?? "(default, relative)") is not one of its StateDirectory= paths \(stateDirectories)")
            }
        }
        return problems
    }
}

// MARK: - nginx

enum Nginx {
    /// `upstream NAME { server ADDRESS ...; }` blocks: the servers of each, in order.
    static func upstreamServers(_ text: String) throws -> [String: [String]] {
        let withoutComments = text.split(separator: "\n").map { $0.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? "" }.joined(separator: "\n")
        var tokens: [String] = []
        var current = ""
        for character in withoutComments {
            if character == "{" || character == "}" || character == ";" {
                if !current.isEmpty { tokens.append(current); current = "" }
                tokens.append(String(character))
            } else if character.isWhitespace {
                if !current.isEmpty { tokens.append(current); current = "" }
            } else {
                current.append(character)
            }
        }
        var result: [String: [String]] = [:]
        var index = 0
        while index < tokens.count {
            if tokens[index] == "upstream", index + 2 < tokens.count, tokens[index + 2] == "{" {
                let name = tokens[index + 1]
                var servers: [String] = []
                var position = index + 3
                var statementStart = true
                while position < tokens.count, tokens[position] != "}" {
                    if statementStart, tokens[position] == "server", position + 1 < tokens.count { servers.append(tokens[position + 1]) }
                    statementStart = tokens[position] == ";"
                    position += 1
                }
                guard position < tokens.count else { throw ManifestError("nginx: upstream \(name) is not closed") }
                result[name] = servers
                index = position
            }
            index += 1
        }
        return result
    }
}

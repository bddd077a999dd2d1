import Foundation
import PumphouseContracts
import PumphouseKafka
import PumphousePostgres

/// The pipeline file (e.g. `deploy/local/pipeline.yaml`): where Kafka and PostgreSQL
/// are, which named caches exist with their topics and table mappings, and which writers
/// consume them. docs/configuration.md documents every key.
public struct PipelineConfiguration: Sendable {
    public var kafka: KafkaConnectionConfiguration
    /// Where PostgreSQL is; nil in a file for processing units alone, which never touch
    /// the database (their cold start is decided on the log).
    public var database: PostgresConfiguration?
    /// Why `postgres.url` could not be resolved (its environment variable unset, its
    /// file unreadable), told to whoever asks for `postgres`.
    var unresolvedDatabase: ConfigurationError?
    /// Absolute path of the contract schemas (Schemas/).
    public var schemasDirectory: String
    /// Absolute path of the SQL migrations (Migrations/).
    public var migrationsDirectory: String
    /// Where `migrate` records the directory's applied files: its own per project when
    /// several share a database, as each keeps its own numbering.
    public var migrationsTable = "pumphouse_migrations"
    public var caches: [CacheConfiguration]
    public var writers: [WriterConfiguration]
    public var reader = ReaderConfiguration()
    /// Where processing units announce join, heartbeat and leave, for every named cache
    /// (the message key is the cache). One per pipeline, so separate pipelines sharing a
    /// cluster do not see each other's units.
    public var memberTopic = "pumphouse.members"

    public func cache(_ name: ContractName) -> CacheConfiguration? {
        caches.first { $0.contract == name }
    }

    public func writer(named name: String) -> WriterConfiguration? {
        writers.first { $0.name.isSameBytes(as: name) }
    }

    /// The contract schemas of `schemas`, loaded; the error names the setting.
    public func loadRegistry() throws(ConfigurationError) -> ContractRegistry {
        do {
            return try SchemaRepository(directory: schemasDirectory).load()
        } catch {
            throw ConfigurationError(file: "pipeline", setting: "schemas", message: "\(error)")
        }
    }

    /// The writer of a cache: at most one, so its stored offsets say how far the table is.
    public func writer(of cache: ContractName) -> WriterConfiguration? {
        writers.first { $0.caches.contains(cache) }
    }

    /// PostgreSQL, for the parts that use it (writers, data readers, migrations,
    /// `status`); the error says to set `postgres.url` where the file has none.
    public var postgres: PostgresConfiguration {
        get throws(ConfigurationError) {
            guard let database else {
                if let unresolvedDatabase { throw unresolvedDatabase }
                throw ConfigurationError(
                    file: "pipeline", setting: "postgres.url",
                    message: "is required here (or set \(Override.postgresURL)): writers, data readers, `migrate` and `status` use PostgreSQL; only processing units run without it"
                )
            }
            return database
        }
    }

    /// Environment variables that override the file, so one file serves every
    /// environment and credentials need not be in it.
    public enum Override {
        public static let kafkaBrokers = "PUMPHOUSE_KAFKA_BROKERS"
        public static let postgresURL = "PUMPHOUSE_POSTGRES_URL"
    }

    /// `host:port`, optionally with a `scheme://` prefix and an IPv6 host in brackets:
    /// librdkafka takes anything and retries it forever, so a typo is caught here.
    static func isBrokerAddress(_ entry: String) -> Bool {
        let address = entry.firstRange(of: "://").map { entry[$0.upperBound...] } ?? entry[...]
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]), (1...65_535).contains(port) else {
            return false
        }
        let host = address[..<colon]
        if host.hasPrefix("[") && host.hasSuffix("]") {
            return host.dropFirst().dropLast().allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." }
        }
        return !host.isEmpty && host.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_") }
    }

    /// Reads and checks a pipeline file: every key known, every value of the right
    /// kind, every cache backed by a contract in the schema directory, every mapping
    /// naming fields its contract has.
    public static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigurationError) -> PipelineConfiguration {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigurationError(file: path, setting: "", message: "cannot read the pipeline file; pass --config with the path of a pipeline YAML file")
        }
        let root: JSONValue
        do {
            root = try YAMLDocument.parse(text, file: path)
        } catch {
            throw ConfigurationError(file: path, setting: error.pointer.split(separator: "/").joined(separator: "."), message: error.message)
        }
        let baseDirectory = URL(fileURLWithPath: path).deletingLastPathComponent().standardizedFileURL.path
        return try parse(root, file: path, baseDirectory: baseDirectory, environment: environment)
    }

    static func parse(_ root: JSONValue, file: String, baseDirectory: String, environment: [String: String]) throws(ConfigurationError) -> PipelineConfiguration {
        var reader = try ConfigurationReader(file: file, path: "", value: root, keys: ["kafka", "postgres", "schemas", "migrations", "migrations_table", "member_topic", "caches", "writers", "reader"])
        func directory(_ key: String, default name: String) throws(ConfigurationError) -> String {
            let given = try reader.string(key) ?? name
            return given.hasPrefix("/") ? given : URL(fileURLWithPath: "\(baseDirectory)/\(given)").standardizedFileURL.path
        }

        // kafka
        var kafkaReader = try reader.mapping("kafka", keys: ["brokers", "client_id", "properties", "producer_properties", "consumer_properties", "offset_gap_recheck_ms"]) ?? ConfigurationReader.empty(file: file, path: "kafka")
        // The file's value is read (and checked) even when the environment overrides it.
        let fileBrokers = try kafkaReader.string("brokers")
        let brokers = environment[Override.kafkaBrokers].flatMap { $0.isEmpty ? nil : $0 } ?? fileBrokers
        guard let brokers else {
            throw kafkaReader.fail("brokers", "is required (or set \(Override.kafkaBrokers)): a comma-separated host:port list")
        }
        let clientID = try kafkaReader.string("client_id") ?? "pumphouse"
        func properties(_ key: String) throws(ConfigurationError) -> [String: String] {
            var properties: [String: String] = [:]
            guard let propertyReader = try kafkaReader.mapping(key) else { return properties }
            for member in propertyReader.object {
                // The broker list has one home, where it is checked and overridden.
                if member.name.isSameBytes(as: "bootstrap.servers") || member.name.isSameBytes(as: "metadata.broker.list") {
                    throw propertyReader.fail(member.name, "names the brokers, which kafka.brokers (or \(Override.kafkaBrokers)) sets; move the list there")
                }
                // Set here, it would quietly override every writer's and reader's group.
                if member.name.isSameBytes(as: "group.id") {
                    throw propertyReader.fail(member.name, "names a consumer group, which writers.<name>.group and reader.group set per consumer; set them there")
                }
                if member.name.isSameBytes(as: "client.id") {
                    throw propertyReader.fail(member.name, "names the client, which kafka.client_id sets; move it there")
                }
                properties[member.name] = try ConfigurationReader.resolveSecret(
                    member.value, setting: propertyReader.setting(member.name), file: file, environment: environment, baseDirectory: baseDirectory
                )
            }
            return properties
        }
        var kafka = KafkaConnectionConfiguration(brokers: brokers, clientID: clientID, properties: try properties("properties"))
        kafka.producerProperties = try properties("producer_properties")
        kafka.consumerProperties = try properties("consumer_properties")
        let gapRecheck = try kafkaReader.integer("offset_gap_recheck_ms", in: 0...60_000)
        try kafkaReader.finish()
        if let gapRecheck { kafka.offsetGapRecheck = .milliseconds(gapRecheck) }
        let brokersSource = environment[Override.kafkaBrokers].flatMap { $0.isEmpty ? nil : $0 } != nil ? " (set by \(Override.kafkaBrokers))" : ""
        if kafka.bootstrapServers.isEmpty {
            throw kafkaReader.fail("brokers", "lists no broker\(brokersSource); give host:port pairs separated by commas")
        }
        if let bad = kafka.bootstrapServers.first(where: { !Self.isBrokerAddress($0) }) {
            throw kafkaReader.fail("brokers", "\"\(bad)\"\(brokersSource) is not host:port with a port from 1 to 65535; give host:port pairs separated by commas")
        }

        // postgres
        var postgresReader = try reader.mapping("postgres", keys: ["url", "connect_timeout_seconds"]) ?? ConfigurationReader.empty(file: file, path: "postgres")
        let overrideURL = environment[Override.postgresURL].flatMap { $0.isEmpty ? nil : $0 }
        let declaredURL = postgresReader.value("url")
        // A secret source that cannot be resolved only matters when nothing overrides it,
        // and only to a process that uses the database: one file serves the units too,
        // which run without it (deployed with no database secret at all).
        var url = overrideURL
        var unresolvedDatabase: ConfigurationError?
        if url == nil, let declaredURL {
            do {
                url = try ConfigurationReader.resolveSecret(declaredURL, setting: "postgres.url", file: file, environment: environment, baseDirectory: baseDirectory)
            } catch {
                unresolvedDatabase = error
            }
        }
        var postgres = url.map(PostgresConfiguration.init(url:))
        if let problem = postgres?.urlProblem, let redacted = postgres?.redactedURL {
            let source = overrideURL != nil ? " (set by \(Override.postgresURL))" : ""
            throw postgresReader.fail("url", "\(redacted)\(source) is not a connection URL libpq accepts: \(problem); give postgresql://user@host:port/database")
        }
        if let seconds = try postgresReader.integer("connect_timeout_seconds", in: 2...600) {
            guard declaredURL != nil || overrideURL != nil else {
                throw postgresReader.fail("connect_timeout_seconds", "is set but postgres.url is not; give the url too, or drop the postgres section from a file for processing units alone")
            }
            postgres?.connectTimeout = .seconds(seconds)
        }
        try postgresReader.finish()

        let schemas = try directory("schemas", default: "Schemas")
        let migrations = try directory("migrations", default: "Migrations")
        let migrationsTable = try reader.string("migrations_table")
        if let migrationsTable, !PostgresMigrator.isPlainIdentifier(migrationsTable) || migrationsTable == PipelineTables.recordTable {
            throw reader.fail("migrations_table", "\"\(migrationsTable)\" is not a table name migrate can use: give a plain lowercase identifier (letters, digits, _; optionally schema.table) other than \(PipelineTables.recordTable)")
        }
        let memberTopic = try reader.topic("member_topic")

        // caches
        let registry: ContractRegistry
        do {
            registry = try SchemaRepository(directory: schemas).load()
        } catch {
            throw ConfigurationError(file: file, setting: "schemas", message: "the schemas in \(schemas) do not load: \(error)")
        }
        var caches: [CacheConfiguration] = []
        if let cachesReader = try reader.mapping("caches") {
            for member in cachesReader.object {
                caches.append(try CacheConfiguration.parse(member, parent: cachesReader, registry: registry))
            }
        }
        try CacheConfiguration.checkCoPartitioning(&caches, file: file)

        // writers
        var writers: [WriterConfiguration] = []
        if let writersReader = try reader.mapping("writers") {
            for member in writersReader.object {
                let writer = try WriterConfiguration.parse(member, parent: writersReader, caches: caches)
                for cache in writer.caches {
                    if let other = writers.first(where: { $0.caches.contains(cache) }) {
                        throw ConfigurationError(
                            file: file, setting: writersReader.setting(member.name),
                            message: "\(cache) is already written by writer \(other.name); a cache has one writer (scale it with more instances of that writer)"
                        )
                    }
                }
                writers.append(writer)
            }
        }
        let readerConfiguration = try ReaderConfiguration.parse(try reader.mapping("reader", keys: ReaderConfiguration.keys))
        try reader.finish()

        var configuration = PipelineConfiguration(
            kafka: kafka, database: postgres, schemasDirectory: schemas, migrationsDirectory: migrations,
            caches: caches, writers: writers
        )
        configuration.unresolvedDatabase = unresolvedDatabase
        if let memberTopic { configuration.memberTopic = memberTopic }
        if let migrationsTable { configuration.migrationsTable = migrationsTable }
        configuration.reader = readerConfiguration
        try configuration.checkTopicsApart(file: file)
        return configuration
    }

    /// Every topic has one use: a writer whose dead letters go to a topic it consumes
    /// would read its rejects back and reject them for ever, and two caches on one
    /// topic would each take the other's changes. Writers may share a dead-letter topic.
    private func checkTopicsApart(file: String) throws(ConfigurationError) {
        var uses: [(setting: String, topic: String)] = caches.flatMap { cache in
            [("caches.\(cache.contract).topic", cache.topic), ("caches.\(cache.contract).reverse_topic", cache.reverseTopic)]
        }
        if !caches.isEmpty { uses += [("member_topic", memberTopic), ("reader.request_topic", reader.requestTopic)] }
        for (index, use) in uses.enumerated() {
            if let earlier = uses[..<index].first(where: { $0.topic.isSameBytes(as: use.topic) }) {
                throw ConfigurationError(file: file, setting: use.setting, message: "names topic \(use.topic), which \(earlier.setting) uses already; give each its own topic")
            }
        }
        for writer in writers {
            if let taken = uses.first(where: { $0.topic.isSameBytes(as: writer.deadLetterTopic) }) {
                throw ConfigurationError(
                    file: file, setting: "writers.\(writer.name).dead_letter_topic",
                    message: "names topic \(writer.deadLetterTopic), which \(taken.setting) uses already; dead letters need a topic of their own"
                )
            }
        }
    }
}

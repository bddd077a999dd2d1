import PumphouseContracts
import PumphouseKafka

/// One named cache: its contract, its data pump topic, and how its entities map to a
/// table (the data abstraction layer).
public struct CacheConfiguration: Sendable, Hashable {
    public var contract: ContractName
    public var topic: String
    public var partitions: Int
    /// -1: the broker's default.
    public var replicationFactor: Int
    public var topicConfigs: [String: String]

    /// Whether the topic keeps every change's record: compaction removes older records of
    /// a key, so a hole in an origin's numbering there is no loss, and is not reported.
    public var keepsEveryRecord: Bool { topicConfigs["cleanup.policy"]?.contains("compact") != true }
    /// nil when the file says `mapping: custom`: a `ContractMapper` registered by the
    /// program hosting the writer writes this cache.
    public var mapping: TableMapping?
    /// Where data readers stream this cache's rows back to units (the reverse pump).
    public var reverseTopic: String
    public var load: LoadSource
    public var mode: Mode
    /// The other caches whose keys are decided together with this one's (a seat and its
    /// sale): partition p of each has the same owner. Only for partitioned caches.
    public var coPartitioned: [ContractName] = []
    /// A partitioned cache's partition key: the byte after whose last occurrence in a
    /// key the part that places it starts (`bid-17@auction-42` goes where `auction-42`
    /// goes); nil: the whole key. See `KafkaKeyPartitioner`.
    public var partitionKeyAfter: UInt8?

    /// How a cache's entities are spread over the units that open it.
    public enum Mode: Sendable, Hashable {
        /// Every unit holds every entity and may change any key; the log decides
        /// collisions (the default, and every cache before partitioned ones existed).
        case replicated
        /// Each partition of the topic has one owning unit, which alone decides its keys,
        /// and `backups` units following it; a unit holds only what it owns or backs up.
        case partitioned(backups: Int)

        public static let modes = ["replicated", "partitioned"]

        /// The mode as the pipeline file spells it.
        public var name: String {
            switch self {
            case .replicated: "replicated"
            case .partitioned: "partitioned"
            }
        }

        /// The backups a partitioned cache asks for; nil for a replicated one.
        public var backups: Int? {
            if case .partitioned(let backups) = self { backups } else { nil }
        }

        public var isPartitioned: Bool { backups != nil }
    }

    /// How keys are placed in the topic's partitions: librdkafka's default for replicated
    /// caches (their topics were written with it), the Java client's default (murmur2)
    /// for partitioned ones, so requests route the same from any client.
    public var partitioner: KafkaKeyPartitioner {
        switch mode {
        case .replicated: KafkaKeyPartitioner(partitionCount: Int32(partitions), scheme: .consistentRandom)
        case .partitioned: KafkaKeyPartitioner(partitionCount: Int32(partitions), scheme: .murmur2, partitionKeyAfter: partitionKeyAfter)
        }
    }

    /// Why a change with this key does not belong in `partition` of a partitioned cache's
    /// topic (it was produced with another partitioner, or before the partition count
    /// changed); nil where it belongs. Its owner is the owner of the key's own partition,
    /// so a change elsewhere would be decided by the wrong unit. The key is the decoded
    /// one, whose bytes decoding found equal to the message's key.
    package func misplacement(ofKey key: String, in partition: Int32) -> String? {
        let expected = partitioner.partition(ofKey: key)
        guard expected != partition else { return nil }
        let placement = partitionKeyAfter == nil ? "murmur2 over \(partitions) partitions, the Java client's default" : "\(partitioner) over \(partitions) partitions"
        return "the key belongs in partition \(expected) of \(topic) (\(placement)), not \(partition): produce changes of a partitioned cache with the murmur2 partitioner\(partitionKeyAfter == nil ? "" : " over the partition key"), or through its owning unit"
    }

    /// Where a unit that finds no loaded peer rebuilds this cache from.
    public enum LoadSource: String, Sendable, Hashable, CaseIterable {
        /// The database, through a data reader, then the topic from the writer's offsets:
        /// right whatever the topic's retention.
        case reversePump = "reverse_pump"
        /// The whole topic from its beginning: only right while the topic keeps every
        /// change ever made (no retention, no compaction).
        case topic
    }

    static func parse(_ member: JSONObject.Member, parent: ConfigurationReader, registry: ContractRegistry) throws(ConfigurationError) -> CacheConfiguration {
        let setting = parent.setting(member.name)
        let name: ContractName
        do {
            name = try ContractName(member.name)
        } catch {
            throw ConfigurationError(file: parent.file, setting: setting, message: "\(error)")
        }
        guard let schemas = registry.contracts[name] else {
            throw ConfigurationError(file: parent.file, setting: setting, message: "no contract \(name) in the schema directory; add Schemas/\(name)/ or fix the name")
        }
        var reader = try ConfigurationReader(file: parent.file, path: setting, value: member.value, keys: ["topic", "partitions", "replication_factor", "topic_configs", "mapping", "reverse_topic", "load", "mode", "backups", "co_partitioned_with", "partition_key_after"])
        let topic = try reader.topic("topic") ?? schemas.definition.topic
        let partitions = try reader.integer("partitions", in: 1...10_000) ?? 1
        let replication = try reader.integer("replication_factor", in: -1...100) ?? -1
        if replication == 0 { throw reader.fail("replication_factor", "must be -1 (broker default) or at least 1") }
        var topicConfigs: [String: String] = [:]
        if let configs = try reader.mapping("topic_configs") {
            for entry in configs.object {
                let text: String
                switch entry.value {
                case .string(let value): text = value
                case .int(let value): text = String(value)
                // A whole number written as a float (`1e9`) is that number; a fraction
                // (`min.cleanable.dirty.ratio: 0.5`) is passed as written, never truncated.
                case .double(let value) where value.rounded() == value && abs(value) < 9.2e18: text = String(Int64(value))
                case .double(let value) where value.isFinite: text = String(value)
                default: throw configs.fail(entry.name, "must be a string or a finite number")
                }
                topicConfigs[entry.name] = text
            }
        }
        let mapping: TableMapping?
        if case .string(let word)? = reader.object["mapping"] {
            guard word == "custom" else { throw reader.fail("mapping", "must be a mapping (table, columns, key, delete) or `custom`, not \"\(word)\"") }
            _ = reader.value("mapping")
            mapping = nil
        } else if let mappingReader = try reader.mapping("mapping", keys: ["table", "columns", "key", "delete"]) {
            mapping = try TableMapping.parse(mappingReader, schemas: schemas)
        } else {
            throw reader.fail("mapping", "is required: the table this cache is written to and how fields map to columns, or `custom` for a Swift ContractMapper")
        }
        let reverseTopic = try reader.topic("reverse_topic", derivedAs: "\(topic).reverse", from: "the topic")
        guard reverseTopic != topic else { throw reader.fail("reverse_topic", "must differ from the cache's topic") }
        // A custom mapping cannot be read back, so its cache loads from its topic unless
        // the file says otherwise (and then it is refused below).
        let load = try reader.choice("load", of: LoadSource.self) ?? (mapping == nil ? .topic : .reversePump)
        if load == .reversePump && mapping == nil {
            throw reader.fail("load", "reverse_pump needs a table mapping (a data reader cannot read a `custom` mapping); set `load: topic` if the topic keeps every change")
        }
        let mode = try parseMode(&reader)
        var coPartitioned: [ContractName] = []
        if let names = try reader.strings("co_partitioned_with") {
            guard mode.isPartitioned else {
                throw reader.fail("co_partitioned_with", "applies to a partitioned cache only; add `mode: partitioned`")
            }
            for text in names {
                do {
                    coPartitioned.append(try ContractName(text))
                } catch {
                    throw reader.fail("co_partitioned_with", "\(error)")
                }
            }
        }
        let partitionKeyAfter = try parsePartitionKey(&reader, mode: mode)
        try reader.finish()
        var cache = CacheConfiguration(
            contract: name, topic: topic, partitions: partitions, replicationFactor: replication, topicConfigs: topicConfigs,
            mapping: mapping, reverseTopic: reverseTopic, load: load, mode: mode
        )
        cache.coPartitioned = coPartitioned
        cache.partitionKeyAfter = partitionKeyAfter
        return cache
    }

    /// One ASCII punctuation character: a letter, digit or space would cut keys where
    /// their own text goes on, and a byte of a multi-byte character is no character.
    private static func parsePartitionKey(_ reader: inout ConfigurationReader, mode: Mode) throws(ConfigurationError) -> UInt8? {
        guard let text = try reader.string("partition_key_after") else { return nil }
        guard mode.isPartitioned else {
            throw reader.fail("partition_key_after", "applies to a partitioned cache only (it decides which unit owns a key); add `mode: partitioned` or remove it")
        }
        let bytes = Array(text.utf8)
        guard bytes.count == 1, let byte = bytes.first, byte > 0x20, byte < 0x7F, !Character(Unicode.Scalar(byte)).isLetter, !Character(Unicode.Scalar(byte)).isNumber else {
            throw reader.fail("partition_key_after", "must be one ASCII punctuation character, such as \"@\" (a key `bid-17@auction-42` is then placed by `auction-42`), not \"\(text)\"")
        }
        return byte
    }

    private static func parseMode(_ reader: inout ConfigurationReader) throws(ConfigurationError) -> Mode {
        let word = try reader.string("mode") ?? "replicated"
        let backups = try reader.integer("backups", in: 0...2)
        switch word {
        case "replicated":
            if backups != nil { throw reader.fail("backups", "applies to a partitioned cache only (a replicated cache is on every unit); add `mode: partitioned` or remove it") }
            return .replicated
        case "partitioned":
            // One backup by default, as data grids default: an owner's loss costs no reload.
            return .partitioned(backups: backups ?? 1)
        default:
            throw reader.fail("mode", "must be \(Mode.modes.joined(separator: " or ")), not \"\(word)\"")
        }
    }

    /// Checks what depends on several caches: co-partitioned caches exist, are
    /// partitioned with the same partition count, and name each other consistently
    /// (a group is closed under the relation, so listing it on one cache is enough).
    static func checkCoPartitioning(_ caches: inout [CacheConfiguration], file: String) throws(ConfigurationError) {
        var groups: [[Int]] = []
        for (index, cache) in caches.enumerated() {
            for other in cache.coPartitioned {
                let setting = "caches.\(cache.contract).co_partitioned_with"
                guard let partner = caches.firstIndex(where: { $0.contract == other }) else {
                    throw ConfigurationError(file: file, setting: setting, message: "\(other) is not a cache declared under caches")
                }
                guard partner != index else {
                    throw ConfigurationError(file: file, setting: setting, message: "names the cache itself; list the other caches decided together with it")
                }
                guard caches[partner].mode.isPartitioned else {
                    throw ConfigurationError(file: file, setting: setting, message: "\(other) is not partitioned; declare it `mode: partitioned` too, since its keys' owner decides them together with \(cache.contract)'s")
                }
                guard caches[partner].partitions == cache.partitions else {
                    throw ConfigurationError(
                        file: file, setting: setting,
                        message: "\(other) has \(caches[partner].partitions) partitions and \(cache.contract) \(cache.partitions); co-partitioned caches need equal counts, so a key's partition is the same in both"
                    )
                }
                let joined = groups.indices.filter { groups[$0].contains(index) || groups[$0].contains(partner) }
                var group = Set([index, partner])
                for position in joined { group.formUnion(groups[position]) }
                groups = groups.enumerated().filter { !joined.contains($0.offset) }.map(\.element) + [group.sorted()]
            }
        }
        for group in groups {
            for index in group {
                caches[index].coPartitioned = group.filter { $0 != index }.map { caches[$0].contract }.sorted { $0.rawValue < $1.rawValue }
            }
        }
    }
}

/// A data writer: which caches it consumes and how it batches.
public struct WriterConfiguration: Sendable, Hashable {
    public var name: String
    /// One cache: a dedicated writer; several of one domain: a domain writer.
    public var caches: [ContractName]
    public var group: String
    public var deadLetterTopic: String
    public var maxBatchMessages: Int
    public var maxBatchWait: Duration
    /// Port of /metrics, /healthz and /readyz; nil serves none.
    public var httpPort: Int?
    /// The least time between two fetches of a partition that found records
    /// (`KafkaConsumerConfiguration.fetchInterval`); nil fetches again at once.
    public var fetchInterval: Duration? = nil

    static func parse(_ member: JSONObject.Member, parent: ConfigurationReader, caches known: [CacheConfiguration]) throws(ConfigurationError) -> WriterConfiguration {
        let name = member.name
        var reader = try ConfigurationReader(file: parent.file, path: parent.setting(name), value: member.value, keys: ["caches", "group", "dead_letter_topic", "batch", "http_port", "fetch_interval_ms"])
        guard name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }), !name.isEmpty else {
            throw ConfigurationError(file: parent.file, setting: parent.setting(name), message: "writer names use letters, digits, '-' and '_'")
        }
        guard let listed = try reader.strings("caches"), !listed.isEmpty else {
            throw reader.fail("caches", "is required: the named caches this writer consumes")
        }
        var caches: [ContractName] = []
        for cache in listed {
            guard let match = known.first(where: { $0.contract.rawValue.isSameBytes(as: cache) }) else {
                throw reader.fail("caches", "\"\(cache)\" is not a cache declared under caches")
            }
            caches.append(match.contract)
        }
        let domains = Set(caches.map { String($0.domain) })
        if domains.count > 1 {
            throw reader.fail("caches", "a writer serves one domain; \(domains.sorted().joined(separator: " and ")) need separate writers")
        }
        let group = try reader.string("group") ?? "pumphouse-writer-\(name)"
        let deadLetterTopic = try reader.topic("dead_letter_topic", derivedAs: "pumphouse.dead-letters.\(name)", from: "the writer's name")
        var maxMessages = 10_000
        var maxWait = Duration.milliseconds(20)
        if var batch = try reader.mapping("batch", keys: ["max_messages", "max_wait_ms"]) {
            maxMessages = try batch.integer("max_messages", in: 1...1_000_000) ?? maxMessages
            if let ms = try batch.integer("max_wait_ms", in: 0...60_000) { maxWait = .milliseconds(ms) }
            try batch.finish()
        }
        let port = try reader.integer("http_port", in: 0...65_535)
        let fetchInterval = try reader.integer("fetch_interval_ms", in: 0...60_000).flatMap { $0 == 0 ? nil : Duration.milliseconds($0) }
        try reader.finish()
        return WriterConfiguration(
            name: name, caches: caches, group: group, deadLetterTopic: deadLetterTopic, maxBatchMessages: maxMessages, maxBatchWait: maxWait, httpPort: port,
            fetchInterval: fetchInterval
        )
    }
}

import Foundation
import PumphouseContracts
import PumphousePipeline
import Testing

/// Writes a pipeline file next to a copy of the project's schemas.
struct PipelineFile {
    let directory: String
    let path: String
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    init(_ yaml: String) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("pipeline-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = "\(directory)/pipeline.yaml"
        let text = yaml.replacing("SCHEMAS", with: "\(Self.repository)/Schemas")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    func load(_ environment: [String: String] = [:]) throws(ConfigurationError) -> PipelineConfiguration {
        try PipelineConfiguration.load(path: path, environment: environment)
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}

let validPipeline = """
kafka: { brokers: "k1:9092,k2:9092" }
postgres: { url: "postgresql://u:pw@db/x" }
schemas: SCHEMAS
caches:
  bench.Account:
    partitions: 3
    mapping:
      table: bench_account
      columns:
        id: id
        owner: owner
        balance_cents: { field: balance, type: bigint }
        currency: { field: currency, default: EUR }
        status: status
        updated_at: { field: updatedAt, transform: epoch_ms_to_timestamp }
        raw: { json: "$" }
writers:
  bench:
    caches: [bench.Account]
"""

@Suite("Pipeline file")
struct PipelineConfigurationTests {
    @Test("the project's local pipeline file loads")
    func localFile() throws {
        let configuration = try PipelineConfiguration.load(
            path: "\(PipelineFile.repository)/deploy/local/pipeline.yaml",
            environment: ["PUMPHOUSE_POSTGRES_URL": "postgresql://u:pw@127.0.0.1:55432/pumphouse"]
        )
        let cache = try #require(configuration.cache(try ContractName("bench.Account")))
        #expect(cache.topic == "bench.account")
        #expect(cache.mapping?.keyColumns == ["id"])
        #expect(configuration.writer(named: "bench")?.httpPort == 9301)
        #expect(configuration.writer(named: "ticketing")?.caches.count == 3)
        #expect(configuration.writer(named: "auction")?.caches.count == 2)
        let bids = try #require(configuration.cache(try ContractName("auction.Bid")))
        let auctions = try ContractName("auction.Auction")
        #expect(bids.partitionKeyAfter == UInt8(ascii: "@") && bids.coPartitioned == [auctions])
        #expect(configuration.topicSpecifications.map(\.name) == [
            "bench.account", "ticketing.concert", "ticketing.seat", "ticketing.sale", "auction.auction", "auction.bid",
            "pumphouse.dead-letters.bench", "pumphouse.dead-letters.ticketing", "pumphouse.dead-letters.auction",
            "bench.account.reverse", "ticketing.concert.reverse", "ticketing.seat.reverse", "ticketing.sale.reverse",
            "auction.auction.reverse", "auction.bid.reverse",
            "pumphouse.members", "pumphouse.reads",
        ])
    }

    @Test("defaults, mapping sources and derived names")
    func parsed() throws {
        let file = try PipelineFile(validPipeline)
        defer { file.remove() }
        let configuration = try file.load()
        #expect(configuration.kafka.bootstrapServers == ["k1:9092", "k2:9092"])
        #expect(configuration.kafka.offsetGapRecheck == .milliseconds(500))
        let mapping = try #require(configuration.caches.first?.mapping)
        #expect(mapping.column("balance_cents")?.source == .field(["balance"]))
        #expect(mapping.column("balance_cents")?.type == "bigint")
        #expect(mapping.column("raw")?.source == .json([]))
        // Field names by their bytes: a canonically equal spelling is another field.
        #expect(mapping.column("balance_cents")?.source.isField("balance") == true)
        #expect(TableMapping.Source.field(["caf\u{E9}"]).isField("cafe\u{301}") == false)
        #expect(mapping.column("currency")?.defaultValue == .string("EUR"))
        #expect(mapping.column("updated_at")?.transform == .epochMillisToTimestamp)
        #expect(mapping.delete == .hard)
        let writer = try #require(configuration.writers.first)
        #expect(writer.group == "pumphouse-writer-bench")
        #expect(writer.deadLetterTopic == "pumphouse.dead-letters.bench")
        #expect(writer.maxBatchMessages == 10_000)
        #expect(writer.fetchInterval == nil)
        for (setting, interval) in [("50", Duration?.some(.milliseconds(50))), ("0", nil)] {
            let paced = try PipelineFile(validPipeline.replacing("caches: [bench.Account]", with: "caches: [bench.Account]\n    fetch_interval_ms: \(setting)"))
            defer { paced.remove() }
            #expect(try paced.load().writers.first?.fetchInterval == interval)
        }
        let cache = try #require(configuration.caches.first)
        #expect(cache.load == .reversePump && cache.reverseTopic == "bench.account.reverse")
        #expect(configuration.reader.requestTopic == "pumphouse.reads" && configuration.reader.group == "pumphouse-reader")
        #expect(configuration.reader.chunkRows == 5_000 && configuration.reader.httpPort == nil)
        #expect(configuration.reader.compression == .lz4)
        #expect(configuration.writer(of: cache.contract)?.name == "bench")
        #expect(configuration.migrationsTable == "pumphouse_migrations")
        let own = try PipelineFile(validPipeline.replacing("schemas: SCHEMAS", with: "schemas: SCHEMAS\nmigrations_table: shop.migrations"))
        defer { own.remove() }
        #expect(try own.load().migrationsTable == "shop.migrations")
        let unchecked = try PipelineFile(validPipeline.replacing(#"kafka: { brokers: "k1:9092,k2:9092" }"#, with: #"kafka: { brokers: "k1:9092", offset_gap_recheck_ms: 0 }"#))
        defer { unchecked.remove() }
        #expect(try unchecked.load().kafka.offsetGapRecheck == .zero)
    }

    @Test("environment variables override the connection settings")
    func overrides() throws {
        let file = try PipelineFile(validPipeline)
        defer { file.remove() }
        let configuration = try file.load(["PUMPHOUSE_KAFKA_BROKERS": "other:1", "PUMPHOUSE_POSTGRES_URL": "postgresql://o@h/d"])
        #expect(configuration.kafka.bootstrapServers == ["other:1"])
        #expect(configuration.database?.url == "postgresql://o@h/d")
    }

    @Test("a file for processing units alone needs no postgres section; what uses PostgreSQL asks for postgres.url by name")
    func withoutDatabase() throws {
        let file = try PipelineFile(validPipeline.replacing(#"postgres: { url: "postgresql://u:pw@db/x" }"#, with: ""))
        defer { file.remove() }
        let configuration = try file.load()
        #expect(configuration.database == nil)
        let missing = try #require(throws: ConfigurationError.self) { try configuration.postgres }
        #expect(missing.setting == "postgres.url")
        #expect(missing.message.contains("PUMPHOUSE_POSTGRES_URL") && missing.message.contains("processing units"))
        // The override alone is enough; a timeout without a url is a mistake.
        #expect(try file.load(["PUMPHOUSE_POSTGRES_URL": "postgresql://o@h/d"]).postgres.url == "postgresql://o@h/d")
        // A url from an environment variable that is unset (a unit deployed with no
        // database secret) is told only to what uses the database, naming the variable.
        let fromEnvironment = try PipelineFile(validPipeline.replacing(#"postgres: { url: "postgresql://u:pw@db/x" }"#, with: "postgres: { url: { env: DB_URL }, connect_timeout_seconds: 5 }"))
        defer { fromEnvironment.remove() }
        let unit = try fromEnvironment.load()
        #expect(unit.database == nil)
        let unset = try #require(throws: ConfigurationError.self) { try unit.postgres }
        #expect(unset.setting == "postgres.url" && unset.message.contains("DB_URL"))
        #expect(try fromEnvironment.load(["DB_URL": "postgresql://e@h/d"]).postgres.connectTimeout == .seconds(5))
        let timeoutOnly = try PipelineFile(validPipeline.replacing(#"postgres: { url: "postgresql://u:pw@db/x" }"#, with: "postgres: { connect_timeout_seconds: 5 }"))
        defer { timeoutOnly.remove() }
        let refused = try #require(throws: ConfigurationError.self) { try timeoutOnly.load() }
        #expect(refused.setting == "postgres.connect_timeout_seconds")
        #expect(refused.message.contains("url"))
    }

    @Test("properties for one kind of client are read apart from the shared ones, secrets included")
    func propertiesByKind() throws {
        let file = try PipelineFile(validPipeline.replacing(
            #"kafka: { brokers: "k1:9092,k2:9092" }"#,
            with: "kafka: { brokers: k1:9092, properties: { linger.ms: \"9\" }, producer_properties: { linger.ms: \"2\" }, consumer_properties: { fetch.wait.max.ms: \"100\", sasl.password: { env: KAFKA_PW } } }"
        ))
        defer { file.remove() }
        let kafka = try file.load(["KAFKA_PW": "from-env"]).kafka
        #expect(kafka.properties == ["linger.ms": "9"])
        #expect(kafka.producerProperties == ["linger.ms": "2"])
        #expect(kafka.consumerProperties == ["fetch.wait.max.ms": "100", "sasl.password": "from-env"])
        let missing = try #require(throws: ConfigurationError.self) { try file.load() }
        #expect(missing.setting == "kafka.consumer_properties.sasl.password" && missing.message.contains("KAFKA_PW"), "\(missing)")
    }

    @Test("topic settings keep their value as written: whole numbers as integers, fractions as they are, never truncated")
    func topicConfigs() throws {
        let file = try PipelineFile(validPipeline.replacing(
            "partitions: 3", with: "partitions: 3\n    topic_configs: { retention.ms: 1.0e+9, min.cleanable.dirty.ratio: 0.5, retention.bytes: -1, cleanup.policy: delete }"
        ))
        defer { file.remove() }
        let cache = try #require(try file.load().cache(try ContractName("bench.Account")))
        #expect(cache.topicConfigs == ["retention.ms": "1000000000", "min.cleanable.dirty.ratio": "0.5", "retention.bytes": "-1", "cleanup.policy": "delete"])
    }

    @Test("secrets come from files and environment variables")
    func secrets() throws {
        let file = try PipelineFile(validPipeline
            .replacing(#"postgres: { url: "postgresql://u:pw@db/x" }"#, with: "postgres: { url: { file: db-url } }")
            .replacing(#"kafka: { brokers: "k1:9092,k2:9092" }"#, with: "kafka: { brokers: k1:9092, properties: { sasl.password: { env: KAFKA_PW } } }"))
        defer { file.remove() }
        try "postgresql://u:from-file@db/x\n".write(toFile: "\(file.directory)/db-url", atomically: true, encoding: .utf8)
        let configuration = try file.load(["KAFKA_PW": "from-env"])
        #expect(configuration.database?.url == "postgresql://u:from-file@db/x")
        #expect(configuration.kafka.properties["sasl.password"] == "from-env")
        let missing = try #require(throws: ConfigurationError.self) { try file.load() }
        #expect(missing.setting == "kafka.properties.sasl.password")
        #expect(missing.message.contains("KAFKA_PW"))
    }

    @Test("a text setting written as an unquoted number is kept as written: YAML 1.1's octal 0123 is not the password 83, nor 0x1F the client 31")
    func numbersKeptAsWritten() throws {
        let file = try PipelineFile(validPipeline.replacing(
            #"kafka: { brokers: "k1:9092,k2:9092" }"#,
            with: "kafka: { brokers: k1:9092, client_id: 0x1F, properties: { sasl.password: 0123, sasl.username: 1_000, retries: 12 } }"
        ))
        defer { file.remove() }
        let configuration = try file.load()
        #expect(configuration.kafka.clientID == "0x1F")
        #expect(configuration.kafka.properties["sasl.password"] == "0123")
        #expect(configuration.kafka.properties["sasl.username"] == "1_000")
        #expect(configuration.kafka.properties["retries"] == "12")
    }

    @Test("each mistake is one error naming the setting", arguments: [
        ("postgres: { url: \"postgresql://u:pw@db/x\" }", "postgres: { url: \"postgresql://u:pw@db/x\", timeout: 3 }", "postgres.timeout", "not a setting"),
        ("schemas: SCHEMAS", "schemas: SCHEMAS\nwritters: {}", "writters", "not a setting"),
        ("partitions: 3", "partitions: 0", "caches.bench.Account.partitions", "from 1 to 10000"),
        ("partitions: 3", "partitions: many", "caches.bench.Account.partitions", "whole number"),
        // YAML 1.1's base-60 numbers stay text (Yams's arithmetic for them traps on overflow).
        ("partitions: 3", "partitions: 1:0:0:0:0:0:0:0:0:0:0", "caches.bench.Account.partitions", "whole number"),
        ("partitions: 3", "partitions: 1:30", "caches.bench.Account.partitions", "whole number"),
        // Only plain decimals are numbers: YAML 1.1's octal, hex and underscores stay text.
        ("partitions: 3", "partitions: 0x3", "caches.bench.Account.partitions", "whole number"),
        ("partitions: 3", "partitions: 1_000", "caches.bench.Account.partitions", "whole number"),
        ("partitions: 3", "partitions: 3\n    topic_configs: { retention.ms: .inf }", "caches.bench.Account.topic_configs.retention.ms", "finite number"),
        ("partitions: 3", "partitions: 3\n    topic_configs: { retention.ms: .nan }", "caches.bench.Account.topic_configs.retention.ms", "finite number"),
        ("owner: owner", "owner: ownr", "caches.bench.Account.mapping.columns.owner", "has no field \"ownr\""),
        ("owner: owner", "owner: { field: owner, transfrom: x }", "caches.bench.Account.mapping.columns.owner.transfrom", "not a setting"),
        ("owner: owner", "owner: { field: owner, json: owner }", "caches.bench.Account.mapping.columns.owner", "exactly one of"),
        ("owner: owner", "owner: { field: owner, type: \"text; drop table x\" }", "caches.bench.Account.mapping.columns.owner.type", "not a SQL type"),
        ("table: bench_account", "table: \"bench_account; drop\"", "caches.bench.Account.mapping.table", "plain identifier"),
        ("        id: id\n", "", "caches.bench.Account.mapping.key", "key field"),
        ("bench.Account:\n    partitions", "bench.Nope:\n    partitions", "caches.bench.Nope", "no contract"),
        ("caches: [bench.Account]", "caches: [bench.Other]", "writers.bench.caches", "not a cache"),
        ("caches: [bench.Account]", "caches: [bench.Account]\n    fetch_interval_ms: 90000", "writers.bench.fetch_interval_ms", "from 0 to 60000"),
        ("kafka: { brokers: \"k1:9092,k2:9092\" }", "kafka: {}", "kafka.brokers", "PUMPHOUSE_KAFKA_BROKERS"),
        ("partitions: 3", "partitions: 3\n    mapping2: {}", "caches.bench.Account.mapping2", "not a setting"),
        ("partitions: 3", "partitions: 3\n    load: database", "caches.bench.Account.load", "reverse_pump or topic"),
        ("partitions: 3", "partitions: 3\n    topic: t\n    reverse_topic: t", "caches.bench.Account.reverse_topic", "must differ"),
        ("writers:", "reader: { chunk_rows: 5 }\nwriters:", "reader.chunk_rows", "from 100 to 1000000"),
        ("writers:", "reader: { chunk: 5 }\nwriters:", "reader.chunk", "not a setting"),
        ("writers:", "reader: { compression: lz5 }\nwriters:", "reader.compression", "none, gzip, snappy, lz4 or zstd, not \"lz5\""),
        ("  bench:\n    caches: [bench.Account]", "  bench:\n    caches: [bench.Account]\n  again:\n    caches: [bench.Account]", "writers.again", "already written by writer bench"),
        ("kafka: { brokers: \"k1:9092,k2:9092\" }", "kafka: { brokers: \"k1:9092,k2\" }", "kafka.brokers", "\"k2\" is not host:port"),
        ("kafka: { brokers: \"k1:9092,k2:9092\" }", "kafka: { brokers: \"k1:9092;k2:9092\" }", "kafka.brokers", "is not host:port"),
        ("kafka: { brokers: \"k1:9092,k2:9092\" }", "kafka: { brokers: \"::1:9092\" }", "kafka.brokers", "is not host:port"),
        ("postgres: { url: \"postgresql://u:pw@db/x\" }", "postgres: { url: \"postgresql://u:pw@db/x?sslmod=require\" }", "postgres.url", "sslmod"),
        ("postgres: { url: \"postgresql://u:pw@db/x\" }", "postgres: { url: \"postgresql://u:pw%zzhidden@db/x\" }", "postgres.url", "\"***\""),
        ("partitions: 3", "partitions: 3\n    topic: \"bench account\"", "caches.bench.Account.topic", "use only letters, digits"),
        // Derived names are checked too: a topic of 245 characters fits, its reverse topic does not.
        ("partitions: 3", "partitions: 3\n    topic: \(String(repeating: "t", count: 245))", "caches.bench.Account.reverse_topic", "set reverse_topic to a shorter name"),
        ("  bench:\n", "  \(String(repeating: "w", count: 230)):\n", "writers.\(String(repeating: "w", count: 230)).dead_letter_topic", "set dead_letter_topic to a shorter name"),
        ("kafka: { brokers: \"k1:9092,k2:9092\" }", "kafka: { brokers: \"k1:9092\", properties: { bootstrap.servers: \"k9:9092\" } }", "kafka.properties.bootstrap.servers", "move the list there"),
        ("kafka: { brokers: \"k1:9092,k2:9092\" }", "kafka: { brokers: \"k1:9092\", consumer_properties: { bootstrap.servers: \"k9:9092\" } }", "kafka.consumer_properties.bootstrap.servers", "move the list there"),
        ("kafka: { brokers: \"k1:9092,k2:9092\" }", "kafka: { brokers: \"k1:9092\", producer_properties: [linger.ms] }", "kafka.producer_properties", "mapping"),
        ("kafka: { brokers: \"k1:9092,k2:9092\" }", "kafka: { brokers: \"k1:9092\", properties: { group.id: g } }", "kafka.properties.group.id", "writers.<name>.group and reader.group"),
        ("kafka: { brokers: \"k1:9092,k2:9092\" }", "kafka: { brokers: \"k1:9092\", consumer_properties: { client.id: c } }", "kafka.consumer_properties.client.id", "kafka.client_id"),
        // Every topic has one use.
        ("    caches: [bench.Account]", "    caches: [bench.Account]\n    dead_letter_topic: bench.account", "writers.bench.dead_letter_topic", "dead letters need a topic of their own"),
        ("    caches: [bench.Account]", "    caches: [bench.Account]\nmember_topic: bench.account.reverse", "member_topic", "caches.bench.Account.reverse_topic uses already"),
        ("kafka: { brokers: \"k1:9092,k2:9092\" }", "kafka: { brokers: \"k1:9092\", offset_gap_recheck_ms: 90000 }", "kafka.offset_gap_recheck_ms", "from 0 to 60000"),
        ("partitions: 3", "partitions: 3\n    mode: sharded", "caches.bench.Account.mode", "replicated or partitioned"),
        ("partitions: 3", "partitions: 3\n    backups: 1", "caches.bench.Account.backups", "add `mode: partitioned`"),
        ("partitions: 3", "partitions: 3\n    mode: partitioned\n    backups: 3", "caches.bench.Account.backups", "from 0 to 2"),
        ("partitions: 3", "partitions: 3\n    co_partitioned_with: [bench.Account]", "caches.bench.Account.co_partitioned_with", "add `mode: partitioned`"),
        ("partitions: 3", "partitions: 3\n    mode: partitioned\n    co_partitioned_with: [bench.Account]", "caches.bench.Account.co_partitioned_with", "names the cache itself"),
        ("partitions: 3", "partitions: 3\n    mode: partitioned\n    co_partitioned_with: [ticketing.Seat]", "caches.bench.Account.co_partitioned_with", "not a cache declared"),
        ("partitions: 3", "partitions: 3\n    mode: partitioned\n    co_partitioned_with: [Seat]", "caches.bench.Account.co_partitioned_with", "not a contract name"),
        ("partitions: 3", "partitions: 3\n    partition_key_after: \"@\"", "caches.bench.Account.partition_key_after", "add `mode: partitioned`"),
        ("partitions: 3", "partitions: 3\n    mode: partitioned\n    partition_key_after: \"@@\"", "caches.bench.Account.partition_key_after", "one ASCII punctuation character"),
        ("partitions: 3", "partitions: 3\n    mode: partitioned\n    partition_key_after: \"x\"", "caches.bench.Account.partition_key_after", "not \"x\""),
        ("partitions: 3", "partitions: 3\n    mode: partitioned\n    partition_key_after: \"7\"", "caches.bench.Account.partition_key_after", "one ASCII punctuation character"),
        ("partitions: 3", "partitions: 3\n    mode: partitioned\n    partition_key_after: \" \"", "caches.bench.Account.partition_key_after", "one ASCII punctuation character"),
        ("partitions: 3", "partitions: 3\n    mode: partitioned\n    partition_key_after: \"\u{E9}\"", "caches.bench.Account.partition_key_after", "one ASCII punctuation character"),
        ("schemas: SCHEMAS", "schemas: SCHEMAS\nmigrations_table: \"m; drop table x\"", "migrations_table", "plain lowercase identifier"),
        ("schemas: SCHEMAS", "schemas: SCHEMAS\nmigrations_table: pumphouse_pipeline_migrations", "migrations_table", "other than pumphouse_pipeline_migrations"),
    ])
    func mistakes(original: String, replacement: String, setting: String, mentions: String) throws {
        let yaml = validPipeline.replacing(original, with: replacement)
        #expect(yaml != validPipeline, "the case must change the file")
        let file = try PipelineFile(yaml)
        defer { file.remove() }
        let error = try #require(throws: ConfigurationError.self) { try file.load() }
        #expect(error.setting == setting, "\(error)")
        #expect(error.message.contains(mentions), "\(error)")
        #expect(!error.message.contains("hidden"), "a password is never shown: \(error)")
    }

    /// Two caches that may be decided together, with custom mappings to keep the file short.
    static func ticketing(_ seat: String, _ sale: String) -> String {
        """
        kafka: { brokers: "k1:9092" }
        postgres: { url: "postgresql://u:pw@db/x" }
        schemas: SCHEMAS
        caches:
          ticketing.Seat:
            mapping: custom
        \(seat)
          ticketing.Sale:
            mapping: custom
        \(sale)
        """
    }

    @Test("a cache is replicated unless it says partitioned; a partitioned one has one backup unless it says otherwise, and places keys by murmur2")
    func modes() throws {
        let file = try PipelineFile(Self.ticketing("    partitions: 6\n    mode: partitioned", "    partitions: 4\n    mode: partitioned\n    backups: 2"))
        defer { file.remove() }
        let caches = try file.load().caches
        #expect(caches.map(\.mode) == [.partitioned(backups: 1), .partitioned(backups: 2)])
        #expect(caches.map(\.partitioner.scheme) == [.murmur2, .murmur2])
        #expect(caches[0].partitioner.partitionCount == 6)
        #expect(caches.allSatisfy { $0.coPartitioned.isEmpty })
        let replicated = try #require(try PipelineFile(validPipeline).load().caches.first)
        #expect(replicated.mode == .replicated)
        #expect(replicated.partitioner.scheme == .consistentRandom)
    }

    @Test("a partitioned cache may place keys by a partition key, the part after a separator, and its routing table says so")
    func partitionKey() throws {
        let file = try PipelineFile(Self.ticketing("    partitions: 6\n    mode: partitioned\n    partition_key_after: \"@\"", "    partitions: 6\n    mode: partitioned"))
        defer { file.remove() }
        let caches = try file.load().caches
        #expect(caches.map(\.partitionKeyAfter) == [UInt8(ascii: "@"), nil])
        #expect(caches[0].partitioner.partition(ofKey: "b-1@concert-9") == caches[1].partitioner.partition(ofKey: "concert-9"))
        #expect(caches[0].misplacement(ofKey: "b-1@concert-9", in: caches[1].partitioner.partition(ofKey: "concert-9")) == nil)
    }

    @Test("co-partitioning is declared once and holds both ways; both caches must be partitioned with equal partition counts")
    func coPartitioning() throws {
        let file = try PipelineFile(Self.ticketing("    partitions: 6\n    mode: partitioned\n    co_partitioned_with: [ticketing.Sale]", "    partitions: 6\n    mode: partitioned"))
        defer { file.remove() }
        let caches = try file.load().caches
        let sale = try ContractName("ticketing.Sale"), seat = try ContractName("ticketing.Seat")
        #expect(caches.map(\.coPartitioned) == [[sale], [seat]])
        for (sale, mentions) in [("    partitions: 4\n    mode: partitioned", "ticketing.Sale has 4 partitions and ticketing.Seat 6"), ("    partitions: 6", "ticketing.Sale is not partitioned")] {
            let bad = try PipelineFile(Self.ticketing("    partitions: 6\n    mode: partitioned\n    co_partitioned_with: [ticketing.Sale]", sale))
            defer { bad.remove() }
            let error = try #require(throws: ConfigurationError.self) { try bad.load() }
            #expect(error.setting == "caches.ticketing.Seat.co_partitioned_with")
            #expect(error.message.contains(mentions), "\(error)")
        }
    }

    @Test("soft deletes name a column that is not mapped from a field")
    func softDelete() throws {
        let file = try PipelineFile(validPipeline.replacing("      table: bench_account", with: "      table: bench_account\n      delete: { soft: deleted_at }"))
        defer { file.remove() }
        #expect(try file.load().caches.first?.mapping?.delete == .soft(column: "deleted_at"))
        let clash = try PipelineFile(validPipeline.replacing("      table: bench_account", with: "      table: bench_account\n      delete: { soft: owner }"))
        defer { clash.remove() }
        #expect(throws: ConfigurationError.self) { try clash.load() }
    }

    @Test("`mapping: custom` leaves the cache to a Swift mapper; any other word is an error")
    func customMapping() throws {
        let mappingBlock = validPipeline[validPipeline.range(of: "    mapping:\n")!.lowerBound..<validPipeline.range(of: "writers:")!.lowerBound]
        let custom = try PipelineFile(validPipeline.replacing(mappingBlock, with: "    mapping: custom\n"))
        defer { custom.remove() }
        let cache = try #require(try custom.load().caches.first)
        #expect(cache.mapping == nil)
        // A reader cannot read a custom mapping back: such a cache loads from its topic.
        #expect(cache.load == .topic)
        let pumped = try PipelineFile(validPipeline.replacing(mappingBlock, with: "    mapping: custom\n    load: reverse_pump\n"))
        defer { pumped.remove() }
        let refused = try #require(throws: ConfigurationError.self) { try pumped.load() }
        #expect(refused.setting == "caches.bench.Account.load" && refused.message.contains("load: topic"), "\(refused)")
        let typo = try PipelineFile(validPipeline.replacing(mappingBlock, with: "    mapping: custon\n"))
        defer { typo.remove() }
        let error = try #require(throws: ConfigurationError.self) { try typo.load() }
        #expect(error.setting == "caches.bench.Account.mapping" && error.message.contains("custon"), "\(error)")
    }

    @Test("a reader's answers are compressed with lz4 unless the file names another codec")
    func readerCompression() throws {
        for codec in ReaderConfiguration.Compression.allCases {
            let file = try PipelineFile(validPipeline.replacing("writers:", with: "reader: { compression: \(codec.rawValue) }\nwriters:"))
            defer { file.remove() }
            #expect(try file.load().reader.compression == codec)
        }
    }

    /// U+212A KELVIN SIGN is canonically equivalent to "K", so Swift's `==` takes
    /// "demo.\u{212A}iosk" for "demo.Kiosk"; Kafka and PostgreSQL would not.
    @Test("a writer's caches and a writer's name are matched by their bytes")
    func namesByBytes() throws {
        let schemas = FileManager.default.temporaryDirectory.appendingPathComponent("schemas-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: schemas) }
        try FileManager.default.createDirectory(atPath: "\(schemas)/demo.Kiosk", withIntermediateDirectories: true)
        try "topic: demo.kiosk\nkey: id\n".write(toFile: "\(schemas)/demo.Kiosk/contract.yaml", atomically: true, encoding: .utf8)
        try #"{"type":"object","required":["id"],"properties":{"id":{"type":"string"}}}"#
            .write(toFile: "\(schemas)/demo.Kiosk/v1.json", atomically: true, encoding: .utf8)
        func pipeline(listing cache: String) -> String {
            """
            kafka: { brokers: "k1:9092" }
            schemas: \(schemas)
            caches:
              demo.Kiosk: { mapping: custom }
            writers:
              Kiosks:
                caches: [\(cache)]
            """
        }
        let exact = try PipelineFile(pipeline(listing: "demo.Kiosk"))
        defer { exact.remove() }
        let loaded = try exact.load()
        #expect(loaded.writer(named: "Kiosks")?.caches.map(\.rawValue) == ["demo.Kiosk"])
        #expect(loaded.writer(named: "\u{212A}iosks") == nil, "a writer's name is its bytes")
        let equivalent = try PipelineFile(pipeline(listing: "demo.\u{212A}iosk"))
        defer { equivalent.remove() }
        let error = try #require(throws: ConfigurationError.self) { try equivalent.load() }
        #expect(error.setting == "writers.Kiosks.caches" && error.message.contains("not a cache declared"), "\(error)")
    }

    @Test("invalid YAML and a missing file are clear errors")
    func unreadable() throws {
        let file = try PipelineFile("kafka: [unclosed")
        defer { file.remove() }
        #expect(throws: ConfigurationError.self) { try file.load() }
        let missing = try #require(throws: ConfigurationError.self) { try PipelineConfiguration.load(path: "/nonexistent/pipeline.yaml") }
        #expect(missing.message.contains("--config"))
    }
}

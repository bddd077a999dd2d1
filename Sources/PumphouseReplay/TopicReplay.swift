import Logging
import PumphouseContracts
import PumphouseKafka
import PumphousePipeline
import PumphousePostgres
import PumphouseWriter

/// Folds a cache's whole topic into the state it describes, one change at a time, with
/// the writer's rules (duplicates by origin and sequence collapse, updates of missing
/// rows and bad input change nothing), and compares that state with the database.
public struct TopicReplay: Sendable {
    public struct State: Sendable {
        /// Entity key to full state.
        public var entities: [String: JSONObject] = [:]
        public var contracts = 0
        public var duplicates = 0
        /// Messages a writer would dead-letter (undecodable, invalid, update of a missing row).
        public var rejected = 0
    }

    public struct Difference: Sendable, Hashable, CustomStringConvertible {
        public let key: String
        public let problem: String
        public var description: String { "\(key): \(problem)" }
    }

    let configuration: PipelineConfiguration
    let cache: CacheConfiguration
    let registry: ContractRegistry
    let logger: Logger

    public init(configuration: PipelineConfiguration, cache name: ContractName, logger: Logger) throws(ConfigurationError) {
        guard let cache = configuration.cache(name) else {
            throw ConfigurationError(file: "pipeline", setting: "caches", message: "no cache \(name); declared: \(configuration.caches.map(\.contract.rawValue).joined(separator: ", "))")
        }
        do {
            self.registry = try SchemaRepository(directory: configuration.schemasDirectory).load()
        } catch {
            throw ConfigurationError(file: "pipeline", setting: "schemas", message: "\(error)")
        }
        self.configuration = configuration
        self.cache = cache
        self.logger = logger
    }

    /// Reads every partition from the beginning to its end (partition EOF, not
    /// ListOffsets, which some brokers answer wrongly), bounded by `timeout`.
    public func fold(timeout: Duration = .seconds(300)) async throws -> State {
        let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(connection: configuration.kafka), logger: logger)
        let partitions = try await admin.describeTopic(cache.topic).partitions.map(\.id)
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(connection: configuration.kafka), logger: logger)
        try await consumer.assign(partitions.map { KafkaTopicPartitionOffset(topic: cache.topic, partition: $0, offset: .beginning) })
        var state = State()
        var sequences: [Int32: [String: Int64]] = [:]
        var ended = Set<Int32>()
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ended.count < partitions.count {
            guard ContinuousClock.now < deadline else {
                try await consumer.close()
                throw KafkaError(code: .timedOut, message: "\(partitions.count - ended.count) partition(s) of \(cache.topic) not read to the end within \(timeout)", operation: "replay")
            }
            for event in try await consumer.poll(maxMessages: 10_000, timeout: .milliseconds(200)) {
                switch event {
                case .messages(let messages):
                    for message in messages { apply(message, to: &state, sequences: &sequences[message.partition, default: [:]]) }
                case .partitionEOF(let partition, _):
                    ended.insert(partition.partition)
                default:
                    break
                }
            }
        }
        try await consumer.close()
        return state
    }

    func apply(_ message: KafkaMessage, to state: inout State, sequences: inout [String: Int64]) {
        guard let contract = try? registry.decode(key: message.key, value: message.value, headers: message.headers.map { ($0.name, $0.value) }),
              contract.name == cache.contract
        else {
            state.rejected += 1
            return
        }
        guard contract.sequence > sequences[contract.origin] ?? -1 else {
            state.duplicates += 1
            return
        }
        sequences[contract.origin] = contract.sequence
        state.contracts += 1
        let change = EntityEffect(contract)
        if let row = state.entities[contract.key] {
            // An existing row: the same fold the writer uses, applied to one change.
            switch EntityEffect.upsert(row).then(change) {
            case .upsert(let updated)?: state.entities[contract.key] = updated
            default: state.entities[contract.key] = nil
            }
        } else {
            switch change {
            case .upsert(let row): state.entities[contract.key] = row
            case .delete: break
            case .update: state.rejected += 1  // an update of a missing row
            }
        }
    }

    /// Writes the folded state into a temporary copy of the table through the same
    /// mapping, then lets PostgreSQL compare the live rows column by column.
    public func verify(_ state: State, on db: PostgresConnection, limit: Int = 100) async throws -> [Difference] {
        guard let mapping = cache.mapping else {
            throw ConfigurationError(
                file: "pipeline", setting: "caches.\(cache.contract).mapping",
                message: "is `custom`: only the program that registers its ContractMapper knows its tables, so the database cannot be verified through it; replay without --verify-db"
            )
        }
        let keyField = try registry.schemas(for: cache.contract).definition.keyField
        return try await db.transaction { tx in
            try await tx.execute(script: "CREATE TEMP TABLE pumphouse_replay_expected (LIKE \(SQLIdentifier.quoted(mapping.table)) INCLUDING ALL) ON COMMIT DROP")
            var expectedMapping = mapping
            expectedMapping.table = "pumphouse_replay_expected"
            let expected = MappedTable(contract: cache.contract, mapping: expectedMapping, keyField: keyField)
            var statements: [PostgresStatement] = []
            for (key, row) in state.entities.sorted(by: { $0.key < $1.key }) {
                statements.append(try expected.statement(for: .upsert(row), key: key))
                if statements.count == 1_000 {
                    _ = try await tx.pipeline(statements)
                    statements.removeAll()
                }
            }
            _ = try await tx.pipeline(statements)
            let keys = mapping.keyColumns.map(SQLIdentifier.quoted)
            let compared = mapping.columns.map { SQLIdentifier.quoted($0.name) }.filter { !keys.contains($0) }
            let live = mapping.deleteColumn.map { "WHERE \(SQLIdentifier.quoted($0)) IS NULL" } ?? ""
            let keyText = keys.map { "COALESCE(e.\($0), d.\($0))::text" }.joined(separator: " || '/' || ")
            let differs = compared.isEmpty ? "false" : compared.map { "e.\($0) IS DISTINCT FROM d.\($0)" }.joined(separator: " OR ")
            let rows = try await tx.query("""
                SELECT \(keyText) AS key,
                       CASE WHEN d.\(keys[0]) IS NULL THEN 'missing from the database'
                            WHEN e.\(keys[0]) IS NULL THEN 'in the database but not in the topic'
                            ELSE 'differs: ' || concat_ws(', ', \(compared.isEmpty ? "NULL" : compared.map { "CASE WHEN e.\($0) IS DISTINCT FROM d.\($0) THEN '\($0.replacing("\"", with: "")) ' || coalesce(d.\($0)::text, 'NULL') || ' (expected ' || coalesce(e.\($0)::text, 'NULL') || ')' END" }.joined(separator: ", "))) END AS problem
                FROM pumphouse_replay_expected e
                FULL OUTER JOIN (SELECT * FROM \(SQLIdentifier.quoted(mapping.table)) \(live)) d USING (\(keys.joined(separator: ", ")))
                WHERE e.\(keys[0]) IS NULL OR d.\(keys[0]) IS NULL OR \(differs)
                ORDER BY 1 LIMIT \(limit)
                """).namedRows
            return try rows.map { Difference(key: try $0.decode(String.self, "key"), problem: try $0.decode(String.self, "problem")) }
        }
    }
}

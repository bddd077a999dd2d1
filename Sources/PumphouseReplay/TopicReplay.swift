import Logging
import PumphouseContracts
import PumphouseKafka
import PumphousePipeline
import PumphousePostgres
import PumphouseWriter

/// Folds a cache's topic into the state it describes, one change at a time, with the
/// writer's rules (duplicates by origin and sequence collapse, updates of missing rows
/// and bad input change nothing), and compares that state with the database.
package struct TopicReplay: Sendable {
    package struct State: Sendable {
        /// Entity key (by its bytes, as Kafka and PostgreSQL tell entities apart) to full state.
        package var entities: [ExactKey: JSONObject] = [:]
        package var contracts = 0
        package var duplicates = 0
        /// Messages a writer would dead-letter (undecodable, invalid, update of a missing
        /// row, an ownership claim that changes nothing), fenced changes included.
        package var rejected = 0
        /// Of those, changes of a partitioned cache that a later ownership claim deposed
        /// their maker for (the writer dead-letters them as `fenced`).
        package var fenced = 0
        /// Holes in origins' numbering: changes an origin numbered that the topic does
        /// not hold (see `SequenceContinuity`), in the order found.
        package var sequenceGaps: [SequenceGap] = []
        /// Where each partition was read from, once resolved: a timestamp or `earliest`
        /// only becomes an offset at the broker, and an operator needs to know which.
        package var startOffsets: [Int32: KafkaOffset] = [:]
        /// For each key the fold was asked to trace, every message of it in the order
        /// folded: where it lies, its origin and sequence, its action, the field names it
        /// sets (those it sets to null apart) and adds to, and what the fold did with it.
        /// Names only, never values: enough to see an order or a rule at work.
        package var traces: [ExactKey: [String]] = [:]

        /// One JSON object per entity and line, `{"key":…,"state":{…}}`, keys and field
        /// names in UTF-8 byte order: the same state always gives the same bytes, whatever
        /// order the contracts carried the fields in, so two replays can be compared with
        /// `diff` and sorted alike by `LC_ALL=C sort`.
        package func jsonLines() throws(JSONError) -> [UInt8] {
            var writer = JSONWriter(reservingCapacity: entities.count * 128)
            for (key, row) in entities.sorted(by: { $0.key < $1.key }) {
                let fields = JSONObject(row.members.sorted { ExactKey($0.name) < ExactKey($1.name) })
                try writer.write(["key": .string(key.text), "state": .object(fields)] as JSONObject)
                writer.bytes.append(UInt8(ascii: "\n"))
            }
            return writer.bytes
        }
    }

    /// Where in the topic the fold begins.
    ///
    /// Only `earliest` gives the whole state: from anywhere later the fold lacks the
    /// history before it, so entities added earlier are missing and their updates count
    /// as rejected. Such a state shows what changed, and cannot be compared with a table.
    package enum Start: Sendable, Hashable {
        /// Every partition from its first message.
        case earliest
        /// Listed partitions from these offsets (the next message to read); the others
        /// from their first message.
        case offsets([Int32: Int64])
        /// Every partition from its first message at or after this time (milliseconds
        /// since the Unix epoch), as the broker resolves it through ListOffsets.
        case timestamp(milliseconds: Int64)
    }

    /// The start names partitions the topic does not have: the caller asked for something
    /// that cannot be read, which no retry or timeout will change.
    package struct UnknownPartitions: Error, Sendable, CustomStringConvertible {
        package let topic: String
        package let unknown: [Int32]
        package let existing: [Int32]
        package var description: String {
            let have = existing.isEmpty ? "none" : (existing == Array(0..<Int32(existing.count)) ? "0-\(existing.count - 1)" : existing.map(String.init).joined(separator: ","))
            return "topic \(topic) has no partition \(unknown.map(String.init).joined(separator: ", ")) (its partitions: \(have))"
        }
    }

    package struct Difference: Sendable, Hashable, CustomStringConvertible {
        package let key: String
        package let problem: String
        package var description: String { "\(key): \(problem)" }
    }

    let configuration: PipelineConfiguration
    let cache: CacheConfiguration
    let registry: ContractRegistry
    let logger: Logger

    package init(configuration: PipelineConfiguration, cache name: ContractName, logger: Logger) throws(ConfigurationError) {
        guard let cache = configuration.cache(name) else {
            throw ConfigurationError(file: "pipeline", setting: "caches", message: "no cache \(name); declared: \(configuration.caches.map(\.contract.rawValue).joined(separator: ", "))")
        }
        self.registry = try configuration.loadRegistry()
        self.configuration = configuration
        self.cache = cache
        self.logger = logger
    }

    /// Reads every partition from `start` to its end (partition EOF, not ListOffsets,
    /// which some brokers answer wrongly), the whole of it bounded by `timeout`.
    package func fold(from start: Start = .earliest, timeout: Duration = .seconds(300), tracing traced: Set<ExactKey> = []) async throws -> State {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        var state = State()
        for key in traced { state.traces[key] = [] }
        state.startOffsets = try await startOffsets(start, until: deadline)
        // A partition with nothing at or after the start is done before it begins: reading
        // it from `end` would only ask the broker for an offset it may answer wrongly.
        var ended = Set(state.startOffsets.filter { $0.value == .end }.keys)
        let assigned = state.startOffsets.filter { $0.value != .end }.sorted { $0.key < $1.key }
        guard !assigned.isEmpty else { return state }
        var consumerConfiguration = KafkaConsumerConfiguration(connection: configuration.kafka)
        // An offset outside the log must fail the replay: librdkafka would otherwise reset
        // it to the beginning and fold changes the caller asked to leave out.
        consumerConfiguration.autoOffsetReset = "error"
        let consumer = try KafkaConsumer(configuration: consumerConfiguration, logger: logger)
        try await consumer.assign(assigned.map { KafkaTopicPartitionOffset(topic: cache.topic, partition: $0.key, offset: $0.value) })
        var sequences: [Int32: [ExactKey: SequenceContinuity.Mark]] = [:]
        var ownership: [Int32: PartitionOwnership] = [:]
        // The next batch is polled (on the consumer's own thread) while this one is folded
        // (here): one after the other, each waited for the other, and a replay used less
        // than half of one core.
        func nextPoll() -> Task<[KafkaConsumerEvent], any Error> {
            Task { try await consumer.poll(maxMessages: 10_000, timeout: .milliseconds(200)) }
        }
        // Every way out awaits the poll in flight first: the consumer is closed only once
        // no poll uses it.
        var polling = nextPoll()
        func close() async throws {
            _ = try? await polling.value
            try await consumer.close()
        }
        while ended.count < state.startOffsets.count {
            guard ContinuousClock.now < deadline else {
                try await close()
                let unread = assigned.filter { !ended.contains($0.key) }.map { "\($0.key) (from \($0.value))" }
                // Some brokers (the local Tansu) never answer a fetch past a partition's end,
                // where Kafka answers out of range; such a start ends here, not above.
                let hint = assigned.contains { !ended.contains($0.key) && !$0.value.isLogical } ? "; if a start offset lies past its partition's end, start lower" : ""
                throw KafkaError(code: .timedOut, message: "partition(s) \(unread.joined(separator: ", ")) of \(cache.topic) not read to the end within \(timeout)\(hint)", operation: "replay")
            }
            let events: [KafkaConsumerEvent]
            do {
                events = try await polling.value
            } catch {
                try? await consumer.close()
                throw error
            }
            // Not past the last partition's end: that poll would only wait out its timeout.
            let endedNow = events.reduce(into: ended) { if case .partitionEOF(let partition, _) = $1 { $0.insert(partition.partition) } }
            if endedNow.count < state.startOffsets.count { polling = nextPoll() }
            for event in events {
                switch event {
                case .messages(let messages):
                    for message in messages {
                        apply(message, to: &state, sequences: &sequences[message.partition, default: [:]], ownership: &ownership[message.partition, default: PartitionOwnership()])
                    }
                case .partitionEOF(let partition, _):
                    ended.insert(partition.partition)
                case .error(let error) where error.code == .autoOffsetReset:
                    try await close()
                    throw KafkaError(code: error.code, message: "\(error.message); the start offset is outside the partition's log (past its end, or already deleted by retention)", operation: "replay \(cache.topic)")
                default:
                    break
                }
            }
        }
        try await close()
        return state
    }

    /// Resolves `start` to one offset per partition of the topic, checking what the
    /// caller named against what the topic has.
    func startOffsets(_ start: Start, until deadline: ContinuousClock.Instant) async throws -> [Int32: KafkaOffset] {
        var adminConfiguration = KafkaAdminConfiguration(connection: configuration.kafka)
        adminConfiguration.requestTimeout = min(adminConfiguration.requestTimeout, deadline - .now)
        let admin = try KafkaAdmin(configuration: adminConfiguration, logger: logger)
        let partitions = try await admin.describeTopic(cache.topic).partitions.map(\.id)
        let earliest = Dictionary(uniqueKeysWithValues: partitions.map { ($0, KafkaOffset.beginning) })
        switch start {
        case .earliest:
            return earliest
        case .offsets(let offsets):
            let unknown = offsets.keys.filter { !partitions.contains($0) }.sorted()
            guard unknown.isEmpty else { throw UnknownPartitions(topic: cache.topic, unknown: unknown, existing: partitions.sorted()) }
            return earliest.merging(offsets.mapValues { KafkaOffset($0) }) { _, listed in listed }
        case .timestamp(let milliseconds):
            let found = try await KafkaConsumer.offsets(
                forTimestamp: milliseconds,
                in: partitions.map { KafkaTopicPartition(topic: cache.topic, partition: $0) },
                configuration: KafkaConsumerConfiguration(connection: configuration.kafka),
                timeout: max(.milliseconds(1), deadline - .now),
                logger: logger
            )
            return Dictionary(uniqueKeysWithValues: found.map { ($0.partition, $0.offset) })
        }
    }

    /// One message, as the writer would take it; `ownership` is its partition's (read
    /// only in a partitioned cache: in a replicated one a claim is a stray).
    func apply(_ message: KafkaMessage, to state: inout State, sequences: inout [ExactKey: SequenceContinuity.Mark], ownership: inout PartitionOwnership) {
        let partitioned = cache.mode.isPartitioned
        let contract: Contract
        switch try? registry.decodeRecord(message) {
        case .change(let change)? where change.name == cache.contract:
            contract = change
        case .claim(let claim)? where partitioned:
            if ownership.apply(claim, readFrom: cache.contract, partition: message.partition).rejection != nil { state.rejected += 1 }
            return
        default:
            state.rejected += 1
            return
        }
        let origin = contract.exactOrigin, key = contract.exactKey
        func trace(_ outcome: String) {
            // No lookup per message unless the caller traces something.
            guard !state.traces.isEmpty, state.traces[key] != nil else { return }
            let set = contract.fields.filter { $0.value != .null }.map(\.name), cleared = contract.fields.filter { $0.value == .null }.map(\.name)
            state.traces[key]?.append(
                "\(message.partition)@\(message.offset) origin \(contract.origin) seq \(contract.sequence) \(contract.action.rawValue)"
                    + " sets [\(set.joined(separator: ","))] nulls [\(cleared.joined(separator: ","))] adds [\(contract.deltas.map(\.name).joined(separator: ","))]: \(outcome)"
            )
        }
        switch contract.continuity(after: sequences[origin], checkingHoles: cache.keepsEveryRecord) {
        case .duplicate:
            state.duplicates += 1
            trace("duplicate")
            return
        case .gap(let missing):
            state.sequenceGaps.append(SequenceGap(
                partition: message.topicPartition, origin: contract.origin, incarnation: contract.incarnation, missing: missing, foundAt: message.offset
            ))
        case .next:
            break
        }
        sequences[origin] = contract.sequenceMark
        if partitioned {
            if cache.misplacement(ofKey: contract.key, in: message.partition) != nil {
                state.rejected += 1
                trace("misplaced")
                return
            }
            if ownership.fence(origin: contract.origin, term: contract.ownershipTerm) != nil {
                state.fenced += 1
                state.rejected += 1
                trace("fenced")
                return
            }
        }
        state.contracts += 1
        if EntityEffect(contract).apply(to: &state.entities[key]) {
            state.rejected += 1  // an update of a missing row
            trace("update of a missing row")
        } else {
            trace("applied")
        }
    }

    /// Writes the folded state into a temporary copy of the table through the same
    /// mapping, then lets PostgreSQL compare the live rows column by column.
    package func verify(_ state: State, on db: PostgresConnection, limit: Int = 100) async throws -> [Difference] {
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
            // A state the table refuses (a NUL in text, a value past a column's type, a
            // failed CHECK) is a difference to list, as the writer dead-letters it, not an
            // end of the verification: a refused chunk is stored again row by row.
            var refused: [Difference] = []
            var chunk: [(key: ExactKey, statement: PostgresStatement)] = []
            func store() async throws {
                defer { chunk.removeAll() }
                try await tx.query("SAVEPOINT pumphouse_replay_chunk")
                do {
                    _ = try await tx.pipeline(chunk.map(\.statement))
                    try await tx.query("RELEASE SAVEPOINT pumphouse_replay_chunk")
                    return
                } catch let error as PostgresError where error.isRowError {
                    try await tx.query("ROLLBACK TO SAVEPOINT pumphouse_replay_chunk")
                }
                for (key, statement) in chunk {
                    do {
                        try await tx.query("SAVEPOINT pumphouse_replay_row")
                        _ = try await tx.query(statement)
                        try await tx.query("RELEASE SAVEPOINT pumphouse_replay_row")
                    } catch let error as PostgresError where error.isRowError {
                        try await tx.query("ROLLBACK TO SAVEPOINT pumphouse_replay_row")
                        refused.append(Difference(key: key.text, problem: "the topic's state cannot be stored in the table (the writer dead-letters it as rejected-by-database): \(error)"))
                    }
                }
            }
            for (key, row) in state.entities.sorted(by: { $0.key < $1.key }) {
                chunk.append((key, try expected.statement(for: .upsert(row), key: key.text)))
                if chunk.count == 1_000 { try await store() }
            }
            if !chunk.isEmpty { try await store() }
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
            let found = try rows.map { Difference(key: try $0.decode(String.self, "key"), problem: try $0.decode(String.self, "problem")) }
            // The refused rows are missing from the expected table, so the comparison
            // lists them as in the database only, or not at all: the refusal says more.
            let refusedKeys = Set(refused.map { ExactKey($0.key) })
            return Array((refused + found.filter { !refusedKeys.contains(ExactKey($0.key)) }).prefix(limit))
        }
    }
}

import Foundation
import Logging
import PumphouseContracts
import PumphouseKafka
import PumphousePipeline
import PumphousePostgres
import ServiceLifecycle
import Synchronization

/// A data writer: consumes its caches' data pumps and applies them to PostgreSQL,
/// exactly once and in per-key order.
///
/// Exactly once: the offsets a batch reaches are stored in the same transaction as its
/// rows, and on every assignment the writer resumes from those stored offsets, so a
/// crash at any point either committed a batch whole or not at all. A member that lost a
/// partition cannot commit for it (the claim's epoch fences it). Duplicates of a change
/// (same origin and sequence) collapse. Bad input is dead-lettered before the offset
/// passing it commits. On graceful shutdown the batch in flight finishes and commits.
public final class DataWriter: Service {
    public let name: String
    private let configuration: PipelineConfiguration
    private let writer: WriterConfiguration
    private let registry: ContractRegistry
    private let tables: [ContractName: MappedTable]
    private let topics: [String: ContractName]
    private let logger: Logger
    private let ledger: WriterLedger
    private let counters = Mutex(WriterStatistics())
    private let metrics: WriterMetrics
    /// Live column types per table, read by the start-up catalog check.
    private let columnTypes = Mutex<[ContractName: [String: String]]>([:])

    public init(configuration: PipelineConfiguration, writer name: String, logger: Logger) throws(ConfigurationError) {
        guard let writer = configuration.writer(named: name) else {
            throw ConfigurationError(file: "pipeline", setting: "writers", message: "no writer named \"\(name)\"; declared: \(configuration.writers.map(\.name).joined(separator: ", "))")
        }
        let registry: ContractRegistry
        do {
            registry = try SchemaRepository(directory: configuration.schemasDirectory).load()
        } catch {
            throw ConfigurationError(file: "pipeline", setting: "schemas", message: "\(error)")
        }
        var tables: [ContractName: MappedTable] = [:]
        var topics: [String: ContractName] = [:]
        for contract in writer.caches {
            guard let cache = configuration.cache(contract), let schemas = registry.contracts[contract] else { continue }
            tables[contract] = MappedTable(contract: contract, mapping: cache.mapping, keyField: schemas.definition.keyField)
            topics[cache.topic] = contract
        }
        self.name = name
        self.configuration = configuration
        self.writer = writer
        self.registry = registry
        self.tables = tables
        self.topics = topics
        self.logger = logger
        self.ledger = WriterLedger(writer: name, owner: "\(ProcessInfo.processInfo.hostName)-\(getpid())-\(UInt32.random(in: 0 ... .max))")
        self.metrics = WriterMetrics(writer: name)
    }

    /// Ready once connected, checked and consuming; not while a batch is being retried
    /// (the database or broker is unreachable) or after the writer stopped.
    public var readiness: (isReady: Bool, reason: String) {
        counters.withLock { ($0.state == .consuming, $0.stateReason) }
    }

    /// What the writer has done so far.
    public var statistics: WriterStatistics { counters.withLock { $0 } }

    public func run() async throws {
        logger.info("writer \(name) starting", metadata: ["caches": "\(writer.caches.map(\.rawValue))", "group": "\(writer.group)", "postgres": "\(configuration.postgres.redactedURL)"])
        let db = try await PostgresConnection.connect(configuration: configuration.postgres, logger: logger)
        do {
            let types = try await CatalogCheck.run(tables: Array(tables.values).sorted { $0.contract < $1.contract }, registry: registry, db: db)
            columnTypes.withLock { $0 = types }
        } catch {
            await db.close()
            throw error
        }
        var consumerConfiguration = KafkaConsumerConfiguration(connection: configuration.kafka, groupID: writer.group)
        consumerConfiguration.connection.clientID = "pumphouse-writer-\(name)"
        let consumer = try KafkaConsumer(configuration: consumerConfiguration, logger: logger)
        let deadLetters = try KafkaProducer(configuration: KafkaProducerConfiguration(connection: configuration.kafka), logger: logger)
        try consumer.subscribe(topics: Array(topics.keys).sorted())
        setState(.consuming, "consuming \(topics.keys.sorted().joined(separator: ", "))")
        defer { setState(.stopped, "stopped") }

        var claims: [KafkaTopicPartition: WriterLedger.Claim] = [:]
        defer { counters.withLock { $0.assignedPartitions = 0 } }
        do {
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                var pending: [KafkaMessage] = []
                for event in try await consumer.poll(maxMessages: writer.maxBatchMessages, timeout: writer.maxBatchWait) {
                    switch event {
                    case .messages(let batch):
                        pending += batch
                    case .partitionsAssigned(let partitions):
                        try await process(&pending, claims: &claims, db: db, deadLetters: deadLetters, consumer: consumer)
                        let claimed = try await ledger.claim(partitions, on: db)
                        claims.merge(claimed) { _, new in new }
                        try await consumer.assign(partitions.map { partition in
                            KafkaTopicPartitionOffset(partition, offset: claimed[partition]?.nextOffset.map { KafkaOffset($0) } ?? .beginning)
                        })
                        counters.withLock { $0.assignedPartitions = claims.count }
                        metrics.assignedPartitions.record(claims.count)
                        logger.info("writer \(name) claimed \(partitions)")
                    case .partitionsRevoked(let partitions, _):
                        try await process(&pending, claims: &claims, db: db, deadLetters: deadLetters, consumer: consumer)
                        for partition in partitions { claims[partition] = nil }
                        counters.withLock { $0.assignedPartitions = claims.count }
                        metrics.assignedPartitions.record(claims.count)
                    case .error(let error):
                        logger.warning("writer \(name): \(error)")
                    case .partitionEOF:
                        break
                    }
                }
                try await process(&pending, claims: &claims, db: db, deadLetters: deadLetters, consumer: consumer)
            }
        } catch {
            logger.error("writer \(name) stopped: \(error)")
            try? await consumer.close()
            try? await deadLetters.shutdown()
            await db.close()
            throw error
        }
        logger.info("writer \(name) shutting down after its last batch")
        try await consumer.close()
        try await deadLetters.shutdown()
        await db.close()
    }

    /// Applies a batch, retrying transient failures (database or broker unreachable,
    /// serialization conflicts) with backoff; they dead-letter nothing.
    private func process(
        _ messages: inout [KafkaMessage],
        claims: inout [KafkaTopicPartition: WriterLedger.Claim],
        db: PostgresConnection,
        deadLetters: KafkaProducer,
        consumer: KafkaConsumer
    ) async throws {
        guard !messages.isEmpty else { return }
        defer { messages.removeAll() }
        let started = ContinuousClock.now
        var plan = BatchPlan(messages: messages, claims: claims, registry: registry) { contract, topic in
            topics[topic] == contract
        }
        var attempt = 0
        var isolated = false
        while true {
            do {
                try await apply(&plan, claims: claims, db: db, deadLetters: deadLetters, isolated: isolated)
                break
            } catch is IsolationNeeded {
                isolated = true
            } catch let fenced as WriterLedger.Fenced {
                logger.warning("writer \(name): \(fenced)")
                claims[fenced.partition] = nil
                return
            } catch where Self.isTransient(error) {
                attempt += 1
                let delay = Duration.milliseconds(min(5_000, 100 << min(attempt, 6)))
                logger.warning("writer \(name): batch not applied (attempt \(attempt)), retrying in \(delay): \(error)")
                counters.withLock { $0.retries += 1 }
                metrics.retries.increment()
                setState(.retrying, "retrying a batch: \(error)")
                try await Task.sleep(for: delay)
            }
        }
        if attempt > 0 { setState(.consuming, "consuming \(topics.keys.sorted().joined(separator: ", "))") }
        for (partition, next) in plan.nextOffsets {
            claims[partition]?.nextOffset = next
            for (origin, sequence) in plan.sequences[partition] ?? [:] { claims[partition]?.maxSequence[origin] = sequence }
        }
        // Kafka's own group offsets only show lag to broker tools; PostgreSQL holds the
        // truth, so this commit is not waited for.
        try? consumer.commitInBackground(plan.nextOffsets.map { KafkaTopicPartitionOffset($0.key, offset: KafkaOffset($0.value)) })
        let consumed = messages.count
        metrics.consumed.increment(by: consumed)
        metrics.applied.increment(by: plan.applied)
        metrics.duplicates.increment(by: plan.duplicates)
        metrics.batchSize.record(consumed)
        metrics.batchDuration.record(duration: ContinuousClock.now - started)
        for (reason, letters) in Dictionary(grouping: plan.deadLetters, by: \.reason) {
            metrics.deadLettered(reason: reason, count: letters.count)
        }
        for (partition, next) in plan.nextOffsets {
            metrics.progress(partition, nextOffset: next, highWatermark: consumer.cachedWatermarks(partition)?.high)
        }
        counters.withLock {
            $0.consumed += consumed
            $0.applied += plan.applied
            $0.deadLettered += plan.deadLetters.count
            $0.duplicates += plan.duplicates
            $0.batches += 1
        }
    }

    /// One transaction: rows, dead letters (acknowledged by the broker first), origin
    /// sequences and offsets. A row the database rejects (a data or constraint error) is
    /// isolated with savepoints and dead-lettered; the rest of the batch proceeds.
    private func apply(
        _ plan: inout BatchPlan,
        claims: [KafkaTopicPartition: WriterLedger.Claim],
        db: PostgresConnection,
        deadLetters: KafkaProducer,
        isolated: Bool
    ) async throws {
        let letters = plan.deadLetters
        let tablesByContract = tables
        /// Per-entity statements, built only where they are used (the isolation path and
        /// what the set-based path leaves over); an effect the mapping cannot express is
        /// dead-lettered.
        @Sendable func statements(for keys: [BatchPlan.EntityKey], entities: [BatchPlan.EntityKey: BatchPlan.Entity])
            -> (statements: [(key: BatchPlan.EntityKey, statement: PostgresStatement, isUpdate: Bool)], letters: [DeadLetter])
        {
            var statements: [(key: BatchPlan.EntityKey, statement: PostgresStatement, isUpdate: Bool)] = []
            var letters: [DeadLetter] = []
            for key in keys {
                guard let entity = entities[key], let table = tablesByContract[key.contract] else { continue }
                do {
                    let statement = try table.statement(for: entity.effect, key: key.key)
                    if case .update = entity.effect { statements.append((key, statement, true)) } else { statements.append((key, statement, false)) }
                } catch {
                    letters += entity.messages.map { DeadLetter(message: $0, reason: "unmappable", detail: "\(error)") }
                }
            }
            return (statements, letters)
        }
        let writerName = name
        let deadLetterTopic = writer.deadLetterTopic
        let ledger = self.ledger
        let nextOffsets = plan.nextOffsets
        let sequences = plan.sequences
        let entities = plan.entities
        let order = plan.order
        let tables = self.tables
        let types = columnTypes.withLock { $0 }
        let applied = try await db.transaction { tx -> (applied: Int, letters: [DeadLetter]) in
            var letters = letters
            var applied = 0
            func account(_ item: (key: BatchPlan.EntityKey, statement: PostgresStatement, isUpdate: Bool), _ result: PostgresResult) {
                if item.isUpdate && result.affectedRows == 0 {
                    letters += Self.missingRow(entities[item.key]!, item.key)
                } else {
                    applied += 1
                }
            }
            if isolated {
                let (statements, unmappable) = statements(for: order, entities: entities)
                letters += unmappable
                // One savepoint per entity: a rejected row is rolled back alone.
                for item in statements {
                    try await tx.query("SAVEPOINT pumphouse_entity")
                    do {
                        account(item, try await tx.query(item.statement))
                        try await tx.query("RELEASE SAVEPOINT pumphouse_entity")
                    } catch let error as PostgresError where Self.isDataError(error) {
                        try await tx.query("ROLLBACK TO SAVEPOINT pumphouse_entity")
                        letters += entities[item.key]!.messages.map { DeadLetter(message: $0, reason: "rejected-by-database", detail: "\(error)") }
                    }
                }
            } else {
                do {
                    // COPY and one statement per kind of change, per table; what that
                    // path cannot express goes through per-entity statements.
                    var leftOver: [BatchPlan.EntityKey] = []
                    for (contract, keys) in Dictionary(grouping: order, by: \.contract).sorted(by: { $0.key < $1.key }) {
                        guard let table = tables[contract] else { continue }
                        let outcome = try await SetBasedApply(table: table, columnTypes: types[contract] ?? [:]).apply(keys, entities: entities, in: tx)
                        applied += outcome.applied.count
                        for key in outcome.missing { letters += Self.missingRow(entities[key]!, key) }
                        leftOver += outcome.leftOver
                    }
                    let (remaining, unmappable) = statements(for: leftOver, entities: entities)
                    letters += unmappable
                    let results = try await tx.pipeline(remaining.map(\.statement))
                    for (item, result) in zip(remaining, results) { account(item, result) }
                } catch let error as PostgresError where Self.isDataError(error) {
                    throw IsolationNeeded()
                } catch is MappedTable.MappingFailure {
                    throw IsolationNeeded()
                }
            }
            for letter in letters {
                _ = try await deadLetters.deliver(letter.producerMessage(topic: deadLetterTopic, writer: writerName))
            }
            try await ledger.record(nextOffsets: nextOffsets, sequences: sequences, claims: claims, in: tx)
            return (applied, letters)
        }
        plan.applied = applied.applied
        plan.deadLetters = applied.letters
    }

    private func setState(_ state: WriterStatistics.State, _ reason: String) {
        counters.withLock {
            $0.state = state
            $0.stateReason = reason
        }
    }

    // MARK: Classification

    struct IsolationNeeded: Error {}

    static func missingRow(_ entity: BatchPlan.Entity, _ key: BatchPlan.EntityKey) -> [DeadLetter] {
        entity.messages.map { DeadLetter(message: $0, reason: "missing-row", detail: "update of \(key.contract) \"\(key.key)\", which has no row") }
    }

    /// Data and constraint errors (SQLSTATE classes 22 and 23) belong to one row.
    static func isDataError(_ error: PostgresError) -> Bool {
        error.kind == .server && ["22", "23"].contains(error.sqlState?.errorClass ?? "")
    }

    static func isTransient(_ error: any Error) -> Bool {
        if let error = error as? PostgresError { return error.isTransient }
        if let error = error as? KafkaError { return !error.isFatal && error.code != .invalidArgument }
        return false
    }
}

/// Counters of a writer's work, for tests, logs and metrics.
public struct WriterStatistics: Sendable, Hashable {
    public var consumed = 0
    /// Entities changed (folded effects applied).
    public var applied = 0
    public var deadLettered = 0
    public var duplicates = 0
    public var batches = 0
    public var retries = 0
    public var assignedPartitions = 0

    public enum State: Sendable, Hashable {
        case starting, consuming, retrying, stopped
    }

    public var state = State.starting
    public var stateReason = "starting"
}

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
///
/// Batches overlap: while one batch's transaction runs, the next is polled and planned
/// (decoded, validated, folded), so the writer's CPU work and PostgreSQL's proceed side
/// by side. Only one transaction is ever open, and a batch is planned against the
/// progress of the one before it, as if that one had committed; if it is fenced
/// instead, the next batch is planned again without the lost partitions.
public final class DataWriter: Service {
    public let name: String
    private let configuration: PipelineConfiguration
    private let writer: WriterConfiguration
    private let registry: ContractRegistry
    private let tables: [ContractName: MappedTable]
    private let mappers: [ContractName: any ContractMapper]
    private let topics: [String: ContractName]
    /// The partitioned caches among `topics`, by topic.
    private let partitionedTopics: [String: CacheConfiguration]
    /// Topics whose compaction removes records, where holes in numbering are not losses.
    private let compactedTopics: Set<String>
    private let logger: Logger
    private let ledger: WriterLedger
    private let counters = Mutex(WriterStatistics())
    private let metrics: WriterMetrics
    /// The connection `prepare(on:)` checked, with the column types it found.
    private let prepared = CheckedConnection<[ContractName: [String: String]]>()

    /// Checks the named writer's caches against the pipeline file and the schemas; it
    /// connects to nothing until it runs (`prepare(on:)` checks the database first).
    ///
    /// - Parameters:
    ///   - configuration: The pipeline file, which names the writer, its caches and their
    ///     mappings.
    ///   - name: The writer's name under `writers` in the pipeline file.
    ///   - mappers: Swift mappers for the caches that declare `mapping: custom`; each such
    ///     cache needs one, and a mapper for any other cache replaces its mapping.
    ///   - logger: Where the writer logs; row data never reaches it.
    public init(
        configuration: PipelineConfiguration,
        writer name: String,
        mappers: [ContractName: any ContractMapper] = [:],
        logger: Logger
    ) throws(ConfigurationError) {
        guard let writer = configuration.writer(named: name) else {
            throw ConfigurationError(file: "pipeline", setting: "writers", message: "no writer named \"\(name)\"; declared: \(configuration.writers.map(\.name).joined(separator: ", "))")
        }
        let registry = try configuration.loadRegistry()
        var tables: [ContractName: MappedTable] = [:]
        var used: [ContractName: any ContractMapper] = [:]
        var topics: [String: ContractName] = [:]
        for contract in writer.caches {
            guard let cache = configuration.cache(contract), let schemas = registry.contracts[contract] else { continue }
            topics[cache.topic] = contract
            if let mapper = mappers[contract] {
                used[contract] = mapper
            } else if let mapping = cache.mapping {
                tables[contract] = MappedTable(contract: contract, mapping: mapping, keyField: schemas.definition.keyField)
            } else {
                throw ConfigurationError(
                    file: "pipeline", setting: "caches.\(contract).mapping",
                    message: "is `custom`, but no ContractMapper was registered for \(contract); host the writer in a program that passes one to DataWriter(mappers:), or declare a table mapping"
                )
            }
        }
        if let stray = mappers.keys.filter({ !writer.caches.contains($0) }).sorted().first {
            throw ConfigurationError(file: "pipeline", setting: "writers.\(name).caches", message: "a mapper was registered for \(stray), which this writer does not consume")
        }
        self.name = name
        self.configuration = configuration
        self.writer = writer
        self.registry = registry
        self.tables = tables
        self.mappers = used
        self.topics = topics
        self.partitionedTopics = topics.compactMapValues { configuration.cache($0) }.filter(\.value.mode.isPartitioned)
        self.compactedTopics = Set(topics.filter { configuration.cache($0.value)?.keepsEveryRecord == false }.keys)
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

    /// Checks the table mappings and mappers against the database on `db`, and keeps the
    /// connection for `run`, which otherwise connects and checks first itself. A command
    /// calls this before it serves or joins anything, so a mistake leaves nothing behind,
    /// and the check still runs once.
    public func prepare(on db: PostgresConnection) async throws {
        await prepared.keep(db, try await checkCatalog(on: db))
    }

    private func checkCatalog(on db: PostgresConnection) async throws -> [ContractName: [String: String]] {
        let types = try await CatalogCheck.run(tables: Array(tables.values).sorted { $0.contract < $1.contract }, registry: registry, db: db)
        for (_, mapper) in mappers.sorted(by: { $0.key < $1.key }) { try await mapper.check(db) }
        return types
    }

    public func run() async throws {
        let postgres = try configuration.postgres
        logger.info("writer \(name) starting", metadata: ["caches": "\(writer.caches.map(\.rawValue))", "group": "\(writer.group)", "postgres": "\(postgres.redactedURL)"])
        let (db, types) = try await prepared.take(connecting: postgres, logger: logger) { try await checkCatalog(on: $0) }
        let transaction = BatchTransaction(writer: name, deadLetterTopic: writer.deadLetterTopic, ledger: ledger, tables: tables, mappers: mappers, columnTypes: types)
        var consumerConfiguration = KafkaConsumerConfiguration(connection: configuration.kafka, groupID: writer.group)
        consumerConfiguration.connection.clientID = "pumphouse-writer-\(name)"
        // A stored offset the log no longer holds must stop the writer, not move it to
        // the log's start and skip everything below the stored offset as applied.
        // Partitions with nothing stored start at offset 0 and follow retention.
        consumerConfiguration.autoOffsetReset = "error"
        // The writer holds the batch it plans and the batch committing; a backlog read
        // further ahead than 16 MiB, or a batch of a partition, only sits in memory:
        // librdkafka's defaults added about 55 MiB to a drain's peak (docs/writers.md).
        consumerConfiguration.prefetch = .init(kilobytes: 16 * 1024, messages: writer.maxBatchMessages)
        consumerConfiguration.fetchInterval = writer.fetchInterval
        let consumer = try KafkaConsumer(configuration: consumerConfiguration, logger: logger)
        let deadLetters = try KafkaProducer(configuration: KafkaProducerConfiguration(connection: configuration.kafka), logger: logger)
        try await consumer.subscribe(topics: Array(topics.keys).sorted())
        setState(.consuming, consumingReason)
        defer { setState(.stopped, "stopped") }

        var loop = Loop(writer: self, transaction: transaction, db: db, consumer: consumer, deadLetters: deadLetters)
        defer { counters.withLock { $0.assignedPartitions = 0 } }
        do {
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                var pending: [KafkaMessage] = []
                // Reset reports come one per partition; they are checked together, after
                // the poll's other events, with one look at the log's bounds.
                var resets: Set<KafkaTopicPartition> = []
                for event in try await consumer.poll(maxMessages: writer.maxBatchMessages, timeout: writer.maxBatchWait, fill: writer.maxBatchWait) {
                    switch event {
                    case .messages(let batch):
                        pending += batch
                    case .partitionsAssigned(let partitions):
                        try await loop.drain(&pending)
                        let claimed = try await claim(partitions, in: ledger, on: db)
                        loop.claims.merge(claimed) { _, new in new }
                        // Offset 0, not `.beginning`, where nothing is stored: a reset
                        // report is the writer's to judge (`checkReset`), and the
                        // consumer's own restart from `.beginning` asks the broker where
                        // the log starts, which the local one has answered wrongly.
                        try await consumer.assign(partitions.map { partition in
                            KafkaTopicPartitionOffset(partition, offset: KafkaOffset(claimed[partition]?.nextOffset ?? 0))
                        })
                        assigned(loop.claims.count)
                        logger.info("writer \(name) claimed \(partitions)")
                    case .partitionsRevoked(let partitions, _):
                        try await loop.drain(&pending)
                        for partition in partitions { loop.claims[partition] = nil }
                        assigned(loop.claims.count)
                    case .error(let error):
                        if error.code == .autoOffsetReset, let partition = error.topicPartition, loop.claims[partition] != nil {
                            resets.insert(partition)
                            continue
                        }
                        logger.warning("writer \(name): \(error)")
                    case .partitionEOF:
                        break
                    }
                }
                // Revoked since the report: no longer this writer's to judge.
                let claimed = resets.compactMap { partition in loop.claims[partition].map { (partition, $0) } }
                if !claimed.isEmpty { try await checkResets(Dictionary(uniqueKeysWithValues: claimed), consumer: consumer, configuration: consumerConfiguration) }
                try await loop.submit(&pending)
            }
            try await loop.finish()
        } catch {
            logger.error("writer \(name) stopped: \(error)")
            await loop.abandon()
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

    /// A batch as planned: the claims it was planned against, so it can be planned
    /// again if one of them is lost.
    struct PlannedBatch: Sendable {
        var messages: [KafkaMessage]
        var claims: [KafkaTopicPartition: WriterLedger.Claim]
        var plan: BatchPlan
        let started: ContinuousClock.Instant
    }

    /// A batch once committed, or the partitions it lost on the way.
    struct AppliedBatch: Sendable {
        var batch: PlannedBatch
        var fenced: Set<KafkaTopicPartition>
    }

    /// The consume loop's state: the claims (advanced by every planned batch) and the
    /// one batch whose transaction may be in flight.
    struct Loop {
        let writer: DataWriter
        let transaction: BatchTransaction
        let db: PostgresConnection
        let consumer: KafkaConsumer
        let deadLetters: KafkaProducer
        var claims: [KafkaTopicPartition: WriterLedger.Claim] = [:]
        private var inFlight: Task<AppliedBatch, any Error>?

        init(writer: DataWriter, transaction: BatchTransaction, db: PostgresConnection, consumer: KafkaConsumer, deadLetters: KafkaProducer) {
            self.writer = writer
            self.transaction = transaction
            self.db = db
            self.consumer = consumer
            self.deadLetters = deadLetters
        }

        /// Plans `messages` while the previous batch commits, then starts their
        /// transaction. With no messages (a quiet poll), waits for the batch in flight,
        /// so its progress shows without waiting for more traffic.
        mutating func submit(_ messages: inout [KafkaMessage]) async throws {
            guard !messages.isEmpty else {
                try await finish()
                return
            }
            defer { messages.removeAll() }
            var batch = writer.plan(messages, claims: claims, started: .now)
            advance(by: batch.plan)
            let fenced = try await settle()
            if !fenced.isEmpty && !fenced.isDisjoint(with: batch.claims.keys) {
                batch = writer.plan(batch.messages, claims: batch.claims.filter { !fenced.contains($0.key) }, started: batch.started)
            }
            let (writer, transaction, db, deadLetters) = (self.writer, self.transaction, self.db, self.deadLetters)
            inFlight = Task { try await writer.apply(batch, transaction: transaction, db: db, deadLetters: deadLetters) }
        }

        /// Applies `messages` and waits until nothing is in flight: before a rebalance
        /// is acknowledged and before shutdown.
        mutating func drain(_ messages: inout [KafkaMessage]) async throws {
            try await submit(&messages)
            try await finish()
        }

        /// Waits for the batch in flight to commit.
        mutating func finish() async throws {
            _ = try await settle()
        }

        /// Cancels the batch in flight (its transaction rolls back) and waits for it.
        mutating func abandon() async {
            inFlight?.cancel()
            _ = await inFlight?.result
            inFlight = nil
        }

        /// Waits for the batch in flight; returns the partitions it found fenced.
        private mutating func settle() async throws -> Set<KafkaTopicPartition> {
            guard let task = inFlight else { return [] }
            inFlight = nil
            let applied = try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
            for partition in applied.fenced { claims[partition] = nil }
            writer.record(applied.batch, consumer: consumer)
            if !applied.fenced.isEmpty { writer.assigned(claims.count) }
            return applied.fenced
        }

        /// The claims as they will be once `plan` commits.
        private mutating func advance(by plan: BatchPlan) {
            for (partition, next) in plan.nextOffsets {
                claims[partition]?.nextOffset = next
                for (origin, mark) in plan.sequences[partition] ?? [:] { claims[partition]?.maxSequence[origin] = mark }
                if let ownership = plan.ownership[partition] { claims[partition]?.ownership = ownership }
            }
        }
    }

    func plan(_ messages: [KafkaMessage], claims: [KafkaTopicPartition: WriterLedger.Claim], started: ContinuousClock.Instant) -> PlannedBatch {
        let topics = self.topics
        let plan = BatchPlan(messages: messages, claims: claims, registry: registry, partitioned: partitionedTopics, compacted: compactedTopics) { contract, topic in topics[topic] == contract }
        return PlannedBatch(messages: messages, claims: claims, plan: plan, started: started)
    }

    /// Applies a batch, retrying transient failures (database or broker unreachable,
    /// serialization conflicts) with backoff; they dead-letter nothing. A partition
    /// found fenced is dropped from the batch, which is planned again and applied.
    func apply(_ batch: PlannedBatch, transaction: BatchTransaction, db: PostgresConnection, deadLetters: KafkaProducer) async throws -> AppliedBatch {
        var batch = batch
        var fenced: Set<KafkaTopicPartition> = []
        var attempt = 0
        var isolated = false
        while true {
            do {
                try await transaction.apply(&batch.plan, claims: batch.claims, db: db, deadLetters: deadLetters, isolated: isolated)
                break
            } catch is BatchTransaction.IsolationNeeded {
                isolated = true
                counters.withLock { $0.isolatedBatches += 1 }
                metrics.isolatedBatches.increment()
            } catch let lost as WriterLedger.Fenced {
                logger.warning("writer \(name): \(lost)")
                fenced.insert(lost.partition)
                batch = plan(batch.messages, claims: batch.claims.filter { $0.key != lost.partition }, started: batch.started)
                isolated = false
            } catch where Self.isTransient(error) {
                attempt += 1
                try await waitToRetry(attempt, after: error, "a batch")
            }
        }
        if attempt > 0 { setState(.consuming, consumingReason) }
        return AppliedBatch(batch: batch, fenced: fenced)
    }

    /// Claims partitions the group assigned, retrying transient failures as a batch does:
    /// the database away while the group hands partitions over must pause the writer, not
    /// stop it.
    private func claim(_ partitions: [KafkaTopicPartition], in ledger: WriterLedger, on db: PostgresConnection) async throws -> [KafkaTopicPartition: WriterLedger.Claim] {
        var attempt = 0
        while true {
            do {
                let claimed = try await ledger.claim(partitions, on: db)
                if attempt > 0 { setState(.consuming, consumingReason) }
                return claimed
            } catch where Self.isTransient(error) {
                attempt += 1
                try await waitToRetry(attempt, after: error, "the claim of \(partitions.count) assigned partition(s)")
            }
        }
    }

    /// What the writer says while it consumes.
    private var consumingReason: String { "consuming \(topics.keys.sorted().joined(separator: ", "))" }

    /// Counts a retry of `what`, says why the writer is not ready, and waits: 0.2 s after
    /// the first failure, twice as long after each next, at most 5 s.
    private func waitToRetry(_ attempt: Int, after error: any Error, _ what: String) async throws {
        let delay = Duration.milliseconds(min(5_000, 100 << min(attempt, 6)))
        logger.warning("writer \(name): \(what) failed (attempt \(attempt)), retrying in \(delay): \(error)")
        counters.withLock { $0.retries += 1 }
        metrics.retries.increment()
        setState(.retrying, "retrying \(what): \(error)")
        try await Task.sleep(for: delay)
    }

    /// Counts a committed batch and tells the group how far it got. Kafka's own group
    /// offsets only show lag to broker tools; PostgreSQL holds the truth, so that commit
    /// is not waited for.
    private func record(_ batch: PlannedBatch, consumer: KafkaConsumer) {
        let plan = batch.plan
        try? consumer.commitInBackground(plan.nextOffsets.map { KafkaTopicPartitionOffset($0.key, offset: KafkaOffset($0.value)) })
        let consumed = batch.messages.count
        metrics.consumed.increment(by: consumed)
        metrics.applied.increment(by: plan.applied)
        metrics.duplicates.increment(by: plan.duplicates)
        metrics.passedOver(unclaimed: plan.unclaimed, appliedBefore: plan.appliedBefore)
        metrics.sequenceGaps(plan.gaps)
        // Origins are unit ids, not row data; a flood of holes is told in one line.
        for gap in plan.gaps.prefix(Self.gapsLogged) {
            logger.error("writer \(name): \(gap); those changes are lost to this writer (recorded in pumphouse_writer_sequence_gaps; docs/operations.md, Logs)")
        }
        if plan.gaps.count > Self.gapsLogged {
            logger.error("writer \(name): \(plan.gaps.count - Self.gapsLogged) more sequence gap(s) in this batch, recorded in pumphouse_writer_sequence_gaps")
        }
        metrics.batchSize.record(consumed)
        metrics.batchDuration.record(duration: ContinuousClock.now - batch.started)
        for (reason, letters) in Dictionary(grouping: plan.deadLetters, by: \.reason) {
            metrics.deadLettered(reason: reason, count: letters.count)
        }
        for (partition, next) in plan.nextOffsets {
            metrics.progress(partition, nextOffset: next, highWatermark: consumer.cachedWatermarks(partition)?.high)
        }
        // The consumer counts gaps since it started; the metric takes what is new.
        let gaps = consumer.offsetGaps
        let newGaps = counters.withLock { counters in
            counters.consumed += consumed
            counters.applied += plan.applied
            counters.deadLettered += plan.deadLetters.count
            counters.duplicates += plan.duplicates
            counters.passedOverUnclaimed += plan.unclaimed
            counters.passedOverAppliedBefore += plan.appliedBefore
            counters.sequenceGaps += plan.gaps.count
            counters.missingChanges += plan.gaps.missingChanges
            counters.batches += 1
            defer { (counters.offsetGapsReread, counters.offsetGapsAbsent) = gaps }
            return (reread: gaps.reread - counters.offsetGapsReread, absent: gaps.absent - counters.offsetGapsAbsent)
        }
        metrics.offsetGaps(reread: newGaps.reread, absent: newGaps.absent)
    }

    /// Gaps logged one by one per batch; the rest are counted in one line.
    static let gapsLogged = 5

    private func assigned(_ count: Int) {
        counters.withLock { $0.assignedPartitions = count }
        metrics.assignedPartitions.record(count)
    }

    private func setState(_ state: WriterStatistics.State, _ reason: String) {
        counters.withLock {
            $0.state = state
            $0.stateReason = reason
        }
    }

    /// Called when the broker said claimed partitions' offsets are not in their logs.
    /// With bounds read afresh (one look for all of them): a stored offset outside them
    /// throws `StoredOffsetOutsideLog`; a partition with nothing stored whose offset 0
    /// retention has deleted moves to where the log now starts (logged: those messages
    /// were never applied by this writer).
    ///
    /// The report alone does not say which. The group's rebalance places a partition at
    /// its committed offset before the writer moves it to the offset stored in
    /// PostgreSQL, and a group without one (new, or whose commits never reached the
    /// broker: they are only a courtesy to tools) reports a reset for that first
    /// placement, for every partition: looked at one by one, a new group's start waited
    /// about half a second per partition on the local stack. Bounds the broker does not
    /// give within 10 s leave the partitions where the writer placed them (a stored
    /// offset truly outside the log then shows as lag that does not fall, and in
    /// `pumphouse status`).
    private func checkResets(_ claims: [KafkaTopicPartition: WriterLedger.Claim], consumer: KafkaConsumer, configuration: KafkaConsumerConfiguration) async throws {
        let partitions = claims.keys.sorted()
        let logs: [KafkaTopicPartition: KafkaWatermarks]
        do {
            logs = try await KafkaConsumer.watermarks(of: partitions, configuration: configuration, until: .now + .seconds(10), logger: logger)
        } catch {
            logger.warning("writer \(name): the broker reported the offsets of \(partitions) outside their logs, and the logs' bounds could not be read to check: \(error)")
            return
        }
        var moves: [KafkaTopicPartitionOffset] = []
        for partition in partitions {
            guard let log = logs[partition], let claim = claims[partition] else { continue }
            guard let stored = claim.nextOffset else {
                guard log.low > 0 else { continue }
                logger.warning("writer \(name): \(partition) starts at offset \(log.low), where its log now starts: retention deleted the messages before it, and no writer \(name) had stored progress there")
                moves.append(KafkaTopicPartitionOffset(partition, offset: KafkaOffset(log.low)))
                continue
            }
            guard stored < log.low || stored > log.high else { continue }
            throw StoredOffsetOutsideLog(writer: name, partition: partition, storedOffset: stored, watermarks: log)
        }
        if !moves.isEmpty { try await consumer.seek(moves) }
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
    /// Consumed messages passed over because this member held no claim for their
    /// partition (read again by whoever claims it), or because they lay below the claim's
    /// stored offset (applied before).
    public var passedOverUnclaimed = 0
    public var passedOverAppliedBefore = 0
    /// Gaps in partitions' offsets the consumer read again and found filled (the broker
    /// served records out of offset order), and gaps no record fills (compaction,
    /// transaction markers, retention). See `KafkaConnectionConfiguration.offsetGapRecheck`.
    public var offsetGapsReread = 0
    public var offsetGapsAbsent = 0
    /// Holes found in origins' sequence numbering (changes an origin numbered that are
    /// not in the log), and the changes they miss; each is a row of
    /// pumphouse_writer_sequence_gaps. See `SequenceContinuity`.
    public var sequenceGaps = 0
    public var missingChanges = 0
    public var batches = 0
    /// Batches run again entity by entity, each in a savepoint, because a row of the
    /// set-based path failed (rejected by the database, or not mappable), which that path
    /// cannot pin to one entity.
    public var isolatedBatches = 0
    public var retries = 0
    public var assignedPartitions = 0

    public enum State: Sendable, Hashable {
        case starting, consuming, retrying, stopped
    }

    public var state = State.starting
    public var stateReason = "starting"
}

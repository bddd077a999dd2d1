import Foundation
import Logging
import PumphouseBlocking
import PumphouseContracts
import PumphouseKafka
import PumphousePipeline
import PumphousePostgres

/// Loads one named cache through the reverse pump before the unit applies its topic.
///
/// Cold start (no loaded peer): the units that start contend for the cache's load lock,
/// a PostgreSQL advisory lock held in a transaction. The winner asks the data readers
/// for the whole cache, reads the answer, and records where the answer starts in
/// `pumphouse_cache_loads` in the same transaction, whose commit frees the lock. The
/// others wait, see the new record, and read the same answer: the database is read
/// once however many units start. If the winner dies its connection closes and the lock
/// is free at once; if it hangs, PostgreSQL ends its session after the lease.
///
/// Warm start: a loaded peer names the answer it loaded from, and the joining unit reads
/// that answer; no database involved.
struct CacheLoader: Sendable {
    let unit: String
    let cache: CacheConfiguration
    let pipeline: PipelineConfiguration
    let configuration: UnitConfiguration
    let registry: ContractRegistry
    let sink: any LoadSink
    let control: KafkaProducer
    let logger: Logger
    /// When the unit started, in epoch milliseconds.
    let startedAt: Int64

    /// A finished load: the answer it came from and where to start on the topic.
    struct Loaded: Sendable {
        var snapshot: CacheSnapshot
        var rows: Int64
        var offsets: [Int32: Int64]
        /// From asking (or starting to read a recorded answer) to the last row applied.
        var duration: Duration

        var rate: String {
            let seconds = duration.inSeconds
            return "\(rows) rows in \(String(format: "%.3f", seconds)) s (\(seconds > 0 ? Int(Double(rows) / seconds) : 0) rows/s)"
        }
    }

    /// Loads the answer a peer loaded from; nil if it is no longer on the topic.
    func warm(from snapshot: CacheSnapshot, deadline: ContinuousClock.Instant) async throws -> Loaded? {
        logger.info("\(cache.contract): loading the \(snapshot) that live peers loaded from, without the database")
        return try await readAnswer(snapshot.request, from: .init(snapshot.offset), deadline: deadline, beforeRequest: nil)
    }

    /// The cold-start protocol; throws `CacheLoadError` if no load finishes in time.
    func cold(deadline: ContinuousClock.Instant) async throws -> Loaded {
        let db = try await PostgresConnection.connect(configuration: pipeline.postgres, logger: logger)
        do {
            let loaded = try await cold(on: db, deadline: deadline)
            await db.close()
            return loaded
        } catch {
            await db.close()
            throw error
        }
    }

    private func cold(on db: PostgresConnection, deadline: ContinuousClock.Instant) async throws -> Loaded {
        let lock = PostgresAdvisoryLockKey(name: Self.lockName(topic: cache.topic))
        // A load recorded shortly before this unit started (by a unit of the same outage)
        // is as good as a new one; an older one is not reused: the database is fresher,
        // and an old answer's offsets may be gone from the topic.
        var seen = try await db.query(
            "SELECT coalesce(max(generation), 0) FROM pumphouse_cache_loads WHERE topic = $1 AND loaded_at < to_timestamp($2::double precision / 1000)",
            [cache.topic, startedAt - configuration.loadReuseWindow.milliseconds]
        ).scalar(Int64.self) ?? 0
        var waiting = false
        while ContinuousClock.now < deadline {
            let outcome: Loaded?
            do {
                outcome = try await step(on: db, lock: lock, seen: &seen, deadline: deadline)
            } catch let error as CacheLoadError where error.isPermanent {
                throw error
            } catch {
                // The broker or the database had a moment: the lock (if held) went with
                // the rolled-back transaction; try again while there is time.
                logger.warning("\(cache.contract): load attempt failed, retrying: \(error)")
                try await Task.sleep(for: .milliseconds(500))
                continue
            }
            if let outcome { return outcome }
            if !waiting {
                waiting = true
                logger.info("\(cache.contract): another unit holds the load lock; waiting for its load")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw CacheLoadError(cache: cache.contract, message: "no load finished within \(configuration.loadTimeout); is a data reader (`pumphouse reader`) running and the lock holder alive?")
    }

    /// One round: read a load recorded since `seen`, or else try the lock; nil if
    /// neither gave a load (another unit holds the lock, or the recorded answer is gone).
    private func step(on db: PostgresConnection, lock: PostgresAdvisoryLockKey, seen: inout Int64, deadline: ContinuousClock.Instant) async throws -> Loaded? {
        if let record = try await newerLoad(than: seen, on: db) {
            seen = record.generation
            guard let loaded = try await readAnswer(record.snapshot.request, from: .init(record.snapshot.offset), deadline: deadline, beforeRequest: nil) else {
                return nil
            }
            logger.info("\(cache.contract): loaded the \(record.snapshot) that \(record.loadedBy) asked for: \(loaded.rate)")
            return loaded
        }
        guard let loaded = try await attempt(on: db, lock: lock, seen: seen, deadline: deadline) else { return nil }
        logger.info("\(cache.contract): loaded from the database through the reverse pump: \(loaded.rate); load lock released")
        return loaded
    }

    /// One try at the lock: nil if another unit holds it or has just finished.
    private func attempt(on db: PostgresConnection, lock: PostgresAdvisoryLockKey, seen: Int64, deadline: ContinuousClock.Instant) async throws -> Loaded? {
        try await db.transaction { tx in
            guard try await tx.query("SELECT pg_try_advisory_xact_lock($1)", [lock.rawValue]).scalar(Bool.self) == true else { return nil }
            // Someone may have finished between the check above and the lock.
            if try await newerLoad(than: seen, on: tx) != nil { return nil }
            try await tx.query("SELECT set_config('idle_in_transaction_session_timeout', $1, true)", [String(max(1, configuration.loadLease.milliseconds))])
            logger.info("\(cache.contract): cold start; this unit holds the load lock and asks the data readers")
            let loaded = try await withThrowingTaskGroup(of: Loaded?.self) { group in
                group.addTask {
                    // Renews the lease while the answer streams in.
                    while true {
                        try await Task.sleep(for: configuration.loadLease / 3)
                        try await tx.query("SELECT 1")
                    }
                }
                group.addTask {
                    guard let loaded = try await requestLoad(deadline: deadline) else {
                        throw CacheLoadError(cache: cache.contract, message: "the load ended without an answer")
                    }
                    return loaded
                }
                defer { group.cancelAll() }
                // The renewal never ends by itself: the first result is the load's.
                guard let result = try await group.next(), let loaded = result else {
                    throw CacheLoadError(cache: cache.contract, message: "the load ended without an answer")
                }
                return loaded
            }
            try await tx.query("""
                INSERT INTO pumphouse_cache_loads (topic, generation, cache, request_id, reverse_topic, first_offset, rows, loaded_by)
                SELECT $1, coalesce(max(generation), 0) + 1, $2, $3, $4, $5, $6, $7 FROM pumphouse_cache_loads WHERE topic = $1
                """, [cache.topic, cache.contract.rawValue, loaded.snapshot.request, cache.reverseTopic, loaded.snapshot.offset, loaded.rows, unit])
            return loaded
        }
    }

    /// The advisory lock of a named cache's load; its topic names it in the cluster.
    static func lockName(topic: String) -> String { "pumphouse.cache-load.\(topic)" }

    private struct LoadRecord {
        var generation: Int64
        var snapshot: CacheSnapshot
        var loadedBy: String
    }

    private func newerLoad(than generation: Int64, on db: PostgresConnection) async throws -> LoadRecord? {
        guard let row = try await db.query(
            "SELECT generation, request_id, first_offset, loaded_by FROM pumphouse_cache_loads WHERE topic = $1 AND generation > $2 ORDER BY generation DESC LIMIT 1",
            [cache.topic, generation]
        ).namedRows.first else { return nil }
        return LoadRecord(
            generation: try row.decode(Int64.self, "generation"),
            snapshot: CacheSnapshot(request: try row.decode(String.self, "request_id"), offset: try row.decode(Int64.self, "first_offset")),
            loadedBy: try row.decode(String.self, "loaded_by")
        )
    }

    /// Reads the rows of `partitions` again for a unit that takes them up (into a
    /// `PartitionReload`): from the answer this unit loaded from, when it is still on
    /// the reverse-pump topic and the cache topic still holds every change after it in
    /// those partitions; otherwise from a new answer of the data readers (no load lock:
    /// one unit asks for itself, and nothing is recorded for others to reuse).
    func reread(_ partitions: Set<Int32>, loadedFrom snapshot: CacheSnapshot?, deadline: ContinuousClock.Instant) async throws -> Loaded {
        let sorted = partitions.sorted()
        if let snapshot {
            if let loaded = try await readAnswer(snapshot.request, from: .init(snapshot.offset), deadline: deadline, beforeRequest: nil) {
                if try await topicHoldsChanges(after: loaded.offsets, in: sorted, deadline: deadline) {
                    logger.info("\(cache.contract): partitions \(sorted) read again from the \(snapshot)")
                    return loaded
                }
                logger.notice("\(cache.contract): \(cache.topic) no longer holds every change after the \(snapshot) in partitions \(sorted); asking the data readers again")
            } else {
                logger.notice("\(cache.contract): the \(snapshot) is no longer on \(cache.reverseTopic); asking the data readers again for partitions \(sorted)")
            }
        }
        guard let loaded = try await requestLoad(deadline: deadline) else {
            throw CacheLoadError(cache: cache.contract, message: "the data readers' answer for partitions \(sorted) ended without its rows")
        }
        logger.info("\(cache.contract): partitions \(sorted) read again from the database: \(loaded.rate)")
        return loaded
    }

    /// Whether the cache topic still holds, in each of `partitions`, every change after
    /// the offset an answer stands for (retention deletes from the front).
    private func topicHoldsChanges(after offsets: [Int32: Int64], in partitions: [Int32], deadline: ContinuousClock.Instant) async throws -> Bool {
        var consumerConfiguration = KafkaConsumerConfiguration(connection: pipeline.kafka)
        consumerConfiguration.connection.clientID = "pumphouse-unit-\(unit)-load"
        let found = try await KafkaConsumer.watermarks(
            of: partitions.map { KafkaTopicPartition(topic: cache.topic, partition: $0) }, configuration: consumerConfiguration, until: deadline, logger: logger
        )
        return partitions.allSatisfy { partition in
            guard let low = found[KafkaTopicPartition(topic: cache.topic, partition: partition)]?.low, low > 0 else { return true }
            return (offsets[partition] ?? 0) >= low
        }
    }

    /// Asks the readers for the whole cache and reads the answer.
    private func requestLoad(deadline: ContinuousClock.Instant) async throws -> Loaded? {
        let request = ReadRequest(
            id: "\(unit)-\(UUID().uuidString.lowercased())", cache: cache.contract.rawValue, replyTo: cache.reverseTopic, keys: nil,
            requester: unit, deadline: wallClockMilliseconds() + deadline.millisecondsFromNow
        )
        return try await readAnswer(request.id, from: .end, deadline: deadline) { [control, pipeline, logger] in
            let message = request.message(topic: pipeline.reader.requestTopic)
            // A busy broker may time a send out; the request is only worth anything once
            // it is on the topic.
            while true {
                do {
                    _ = try await control.deliver(message)
                    return
                } catch {
                    guard ContinuousClock.now < deadline else { throw error }
                    logger.warning("\(request.cache): read request \(request.id) not acknowledged, sending again: \(error)")
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
        }
    }

    /// Reads the answer to `request` from `start` on the reverse-pump topic into the
    /// cache. With `beforeRequest`, the request is sent once the consumer stands at the
    /// topic's end, so no message of the answer can come before it. Without it, the
    /// answer must begin at `start`: nil if something else is there (the answer was
    /// deleted by retention) or the topic ends before the answer does.
    private func readAnswer(
        _ request: String, from start: KafkaOffset, deadline: ContinuousClock.Instant,
        beforeRequest: (@Sendable () async throws -> Void)?
    ) async throws -> Loaded? {
        var consumerConfiguration = KafkaConsumerConfiguration(connection: pipeline.kafka)
        consumerConfiguration.connection.clientID = "pumphouse-unit-\(unit)-load"
        let consumer = try KafkaConsumer(configuration: consumerConfiguration, logger: logger)
        do {
            let loaded = try await readAnswer(request, from: start, on: consumer, deadline: deadline, beforeRequest: beforeRequest)
            try? await consumer.close()
            return loaded
        } catch {
            try? await consumer.close()
            throw error
        }
    }

    private func readAnswer(
        _ request: String, from start: KafkaOffset, on consumer: KafkaConsumer, deadline: ContinuousClock.Instant,
        beforeRequest: (@Sendable () async throws -> Void)?
    ) async throws -> Loaded? {
        try await consumer.assign([KafkaTopicPartitionOffset(topic: cache.reverseTopic, partition: 0, offset: start)])
        sink.beginLoad()
        var requested = beforeRequest == nil
        var first: Int64?
        var started = ContinuousClock.now
        var rows: Int64 = 0
        while ContinuousClock.now < deadline {
            for event in try await consumer.poll(maxMessages: 10_000, timeout: .milliseconds(100)) {
                switch event {
                case .partitionEOF:
                    if let beforeRequest, !requested {
                        started = ContinuousClock.now
                        try await beforeRequest()
                        requested = true
                    } else if beforeRequest == nil && first == nil {
                        return nil  // the answer is not at `start` (or not yet written)
                    }
                case .messages(let messages):
                    for message in messages {
                        let headers = message.headers.map { ($0.name, $0.value) }
                        guard let reply = ReverseReply(key: message.key, value: message.value, headers: headers), reply.request == request else {
                            if beforeRequest == nil && first == nil { return nil }
                            continue
                        }
                        if first == nil { first = message.offset }
                        switch reply {
                        case .rows(_, let batch):
                            do throws(ContractError) {
                                try batch.forEach { (key, value) throws(ContractError) in
                                    sink.loadRow(try registry.decode(key: key, value: value))
                                    rows += 1
                                }
                            } catch {
                                throw CacheLoadError(cache: cache.contract, message: "row \(rows + 1) of answer \(request) (in \(cache.reverseTopic)@\(message.offset)) cannot be read: \(error)")
                            }
                        case .end(let end):
                            guard end.rows == rows else {
                                throw CacheLoadError(cache: cache.contract, message: "answer \(request) ended after \(rows) of its \(end.rows) rows; a part of it is missing from \(cache.reverseTopic)")
                            }
                            sink.finishLoad(sequences: end.sequences, ownership: end.ownership)
                            return Loaded(
                                snapshot: CacheSnapshot(request: request, offset: first ?? message.offset), rows: rows, offsets: end.offsets,
                                duration: ContinuousClock.now - started
                            )
                        case .error(_, let reason):
                            throw CacheLoadError(cache: cache.contract, message: "the data reader refused the load: \(reason)", isPermanent: true)
                        }
                    }
                default:
                    break
                }
            }
        }
        throw CacheLoadError(cache: cache.contract, message: "no complete answer to \(request) on \(cache.reverseTopic) within \(configuration.loadTimeout) (\(rows) rows so far); is a data reader (`pumphouse reader`) running?")
    }
}

/// A cache that could not be loaded: the unit does not start.
public struct CacheLoadError: Error, Sendable, CustomStringConvertible {
    public let cache: ContractName
    public let message: String
    /// Asking again cannot help (the reader refused the request); the unit stops.
    public var isPermanent = false

    public init(cache: ContractName, message: String, isPermanent: Bool = false) {
        self.cache = cache
        self.message = message
        self.isPermanent = isPermanent
    }

    public var description: String { "cannot load \(cache): \(message)" }
}

extension ContinuousClock.Instant {
    var millisecondsFromNow: Int64 { max(0, (self - ContinuousClock.now).milliseconds) }
}

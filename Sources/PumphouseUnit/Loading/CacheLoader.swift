import Foundation
import Logging
import PumphouseBlocking
import PumphouseContracts
import PumphouseKafka
import PumphousePipeline

/// Loads one named cache through the reverse pump before the unit applies its topic.
///
/// Cold start (no loaded peer): the units that start claim the load on the cache's
/// reverse-pump topic, whose order decides the holder (`LoadLedger`). The holder asks the
/// data readers for the whole cache and renews its claim while the answer comes; the
/// others wait for that answer's end and read the same answer: the database is read
/// once however many units start, and no unit needs the database itself. If the holder
/// dies or hangs, its claim lapses after the lease, and the next claim wins.
///
/// Warm start: a loaded peer names the answer it loaded from, and the joining unit reads
/// that answer.
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
        // A load finished shortly before this unit started (by a unit of the same outage)
        // is as good as a new one; an older one is not reused: the database is fresher,
        // and an old answer's offsets may be gone from the topic. The fold starts a lease
        // before that, to hear of a holder still loading; a broker that cannot look up
        // offsets by time (the local Tansu answers 0) makes it read the topic from its
        // beginning, which only takes longer.
        let reuseFrom = startedAt - configuration.loadReuseWindow.milliseconds
        let partition = KafkaTopicPartition(topic: cache.reverseTopic, partition: 0)
        let start = try await KafkaConsumer.offsets(
            forTimestamp: max(0, reuseFrom - configuration.loadLease.milliseconds), in: [partition], configuration: loadConsumerConfiguration,
            timeout: max(.seconds(1), min(.seconds(10), deadline - .now)), logger: logger
        ).first?.offset ?? .beginning
        return try await withLoadConsumer { consumer in
            try await consumer.assign([KafkaTopicPartitionOffset(partition, offset: start)])
            return try await cold(on: consumer, reuseFrom: reuseFrom, deadline: deadline)
        }
    }

    /// The settings of the clients a load reads with, named after the unit.
    private var loadConsumerConfiguration: KafkaConsumerConfiguration {
        var consumerConfiguration = KafkaConsumerConfiguration(connection: pipeline.kafka)
        consumerConfiguration.connection.clientID = "pumphouse-unit-\(unit)-load"
        return consumerConfiguration
    }

    /// Runs `body` with a consumer of its own, closed however `body` ends.
    private func withLoadConsumer<T>(_ body: (KafkaConsumer) async throws -> T) async throws -> T {
        let consumer = try KafkaConsumer(configuration: loadConsumerConfiguration, logger: logger)
        do {
            let result = try await body(consumer)
            try? await consumer.close()
            return result
        } catch {
            try? await consumer.close()
            throw error
        }
    }

    /// Folds the reverse-pump topic into a `LoadLedger` and acts on it each time the fold
    /// reaches the topic's end: reads a finished load, waits for a live holder, or
    /// claims the load (and, holding it, loads).
    private func cold(on consumer: KafkaConsumer, reuseFrom: Int64, deadline: ContinuousClock.Instant) async throws -> Loaded {
        var ledger = LoadLedger(lease: configuration.loadLease)
        /// This unit's latest claim, and whether it has been read back yet.
        var claim: (request: String, readBack: Bool)?
        /// Finished loads whose answers are gone from the topic.
        var unusable: Set<ExactKey> = []
        var waitingFor: String?
        // Whether the fold has reached the topic's end (and nothing came since): librdkafka
        // says so once per arrival there, and a lapse is noticed while nothing comes.
        var caughtUp = false
        while ContinuousClock.now < deadline {
            for event in try await consumer.poll(maxMessages: 10_000, timeout: .milliseconds(100)) {
                switch event {
                case .messages(let messages):
                    caughtUp = false
                    for message in messages {
                        let read = ledger.read(message, at: message.timestampMilliseconds ?? wallClockMilliseconds())
                        if let read, let mine = claim, read.request.isSameBytes(as: mine.request) { claim?.readBack = true }
                    }
                case .partitionEOF:
                    caughtUp = true
                default:
                    break
                }
            }
            guard caughtUp else { continue }
            if let finished = ledger.finished, finished.at >= reuseFrom, !unusable.contains(ExactKey(finished.snapshot.request)) {
                if let loaded = try await readAnswer(finished.snapshot.request, from: .init(finished.snapshot.offset), deadline: deadline, beforeRequest: nil) {
                    logger.info("\(cache.contract): loaded the \(finished.snapshot) that \(finished.unit) asked for: \(loaded.rate)")
                    return loaded
                }
                unusable.insert(ExactKey(finished.snapshot.request))
                continue
            }
            let now = wallClockMilliseconds()
            if let holder = ledger.liveHolder(at: now) {
                if let mine = claim, holder.request.isSameBytes(as: mine.request) {
                    let loaded = try await load(holding: holder.request, deadline: deadline)
                    logger.info("\(cache.contract): loaded from the database through the reverse pump: \(loaded.rate)")
                    return loaded
                }
                if waitingFor.map({ !$0.isSameBytes(as: holder.unit) }) ?? true {
                    waitingFor = holder.unit
                    logger.info("\(cache.contract): another unit (\(holder.unit)) holds the load claim; waiting for its load")
                }
                continue
            }
            // Nobody holds the load: claim it, unless this unit's claim is still on its way.
            if let mine = claim, !mine.readBack { continue }
            let request = "\(unit)-\(UUID().uuidString.lowercased())"
            try await send(LoadClaim(kind: .claim, request: request, unit: unit), deadline: deadline)
            claim = (request, false)
        }
        throw CacheLoadError(cache: cache.contract, message: "no load finished within \(configuration.loadTimeout); is a data reader (`pumphouse reader`) running and the unit holding the load alive?")
    }

    /// Loads as the holder of claim `request`: asks the data readers under that request
    /// id and renews the claim three times a lease until the answer has ended.
    private func load(holding request: String, deadline: ContinuousClock.Instant) async throws -> Loaded {
        logger.info("\(cache.contract): cold start; this unit holds the load claim and asks the data readers")
        return try await withThrowingTaskGroup(of: Loaded?.self) { group in
            group.addTask {
                while true {
                    try await Task.sleep(for: configuration.loadLease / 3)
                    try await send(LoadClaim(kind: .renew, request: request, unit: unit), deadline: deadline)
                }
            }
            group.addTask {
                try await requestLoad(id: request, deadline: deadline)
            }
            defer { group.cancelAll() }
            // The renewal never ends by itself: the first result is the load's.
            guard let result = try await group.next(), let loaded = result else {
                throw CacheLoadError(cache: cache.contract, message: "the load ended without an answer")
            }
            return loaded
        }
    }

    /// Puts `claim` on the reverse-pump topic: it counts only once it is in the log.
    private func send(_ claim: LoadClaim, deadline: ContinuousClock.Instant) async throws {
        try await deliver(claim.message(topic: cache.reverseTopic), "the load \(claim.kind.rawValue) \(claim.request)", deadline: deadline)
    }

    /// Sends `message` again while the broker does not acknowledge it in time (a busy
    /// broker may time a send out), until `deadline`.
    private func deliver(_ message: KafkaProducerMessage, _ what: String, deadline: ContinuousClock.Instant) async throws {
        while true {
            do {
                _ = try await control.deliver(message)
                return
            } catch {
                guard ContinuousClock.now < deadline else { throw error }
                logger.warning("\(cache.contract): \(what) was not acknowledged, sending again: \(error)")
                try await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    /// Reads the rows of `partitions` again for a unit that takes them up (into a
    /// `PartitionReload`): from the answer this unit loaded from, when it is still on
    /// the reverse-pump topic and the cache topic still holds every change after it in
    /// those partitions; otherwise from a new answer of the data readers (no load claim:
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
        let found = try await KafkaConsumer.watermarks(
            of: partitions.map { KafkaTopicPartition(topic: cache.topic, partition: $0) }, configuration: loadConsumerConfiguration, until: deadline, logger: logger
        )
        return partitions.allSatisfy { partition in
            guard let low = found[KafkaTopicPartition(topic: cache.topic, partition: partition)]?.low, low > 0 else { return true }
            return (offsets[partition] ?? 0) >= low
        }
    }

    /// Asks the readers for the whole cache and reads the answer.
    private func requestLoad(id: String? = nil, deadline: ContinuousClock.Instant) async throws -> Loaded? {
        let request = ReadRequest(
            id: id ?? "\(unit)-\(UUID().uuidString.lowercased())", cache: cache.contract.rawValue, replyTo: cache.reverseTopic, keys: nil,
            requester: unit, deadline: wallClockMilliseconds() + deadline.millisecondsFromNow
        )
        // The request is only worth anything once it is on the topic.
        return try await readAnswer(request.id, from: .end, deadline: deadline) {
            try await deliver(request.message(topic: pipeline.reader.requestTopic), "read request \(request.id)", deadline: deadline)
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
        try await withLoadConsumer { consumer in
            try await readAnswer(request, from: start, on: consumer, deadline: deadline, beforeRequest: beforeRequest)
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
                        guard let reply = ReverseReply(key: message.key, value: message.value, headers: headers), reply.request.isSameBytes(as: request) else {
                            if beforeRequest == nil && first == nil { return nil }
                            continue
                        }
                        if first == nil { first = message.offset }
                        switch reply {
                        case .rows(_, let batch):
                            var contracts: [Contract] = []
                            contracts.reserveCapacity(batch.count)
                            do throws(ContractError) {
                                try batch.forEach { (key, value) throws(ContractError) in
                                    contracts.append(try registry.decode(key: key, value: value))
                                }
                            } catch {
                                // The error's code, not its description, which may quote keys
                                // and values (row data stays out of logs).
                                throw CacheLoadError(cache: cache.contract, message: "row \(rows + Int64(contracts.count) + 1) of answer \(request) (in \(cache.reverseTopic)@\(message.offset)) cannot be read: \(error.code)")
                            }
                            sink.loadRows(contracts)
                            rows += Int64(contracts.count)
                        case .end(let end):
                            guard end.rows == rows else {
                                // An answer recorded by another load, read from where the log
                                // says it starts, which can be past its first rows (a unit that
                                // started mid-answer folded the claims from a later point): not
                                // usable, and the caller falls back (claims a load of its own,
                                // or asks again). This unit's own answer is whole or broken.
                                if beforeRequest == nil {
                                    logger.notice("\(cache.contract): answer \(request) read from \(cache.reverseTopic)@\(first ?? message.offset) held \(rows) of its \(end.rows) rows; not used")
                                    return nil
                                }
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

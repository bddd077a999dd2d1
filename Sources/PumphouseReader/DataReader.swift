import CMalloc
import Foundation
import Logging
import PumphouseContracts
import PumphouseKafka
import PumphousePipeline
import PumphousePostgres
import ServiceLifecycle
import Synchronization

/// A data reader: serves read requests from processing units by reading the mapped
/// tables and streaming the rows back as add contracts on the cache's reverse-pump
/// topic (the reverse pump).
///
/// A whole-cache load reads the rows and the cache writer's stored offsets in one
/// REPEATABLE READ snapshot, so its end marker says exactly which changes of the topic
/// the rows already contain. Rows are fetched through a cursor a chunk at a time, so
/// memory stays bounded whatever the table's size. A request that cannot be served gets
/// an error reply; the reader goes on with the next one.
public final class DataReader: Service {
    private let configuration: PipelineConfiguration
    private let registry: ContractRegistry
    private let logger: Logger
    private let metrics = ReaderMetrics()
    private let counters = Mutex(ReaderStatistics())
    /// Rows whose delivery failed since start: a load that lost one says so instead of
    /// sending an end marker.
    private let deliveryFailures = Atomic<Int>(0)
    /// Requests answered lately. A rebalance can hand this reader a request it (or the
    /// previous owner of the partition) already answered; answering twice would only
    /// cost a second scan of the table.
    private let answered = Mutex(RecentRequests(capacity: 10_000))
    /// The connection `prepare(on:)` checked, with the mappings it resolved.
    private let prepared = CheckedConnection<[ContractName: ReverseMapping]>()

    public init(configuration: PipelineConfiguration, logger: Logger) throws(ConfigurationError) {
        self.registry = try configuration.loadRegistry()
        self.configuration = configuration
        self.logger = logger
    }

    /// Ready once connected and consuming requests.
    public var readiness: (isReady: Bool, reason: String) {
        counters.withLock { ($0.consuming, $0.consuming ? "serving \(configuration.reader.requestTopic)" : "starting") }
    }

    public var statistics: ReaderStatistics { counters.withLock { $0 } }

    /// Checks on `db` that every mapped table and key column exists, and keeps the
    /// connection for `run`, which otherwise connects and checks first itself. A command
    /// calls this before it serves or joins anything, so a mistake leaves nothing behind,
    /// and the check still runs once.
    public func prepare(on db: PostgresConnection) async throws {
        await prepared.keep(db, try await resolveMappings(on: db))
    }

    private func resolveMappings(on db: PostgresConnection) async throws -> [ContractName: ReverseMapping] {
        var mappings: [ContractName: ReverseMapping] = [:]
        for cache in configuration.caches where cache.mapping != nil {
            mappings[cache.contract] = try await ReverseMapping.resolve(cache, registry: registry, db: db)
        }
        return mappings
    }

    public func run() async throws {
        let postgres = try configuration.postgres
        logger.info("reader starting", metadata: ["requests": "\(configuration.reader.requestTopic)", "postgres": "\(postgres.redactedURL)"])
        let (db, mappings) = try await prepared.take(connecting: postgres, logger: logger) { try await resolveMappings(on: $0) }
        var consumerConfiguration = KafkaConsumerConfiguration(connection: configuration.kafka, groupID: configuration.reader.group)
        consumerConfiguration.connection.clientID = "pumphouse-reader"
        consumerConfiguration.reportPartitionEOF = false
        let consumer = try KafkaConsumer(configuration: consumerConfiguration, logger: logger)
        var replyConfiguration = KafkaProducerConfiguration(connection: configuration.kafka)
        replyConfiguration.compression = configuration.reader.compression.rawValue
        let replies = try KafkaProducer(configuration: replyConfiguration, logger: logger) { [self] report in
            if case .failed = report { deliveryFailures.add(1, ordering: .relaxed) }
        }
        try await consumer.subscribe(topics: [configuration.reader.requestTopic])
        // Heartbeats run beside the requests: a load can take minutes, and a silent
        // reader would drop out of `pumphouse status` meanwhile.
        let presence = try ReaderPresence(configuration: configuration, logger: logger)
        let heartbeats = Task { await presence.run() }
        counters.withLock { $0.consuming = true }
        defer { counters.withLock { $0.consuming = false } }
        /// Leaves and closes everything, whether the loop ended or failed.
        func stop() async {
            heartbeats.cancel()
            await heartbeats.value
            await presence.leave()
            try? await replies.shutdown(timeout: .seconds(10))
            try? await consumer.close()
            await db.close()
        }
        do {
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                for event in try await consumer.poll(maxMessages: 100, timeout: .milliseconds(100)) {
                    switch event {
                    case .messages(let messages):
                        for message in messages {
                            await handle(message, mappings: mappings, db: db, replies: replies)
                            try? consumer.commitInBackground([message.nextOffset])
                        }
                    case .error(let error):
                        logger.warning("reader: \(error)")
                    default:
                        break
                    }
                }
            }
        } catch {
            await stop()
            throw error
        }
        await stop()
        logger.info("reader stopped")
    }

    // MARK: Requests

    private func handle(_ message: KafkaMessage, mappings: [ContractName: ReverseMapping], db: PostgresConnection, replies: KafkaProducer) async {
        let headers = message.headers.map { ($0.name, $0.value) }
        let requestID = ReverseReply.request(in: headers) ?? "unknown"
        // Where an error can go even when the body is unreadable: the reply topic in the
        // header if it is some cache's reverse topic, else the reverse topic of the cache
        // the key names.
        let replyHeader = message.headers.value(named: ReadRequest.Header.replyTo).map { String(decoding: $0, as: UTF8.self) }
        let keyCache = message.key.map { String(decoding: $0, as: UTF8.self) }
        let fallbackReply = configuration.caches.first { $0.reverseTopic == replyHeader }?.reverseTopic
            ?? configuration.caches.first { $0.contract.rawValue == keyCache }?.reverseTopic

        func refuse(_ reason: String, to topic: String?) async {
            metrics.failed.increment()
            counters.withLock { $0.failed += 1 }
            guard let topic else {
                logger.error("read request \(requestID) at \(message.topic)[\(message.partition)]@\(message.offset) refused, and it names no reverse-pump topic of this pipeline to reply on: \(reason)")
                return
            }
            logger.warning("read request \(requestID) refused: \(reason)")
            await reply(.error(request: requestID, reason: reason), on: topic, replies: replies)
        }

        let request: ReadRequest
        do {
            request = try ReadRequest(value: message.value)
        } catch {
            await refuse("\(error)", to: fallbackReply)
            return
        }
        guard let name = try? ContractName(request.cache), let cache = configuration.cache(name) else {
            await refuse("no cache \(request.cache) in this pipeline (caches: \(configuration.caches.map(\.contract.rawValue).joined(separator: ", ")))", to: fallbackReply)
            return
        }
        guard request.replyTo == cache.reverseTopic else {
            await refuse("replies for \(cache.contract) go to \(cache.reverseTopic), not \(request.replyTo)", to: cache.reverseTopic)
            return
        }
        guard let mapping = mappings[cache.contract] else {
            await refuse("\(cache.contract) has a custom mapping, which a data reader cannot read back; load it from its topic", to: cache.reverseTopic)
            return
        }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        guard request.deadline > now else {
            metrics.expired.increment()
            logger.notice("read request \(request.id) from \(request.requester) for \(cache.contract) skipped: its deadline passed \(now - request.deadline) ms ago, so nobody waits for it")
            return
        }
        guard answered.withLock({ $0.insert(request.id) }) else {
            logger.notice("read request \(request.id) from \(request.requester) was answered already; skipped")
            return
        }
        let started = ContinuousClock.now
        do {
            let end = try await serve(request, cache: cache, mapping: mapping, db: db, replies: replies)
            metrics.served.increment()
            metrics.rows.increment(by: Int(end.rows))
            metrics.duration.record(duration: ContinuousClock.now - started)
            counters.withLock {
                $0.served += 1
                $0.rows += Int(end.rows)
            }
            logger.info("read request \(request.id) from \(request.requester): \(end.rows) rows of \(cache.contract) in \(ContinuousClock.now - started), offsets \(end.offsets.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: ","))")
        } catch {
            await refuse("\(error)", to: cache.reverseTopic)
        }
    }

    /// Streams the rows and the end marker; throws (and sends no end marker) if reading
    /// or delivering any row failed.
    private func serve(_ request: ReadRequest, cache: CacheConfiguration, mapping: ReverseMapping, db: PostgresConnection, replies: KafkaProducer) async throws -> ReadEnd {
        let version = registry.contracts[cache.contract]?.latestVersion ?? 1
        let failuresBefore = deliveryFailures.load(ordering: .relaxed)
        let writer = configuration.writer(of: cache.contract)
        var end = try await db.transaction(isolation: .repeatableRead) { tx in
            // The first statement fixes the snapshot that every later one reads.
            let snapshotTime = try await tx.query("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint").scalar(Int64.self) ?? 0
            var end = ReadEnd(request: request.id, rows: 0, offsets: [:], sequences: [:], snapshotTime: snapshotTime)
            if let writer {
                for row in try await tx.query(
                    "SELECT partition, next_offset, ownership_term, partition_owner FROM pumphouse_writer_offsets WHERE writer = $1 AND topic = $2 AND next_offset >= 0",
                    [writer.name, cache.topic]
                ).namedRows {
                    let partition = try row.decode(Int32.self, "partition")
                    end.offsets[partition] = try row.decode(Int64.self, "next_offset")
                    let term = try row.decode(Int64.self, "ownership_term")
                    if term > 0 { end.ownership[partition] = PartitionOwnership(term: term, owner: row["partition_owner"]) }
                }
                for row in try await tx.query(
                    "SELECT partition, origin, max_seq FROM pumphouse_writer_origins WHERE writer = $1 AND topic = $2",
                    [writer.name, cache.topic]
                ).namedRows {
                    end.sequences[try row.decode(Int32.self, "partition"), default: [:]][ExactKey(try row.decode(String.self, "origin"))] = try row.decode(Int64.self, "max_seq")
                }
            }
            if let keys = request.keys {
                let rows = try await tx.query(mapping.select(keys: true), [keys]).rows
                try await send(rows, of: request, cache: cache, version: version, end: &end, replies: replies)
            } else {
                try await tx.query("DECLARE pumphouse_load NO SCROLL CURSOR FOR \(mapping.select(keys: false))")
                // The database reads the next chunk while this one is encoded and sent:
                // two chunks in memory at most.
                let fetch = "FETCH FORWARD \(configuration.reader.chunkRows) FROM pumphouse_load"
                var rows = try await tx.query(fetch).rows
                while !rows.isEmpty {
                    async let next = tx.query(fetch)
                    try await send(rows, of: request, cache: cache, version: version, end: &end, replies: replies)
                    try await waitForRoom(replies)
                    rows = try await next.rows
                }
            }
            return end
        }
        try await replies.flush(timeout: .seconds(60))
        let lost = deliveryFailures.load(ordering: .relaxed) - failuresBefore
        guard lost == 0 else {
            throw KafkaError(code: .messageTimedOut, message: "\(lost) row(s) were not delivered to \(cache.reverseTopic); the load must be asked again", operation: "reverse pump")
        }
        end.request = request.id
        await reply(.end(end), on: cache.reverseTopic, replies: replies)
        try await replies.flush(timeout: .seconds(60))
        Self.returnFreedMemory()
        return end
    }

    /// Sends `rows` as add contracts, packed into reverse-pump messages of many rows each
    /// (``ReverseRows``); `end` counts them.
    private func send(_ rows: [[String?]], of request: ReadRequest, cache: CacheConfiguration, version: Int, end: inout ReadEnd, replies: KafkaProducer) async throws {
        let codec = ContractCodec()
        let parser = JSONParser(maxBytes: codec.maxBytes)
        var batch = ReverseRows()
        for row in rows {
            guard let key = row[0], let text = row[1] else {
                throw ReadRequestError("a row of \(cache.mapping?.table ?? cache.contract.rawValue) has a NULL key; fix the row")
            }
            guard case .object(let fields) = try parser.parse(text) else {
                throw ReadRequestError("row \"\(key)\" did not read back as a JSON object")
            }
            end.rows += 1
            let contract = Contract(
                name: cache.contract, version: version, action: .add, key: key, origin: Self.origin,
                sequence: end.rows, eventTime: end.snapshotTime, fields: fields
            )
            do {
                try registry.validate(contract)
            } catch {
                throw ReadRequestError("row \"\(key)\" of \(cache.mapping?.table ?? "?") does not fit \(cache.contract) v\(version): \(error); fix the row or the mapping")
            }
            let value = try codec.encode(contract).value
            let keyCount = key.utf8.count
            guard ReverseRows.framedBytes(keyCount: keyCount, valueCount: value.count) <= ReverseRows.maxBytes else {
                throw ReadRequestError(
                    "row \(end.rows) of \(cache.mapping?.table ?? cache.contract.rawValue) encodes to \(value.count + keyCount) bytes, more than a reverse-pump message carries (\(ReverseRows.maxBytes)); load \(cache.contract) from its topic (load: topic) or make the row smaller"
                )
            }
            if !batch.fits(keyCount: keyCount, valueCount: value.count) {
                try await sendRetrying(replies, Self.message(.rows(request: request.id, batch), on: cache.reverseTopic))
                batch.removeAll()
            }
            batch.append(key: key.utf8, value: value)
            if batch.isFull {
                try await sendRetrying(replies, Self.message(.rows(request: request.id, batch), on: cache.reverseTopic))
                batch.removeAll()
            }
        }
        if !batch.isEmpty { try await sendRetrying(replies, Self.message(.rows(request: request.id, batch), on: cache.reverseTopic)) }
    }

    private static func message(_ reply: ReverseReply, on topic: String) -> KafkaProducerMessage {
        let message = reply.message
        return KafkaProducerMessage(
            topic: topic, partition: 0, key: Array(message.key.utf8), value: message.value,
            headers: message.headers.map { KafkaHeader(name: $0.name, string: $0.value) }
        )
    }

    /// The most messages of rows (``ReverseRows``, up to 256 KiB each) the reader lets
    /// wait for the broker: bounded memory on the Kafka side too, rather than the whole
    /// table queued in librdkafka. Each time the broker stalls the queue fills to this
    /// bound, so it is what a long load's peak adds: with 64 (16 MiB) a 10M-row load
    /// peaked 13 MiB above a 1M-row one, and the broker still kept up with 16.
    static let maxPendingMessages = 16

    /// Waits, at most a minute, until the broker has taken enough of what was sent that
    /// the next chunk fits under ``maxPendingMessages``. It lets the queue drain to half,
    /// not to empty, so the broker always has rows to take while the reader encodes.
    private func waitForRoom(_ producer: KafkaProducer) async throws {
        guard producer.pendingCount > Self.maxPendingMessages else { return }
        let deadline = ContinuousClock.now.advanced(by: .seconds(60))
        while producer.pendingCount > Self.maxPendingMessages / 2 {
            guard ContinuousClock.now < deadline else {
                throw KafkaError(code: .messageTimedOut, message: "the broker took too few of the rows sent within 60 s; the load must be asked again", operation: "reverse pump")
            }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    /// Waits out a full local queue rather than failing the load.
    private func sendRetrying(_ producer: KafkaProducer, _ message: KafkaProducerMessage) async throws {
        let deadline = ContinuousClock.now.advanced(by: .seconds(60))
        while true {
            let refusal: KafkaError
            do {
                try producer.send(message)
                return
            } catch {
                refusal = error
            }
            guard refusal.code == .queueFull, ContinuousClock.now < deadline else { throw refusal }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    private func reply(_ reply: ReverseReply, on topic: String, replies: KafkaProducer) async {
        do {
            _ = try await replies.deliver(Self.message(reply, on: topic))
        } catch {
            logger.error("reader: could not send the \(topic) reply to request \(reply.request): \(error)")
        }
    }

    /// The origin of the add contracts a reader streams. Units never dedupe against it.
    public static let origin = "pumphouse-reader"

    /// A load frees nearly all it allocates, on several threads (libpq's, the encoding
    /// task's, librdkafka's), and the allocator keeps freed pages for reuse (glibc's
    /// until asked, jemalloc's for seconds): measured with glibc's allocator and
    /// heaptrack over 1M rows, the live heap peaked at 29 MB and under 1 MB stayed
    /// allocated, while the resident set kept about 5 MiB per 2M rows across loads.
    /// Giving the pages back after each load keeps an idle reader's memory flat however
    /// many rows it has served.
    static func returnFreedMemory() {
        #if canImport(Glibc)
        pumphouse_return_freed_memory()
        #endif
    }
}

/// The ids of the last `capacity` requests answered, oldest forgotten first.
struct RecentRequests: Sendable {
    let capacity: Int
    private var ids: Set<ExactKey> = []
    private var order: [ExactKey] = []
    private var head = 0

    init(capacity: Int) { self.capacity = capacity }

    /// false if `id` is among the recent ones.
    mutating func insert(_ text: String) -> Bool {
        let id = ExactKey(text)
        guard ids.insert(id).inserted else { return false }
        if order.count < capacity {
            order.append(id)
        } else {
            ids.remove(order[head])
            order[head] = id
            head = (head + 1) % capacity
        }
        return true
    }
}

/// What a reader has done since it started.
public struct ReaderStatistics: Sendable, Hashable {
    public var consuming = false
    public var served = 0
    public var failed = 0
    public var rows = 0
}

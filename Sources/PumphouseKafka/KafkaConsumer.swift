import CRDKafka
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import PumphouseBlocking
import Synchronization

/// A Kafka consumer with manual offset control, in a consumer group or with manual
/// assignment.
///
/// Consumption is pull-based: nothing is fetched into Swift memory until the application
/// polls, so a slow data writer holds back the consumer instead of growing a buffer.
/// Every librdkafka call that can block runs on the handle's own thread.
public final class KafkaConsumer: Sendable {
    private let handle: RDKafkaHandle
    private let callbacks: ConsumerCallbacks
    private let closed = Atomic<Bool>(false)
    private let groupID: String?
    private let restartTimeout: Duration
    /// Partitions assigned from `.beginning`, which start at offset 0 rather than where
    /// the broker's ListOffsets says the log starts (see `fromZero`).
    private let startedAtZero = Mutex<Set<KafkaTopicPartition>>([])

    public init(configuration: KafkaConsumerConfiguration, logger: Logger) throws(KafkaError) {
        let callbacks = ConsumerCallbacks(logger: logger, gapWindow: configuration.connection.offsetGapRecheck, seekTimeout: configuration.restartTimeout)
        self.handle = try RDKafkaHandle(
            kind: .consumer,
            properties: configuration.librdkafkaProperties,
            callbacks: callbacks,
            operation: "create consumer"
        ) { conf in
            rd_kafka_conf_set_rebalance_cb(conf, rebalanceCallback)
        }
        self.callbacks = callbacks
        self.groupID = configuration.groupID
        self.restartTimeout = configuration.restartTimeout
        rd_kafka_poll_set_consumer(handle.pointer)
    }

    /// Joins the group and follows these topics. Partitions arrive as
    /// `partitionsAssigned` events. On the handle's thread: librdkafka waits for its
    /// main thread to take the subscription, without a bound.
    public func subscribe(topics: [String]) async throws {
        guard groupID != nil else {
            throw KafkaError.invalidArgument("subscribing needs a consumer group; set groupID", operation: "subscribe to \(topics)")
        }
        try await onThread("subscribe to \(topics)") { handle, operation throws(KafkaError) in
            let list = rd_kafka_topic_partition_list_new(Int32(topics.count))!
            defer { rd_kafka_topic_partition_list_destroy(list) }
            for topic in topics {
                rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA)
            }
            let err = rd_kafka_subscribe(handle, list)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, operation: operation) }
        }
    }

    /// Reads exactly these partitions from these offsets, outside any group rebalancing;
    /// in a group, replaces the current assignment (e.g. with offsets stored elsewhere).
    public func assign(_ offsets: [KafkaTopicPartitionOffset]) async throws {
        let offsets = fromZero(offsets, replacing: true)
        let callbacks = self.callbacks
        try await onThread("assign \(offsets)") { handle, operation throws(KafkaError) in
            let list = RDKafkaTopicPartitionList.make(offsets)
            defer { rd_kafka_topic_partition_list_destroy(list) }
            let err = rd_kafka_assign(handle, list)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, operation: operation) }
            callbacks.placed(offsets, replacing: true)
        }
    }

    /// Adds partitions to the current manual assignment, leaving the others where they
    /// are: a processing unit starts its caches' partitions once their load has said
    /// where to start, without losing its place on the topics it already reads.
    public func addAssignment(_ offsets: [KafkaTopicPartitionOffset]) async throws {
        var listed = Set<KafkaTopicPartition>()
        if let twice = offsets.first(where: { !listed.insert($0.topicPartition).inserted }) {
            throw KafkaError.invalidArgument("\(twice.topicPartition) is listed twice; give each partition one start offset", operation: "add assignment")
        }
        let offsets = fromZero(offsets, replacing: false)
        let callbacks = self.callbacks
        try await onThread("add assignment \(offsets)") { handle, operation throws(KafkaError) in
            let list = RDKafkaTopicPartitionList.make(offsets)
            defer { rd_kafka_topic_partition_list_destroy(list) }
            if let error = rd_kafka_incremental_assign(handle, list) {
                throw KafkaError(consuming: error, operation: operation)
            }
            callbacks.placed(offsets, replacing: false)
        }
    }

    /// Stops reading these partitions of the current manual assignment, leaving the
    /// others where they are; messages already fetched from them are dropped. A
    /// processing unit stops reading the partitions of a partitioned cache it neither
    /// owns nor backs up, so the broker does not send every record to every unit.
    /// A partition listed twice is removed once: librdkafka checks that each listed
    /// partition is assigned before it removes any, then aborts the process when the
    /// second copy is no longer there to remove.
    public func removeAssignment(_ partitions: [KafkaTopicPartition]) async throws {
        var listed = Set<KafkaTopicPartition>()
        let partitions = partitions.filter { listed.insert($0).inserted }
        guard !partitions.isEmpty else { return }
        startedAtZero.withLock { started in partitions.forEach { started.remove($0) } }
        let callbacks = self.callbacks
        try await onThread("remove \(partitions) from the assignment") { handle, operation throws(KafkaError) in
            let list = RDKafkaTopicPartitionList.make(partitions.map { KafkaTopicPartitionOffset($0, offset: .stored) })
            defer { rd_kafka_topic_partition_list_destroy(list) }
            if let error = rd_kafka_incremental_unassign(handle, list) {
                throw KafkaError(consuming: error, operation: operation)
            }
            callbacks.removed(partitions)
        }
    }

    /// `.beginning` as offset 0. librdkafka resolves `.beginning` with a ListOffsets
    /// request, which some brokers answer wrongly (the local one has answered 1 for a
    /// partition whose first record is at 0, and a replay from there missed that record),
    /// while a fetch from 0 is answered right wherever 0 is still in the log. Where it is
    /// not (retention deleted the head), the consumer's reset policy applies, and with
    /// the policy `error` `poll` goes back to `.beginning` itself (`restartFromBeginning`).
    private func fromZero(_ offsets: [KafkaTopicPartitionOffset], replacing: Bool) -> [KafkaTopicPartitionOffset] {
        startedAtZero.withLock { started in
            if replacing { started.removeAll() }
            return offsets.map { assigned in
                guard assigned.offset == .beginning else {
                    started.remove(assigned.topicPartition)
                    return assigned
                }
                started.insert(assigned.topicPartition)
                return KafkaTopicPartitionOffset(assigned.topicPartition, offset: KafkaOffset(0))
            }
        }
    }

    /// A partition started at 0 whose log no longer holds 0 starts where the broker says
    /// the log starts instead; the error that said so is not the caller's to see.
    private func restartFromBeginning(_ events: [KafkaConsumerEvent], handle: OpaquePointer) -> [KafkaConsumerEvent] {
        events.filter { event in
            guard case .error(let error) = event, error.code == .autoOffsetReset, let partition = error.topicPartition,
                startedAtZero.withLock({ $0.remove(partition) != nil })
            else { return true }
            let list = RDKafkaTopicPartitionList.make([KafkaTopicPartitionOffset(partition, offset: .beginning)])
            defer { rd_kafka_topic_partition_list_destroy(list) }
            if let error = rd_kafka_seek_partitions(handle, list, Int32(clamping: restartTimeout.milliseconds)) {
                rd_kafka_error_destroy(error)
                return true  // could not move it: the caller hears of the reset
            }
            // The seek's own answer is the partition's error in the list. Under the `error`
            // reset policy librdkafka has stopped fetching the partition, and refuses to
            // seek it (_STATE; its issue 2961): assigned again from the beginning instead,
            // it starts afresh. Whatever fails, the caller hears of the reset: a partition
            // left unread without a word would stall its reader for good.
            if RDKafkaTopicPartitionList.elements(list).contains(where: { $0.1 != RD_KAFKA_RESP_ERR_NO_ERROR }) {
                let again = RDKafkaTopicPartitionList.make([KafkaTopicPartitionOffset(partition, offset: .beginning)])
                defer { rd_kafka_topic_partition_list_destroy(again) }
                if let error = rd_kafka_incremental_unassign(handle, again) {
                    rd_kafka_error_destroy(error)
                    return true
                }
                if let error = rd_kafka_incremental_assign(handle, again) {
                    rd_kafka_error_destroy(error)
                    return true
                }
            }
            callbacks.placed([KafkaTopicPartitionOffset(partition, offset: .beginning)], replacing: false)
            return false
        }
    }

    /// The partitions currently assigned.
    public func assignment() async throws -> [KafkaTopicPartition] {
        try await onThread("read assignment") { handle, operation throws(KafkaError) in
            var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
            let err = rd_kafka_assignment(handle, &list)
            defer { list.map { rd_kafka_topic_partition_list_destroy($0) } }
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, operation: operation) }
            return RDKafkaTopicPartitionList.partitions(list).sorted()
        }
    }

    /// Polls once: waits up to `timeout` for the first message or event, then takes
    /// whatever else is ready, up to `maxMessages` messages. With `fill`, it goes on
    /// waiting for more messages until `fill` after the first one arrived (or
    /// `maxMessages` are in): a consumer that pays per batch (a transaction, a commit)
    /// gets fewer, fuller batches at moderate rates. A rebalance ends the wait.
    ///
    /// There is no event-at-a-time `AsyncSequence` over this: every consumer in
    /// Pumphouse acts once per poll (applies a batch, commits it, checks the poll's
    /// offset-reset reports together), which such a sequence would hide.
    public func poll(maxMessages: Int = 1000, timeout: Duration = .milliseconds(100), fill: Duration = .zero) async throws -> [KafkaConsumerEvent] {
        let callbacks = self.callbacks
        return try await onThread("poll") { [self] handle, operation throws(KafkaError) in
            let events = try callbacks.pollBatch(handle, maxMessages: maxMessages, timeout: timeout, fill: fill, operation: operation)
            return restartFromBeginning(events, handle: handle)
        }
    }

    /// Commits offsets to the group (each the next offset to read) and waits for the
    /// broker's answer.
    public func commit(_ offsets: [KafkaTopicPartitionOffset]) async throws {
        guard !offsets.isEmpty else { return }
        try await onThread("commit \(offsets)") { handle, operation throws(KafkaError) in
            let list = RDKafkaTopicPartitionList.make(offsets)
            defer { rd_kafka_topic_partition_list_destroy(list) }
            let err = rd_kafka_commit(handle, list, 0)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, operation: operation) }
            _ = try RDKafkaTopicPartitionList.offsets(list, operation: operation)
        }
    }

    /// Sends a commit without waiting for the answer: for offsets that only inform (lag
    /// shown by broker tools) while the real position is stored elsewhere. A failure is
    /// logged by librdkafka and corrected by the next commit.
    public func commitInBackground(_ offsets: [KafkaTopicPartitionOffset]) throws(KafkaError) {
        guard !offsets.isEmpty, !isClosed else { return }
        let list = RDKafkaTopicPartitionList.make(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_commit(handle.pointer, list, 1)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, operation: "commit \(offsets)") }
    }

    /// The group's committed offsets for these partitions (`.invalid` where none).
    public func committed(_ partitions: [KafkaTopicPartition], timeout: Duration = .seconds(10)) async throws -> [KafkaTopicPartitionOffset] {
        try await onThread("read committed offsets") { handle, operation throws(KafkaError) in
            let list = RDKafkaTopicPartitionList.make(partitions)
            defer { rd_kafka_topic_partition_list_destroy(list) }
            let err = rd_kafka_committed(handle, list, Int32(clamping: timeout.milliseconds))
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, operation: operation) }
            return try RDKafkaTopicPartitionList.offsets(list, operation: operation)
        }
    }

    /// Moves the read position of assigned partitions; messages already fetched from the
    /// old position are discarded.
    public func seek(_ offsets: [KafkaTopicPartitionOffset], timeout: Duration = .seconds(10)) async throws {
        let callbacks = self.callbacks
        try await onThread("seek \(offsets)") { handle, operation throws(KafkaError) in
            try Self.seek(handle, to: offsets, timeout: timeout, operation: operation)
            callbacks.placed(offsets, replacing: false)
        }
    }

    /// Seeks on the handle's thread; throws the call's error or the first partition's
    /// (a partition the seek could not move stays where it was).
    static func seek(_ handle: OpaquePointer, to offsets: [KafkaTopicPartitionOffset], timeout: Duration, operation: String) throws(KafkaError) {
        let list = RDKafkaTopicPartitionList.make(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        if let error = rd_kafka_seek_partitions(handle, list, Int32(clamping: timeout.milliseconds)) {
            throw KafkaError(consuming: error, operation: operation)
        }
        _ = try RDKafkaTopicPartitionList.offsets(list, operation: operation)
    }

    /// Gaps in partitions' offsets this consumer found since it started: `reread`, offsets
    /// a fetch skipped and a second read found (the broker served records out of offset
    /// order); `absent`, offsets no record fills (compaction, transaction markers,
    /// retention). See `KafkaConnectionConfiguration.offsetGapRecheck`.
    public var offsetGaps: (reread: Int, absent: Int) {
        callbacks.offsetGaps
    }

    /// Low and high watermark as last seen in fetch responses, without a network round
    /// trip. Prefer this (or `partitionEOF`) to ListOffsets: some brokers answer
    /// ListOffsets wrongly, but fetches carry the true high watermark.
    public func cachedWatermarks(_ partition: KafkaTopicPartition) -> (low: Int64, high: Int64)? {
        Self.cachedWatermarks(handle.pointer, partition)
    }

    static func cachedWatermarks(_ handle: OpaquePointer, _ partition: KafkaTopicPartition) -> (low: Int64, high: Int64)? {
        var low: Int64 = -1
        var high: Int64 = -1
        let err = rd_kafka_get_watermark_offsets(handle, partition.topic, partition.partition, &low, &high)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0 else { return nil }
        return (low, high)
    }

    /// Leaves the group (revoking partitions at once) and stops. Idempotent, and it runs
    /// to the end even if the calling task is cancelled.
    public func close() async throws {
        guard !closed.exchange(true, ordering: .relaxed) else { return }
        callbacks.beginClosing()
        let callbacks = self.callbacks
        let err = try await handle.runToCompletion("close consumer") { handle in
            // A revocation the application has not polled past would otherwise be
            // waited for by the close, forever.
            callbacks.releasePendingRevocation(handle)
            return rd_kafka_consumer_close(handle)
        }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, operation: "close consumer") }
    }

    var isClosed: Bool { closed.load(ordering: .relaxed) }

    private func onThread<T: Sendable>(
        _ operation: @autoclosure () -> String,
        _ body: @escaping @Sendable (OpaquePointer, String) throws(KafkaError) -> T
    ) async throws -> T {
        let operation = operation()
        guard !isClosed else {
            throw KafkaError(code: .state, message: "the consumer is closed", operation: operation)
        }
        return try await handle.run { try body($0, operation) }
    }
}

/// State shared by librdkafka's rebalance callback and the poll loop (the consumer's
/// thread), and by `close` (any thread), hence the lock.
final class ConsumerCallbacks: RDKafkaCallbacks, @unchecked Sendable {
    private struct State {
        var events: [KafkaConsumerEvent] = []
        /// Partitions revoked but not yet released: released on the next poll, so the
        /// application can commit for them first.
        var pendingRevocation: (partitions: [KafkaTopicPartition], cooperative: Bool)?
        var closing = false
    }

    private let state = Mutex(State())
    private let continuity: Mutex<OffsetContinuity>
    /// False when gaps are accepted at once (`offsetGapRecheck` of zero).
    private let checksGaps: Bool
    private let seekTimeout: Duration

    init(logger: Logger, gapWindow: Duration, seekTimeout: Duration) {
        self.continuity = Mutex(OffsetContinuity(window: gapWindow))
        self.checksGaps = gapWindow > .zero
        self.seekTimeout = seekTimeout
        super.init(logger: logger)
    }

    var offsetGaps: (reread: Int, absent: Int) {
        continuity.withLock { ($0.reread, $0.absent) }
    }

    /// Records where partitions were placed; logical offsets leave the position to the
    /// first message.
    func placed(_ offsets: [KafkaTopicPartitionOffset], replacing: Bool) {
        guard checksGaps else { return }
        continuity.withLock { continuity in
            if replacing { continuity.removeAll() }
            for entry in offsets {
                continuity.placed(entry.topicPartition, at: entry.offset.isLogical ? nil : entry.offset.rawValue)
            }
        }
    }

    /// Forgets where partitions no longer read were.
    func removed(_ partitions: [KafkaTopicPartition]) {
        guard checksGaps else { return }
        continuity.withLock { continuity in partitions.forEach { continuity.removed($0) } }
    }

    func beginClosing() {
        state.withLock { $0.closing = true }
    }

    /// A consumer dropped without `close` is closed by the destroy, which leaves the
    /// group: revocations are released at once from here on, including one still
    /// waiting for the next poll, which the destroy would otherwise wait for forever.
    override func willDestroy(_ handle: OpaquePointer) {
        beginClosing()
        releasePendingRevocation(handle)
    }

    override func clientError(_ error: KafkaError) {
        super.clientError(error)
        state.withLock { $0.events.append(.error(error)) }
    }

    func rebalance(_ handle: OpaquePointer, _ err: rd_kafka_resp_err_t, _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) {
        let cooperative = String(cString: rd_kafka_rebalance_protocol(handle)) == "COOPERATIVE"
        let partitions = RDKafkaTopicPartitionList.partitions(list).sorted()
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            if cooperative {
                if let error = rd_kafka_incremental_assign(handle, list) {
                    let failure = KafkaError(consuming: error, operation: "assign \(partitions)")
                    logger.error("\(failure)")
                    state.withLock { $0.events.append(.error(failure)) }
                    return
                }
            } else {
                rd_kafka_assign(handle, list)
            }
            placed(list.map { RDKafkaTopicPartitionList.elements($0).map(\.0) } ?? [], replacing: !cooperative)
            logger.info("partitions assigned: \(partitions)")
            state.withLock { $0.events.append(.partitionsAssigned(partitions)) }
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            let lost = rd_kafka_assignment_lost(handle) != 0
            removed(partitions)
            logger.info("partitions revoked\(lost ? " (lost)" : ""): \(partitions)")
            let closing = state.withLock { state in
                state.events.append(.partitionsRevoked(partitions, lost: lost))
                if !state.closing { state.pendingRevocation = (partitions, cooperative) }
                return state.closing
            }
            if closing { release(handle, partitions, cooperative: cooperative) }
        default:
            let failure = KafkaError(err, operation: "rebalance")
            logger.error("\(failure)")
            state.withLock { $0.events.append(.error(failure)) }
            release(handle, partitions, cooperative: cooperative)
        }
    }

    private func release(_ handle: OpaquePointer, _ partitions: [KafkaTopicPartition], cooperative: Bool) {
        if cooperative {
            let list = RDKafkaTopicPartitionList.make(partitions)
            defer { rd_kafka_topic_partition_list_destroy(list) }
            if let error = rd_kafka_incremental_unassign(handle, list) {
                logger.error("\(KafkaError(consuming: error, operation: "release \(partitions)"))")
            }
        } else {
            rd_kafka_assign(handle, nil)
        }
    }

    private func takeEvents() -> [KafkaConsumerEvent] {
        state.withLock { state in
            defer { state.events.removeAll(keepingCapacity: true) }
            return state.events
        }
    }

    /// Releases partitions revoked earlier, now that the application has had its chance
    /// to commit for them.
    func releasePendingRevocation(_ handle: OpaquePointer) {
        if let pending = state.withLock({ state in defer { state.pendingRevocation = nil }; return state.pendingRevocation }) {
            release(handle, pending.partitions, cooperative: pending.cooperative)
        }
    }

    func pollBatch(_ handle: OpaquePointer, maxMessages: Int, timeout: Duration, fill: Duration = .zero, operation: String) throws(KafkaError) -> [KafkaConsumerEvent] {
        releasePendingRevocation(handle)
        let clock = ContinuousClock()
        var deadline = clock.now.advanced(by: timeout)
        /// Set once the first message is in, if the batch is to be filled.
        var filling = false
        var output: [KafkaConsumerEvent] = []
        var batch: [KafkaMessage] = []
        var messages = 0
        // The topic of the last message and its name: consecutive messages mostly share it.
        var topicName: (handle: OpaquePointer?, name: String) = (nil, "")
        func endBatch() {
            if !batch.isEmpty {
                output.append(.messages(batch))
                batch.removeAll()
            }
        }
        while messages < maxMessages {
            let waiting = (output.isEmpty && batch.isEmpty) || filling
            // Rounded up: a unit spent 5% of a core idle polling its last fraction of
            // a millisecond with no wait.
            let wait = waiting ? (deadline - clock.now).millisecondsRoundedUp : 0
            let message = rd_kafka_consumer_poll(handle, Int32(clamping: wait))
            let happened = takeEvents()
            let rebalanced = happened.contains { if case .error = $0 { false } else { true } }
            if !happened.isEmpty {
                endBatch()
                output += happened
            }
            if let message {
                defer { rd_kafka_message_destroy(message) }
                let err = message.pointee.err
                if err == RD_KAFKA_RESP_ERR_NO_ERROR {
                    if message.pointee.rkt != topicName.handle {
                        topicName = (message.pointee.rkt, String(cString: rd_kafka_topic_name(message.pointee.rkt)))
                    }
                    let received = KafkaMessage(message, topic: topicName.name)
                    if try continuous(received, handle: handle) {
                        batch.append(received)
                        messages += 1
                        if messages == 1 && fill > .zero {
                            filling = true
                            deadline = clock.now.advanced(by: fill)
                        }
                    }
                } else if err == RD_KAFKA_RESP_ERR__PARTITION_EOF {
                    endBatch()
                    let partition = KafkaTopicPartition(topic: String(cString: rd_kafka_topic_name(message.pointee.rkt)), partition: message.pointee.partition)
                    output.append(.partitionEOF(partition, nextOffset: message.pointee.offset))
                } else {
                    endBatch()
                    if let fatal = RDKafkaHandle.fatalCondition(handle, operation: operation) { throw fatal }
                    let topic = message.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) }
                    let partition = topic.map { KafkaTopicPartition(topic: $0, partition: message.pointee.partition) }
                    output.append(.error(KafkaError(err, operation: "consume \(topic ?? "?")[\(message.pointee.partition)]", topicPartition: partition)))
                }
            } else if !waiting || clock.now >= deadline {
                break
            }
            if rebalanced { break }
        }
        endBatch()
        return output
    }
}

extension ConsumerCallbacks {
    /// Whether `message` goes to the application; false when its partition is read again
    /// from the first offset a fetch skipped (see `OffsetContinuity`).
    fileprivate func continuous(_ message: KafkaMessage, handle: OpaquePointer) throws(KafkaError) -> Bool {
        guard checksGaps else { return true }
        let partition = message.topicPartition
        let verdict = continuity.withLock { continuity in
            continuity.check(partition, offset: message.offset, now: .now) { KafkaConsumer.cachedWatermarks(handle, partition)?.high }
        }
        switch verdict {
        case .deliver:
            return true
        case .deliverAfterAbsent(let missing, let confirmed):
            logger.log(level: confirmed ? .info : .debug, "offsets \(missing.lowerBound)..<\(missing.upperBound) of \(partition) hold no records (compaction, transaction markers or retention); reading on at \(message.offset)")
            return true
        case .deliverAfterReread(let missing):
            logger.warning("the broker skipped offsets \(missing.lowerBound)..<\(missing.upperBound) of \(partition) in a fetch and served them when they were read again; nothing was lost, but the broker exposes records out of offset order")
            return true
        case .reread(let from):
            // A partition the seek could not move would go on after the dropped records:
            // that throws, naming them.
            try KafkaConsumer.seek(
                handle, to: [KafkaTopicPartitionOffset(partition, offset: KafkaOffset(from))], timeout: seekTimeout,
                operation: "read \(partition) again from offset \(from), the first offset a fetch skipped (it served \(message.offset)); stopping rather than stepping over them"
            )
            return false
        }
    }
}

private let rebalanceCallback: @convention(c) (OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?) -> Void = {
    handle, err, partitions, opaque in
    guard let handle, let opaque else { return }
    Unmanaged<ConsumerCallbacks>.fromOpaque(opaque).takeUnretainedValue().rebalance(handle, err, partitions)
}

extension KafkaMessage {
    /// Copies a librdkafka message into one allocation of Swift memory. `topic` is the
    /// name of the message's topic, which the caller keeps from one message to the next:
    /// a name longer than 15 bytes costs an allocation each time it is made.
    init(_ message: UnsafeMutablePointer<rd_kafka_message_t>, topic: String) {
        let m = message.pointee
        var list: OpaquePointer?
        let headers = rd_kafka_message_headers(message, &list) == RD_KAFKA_RESP_ERR_NO_ERROR ? list : nil
        func header(_ index: Int) -> KafkaHeaderBytes? {
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            guard let headers, rd_kafka_header_get_all(headers, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
            let nameBytes = name.map { UnsafeRawBufferPointer(start: $0, count: strlen($0)) } ?? UnsafeRawBufferPointer(start: nil, count: 0)
            return (nameBytes, value.map { UnsafeRawBufferPointer(start: $0, count: size) })
        }
        // Two passes over the headers, sizes then bytes, for one allocation.
        let headerCount = headers.map { rd_kafka_header_cnt($0) } ?? 0
        var headerBytes = 0
        for index in 0..<headerCount {
            if let header = header(index) { headerBytes += header.name.count + (header.value?.count ?? 0) }
        }
        let record = KafkaRecordBytes.make(
            key: m.key.map { UnsafeRawBufferPointer(start: $0, count: m.key_len) },
            value: m.payload.map { UnsafeRawBufferPointer(start: $0, count: m.len) },
            headerCount: headerCount, headerBytes: headerBytes
        ) { writer in
            for index in 0..<headerCount {
                if let header = header(index) { writer.append(name: header.name, value: header.value) }
            }
        }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &timestampType)
        self.init(
            topic: topic, partition: m.partition, offset: m.offset, record: record,
            timestampMilliseconds: timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : timestamp
        )
    }
}

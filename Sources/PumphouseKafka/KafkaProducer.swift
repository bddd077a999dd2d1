import CRDKafka
import Logging
import NIOPosix
import PumphouseBlocking
import Synchronization

/// An idempotent, keyed Kafka producer.
///
/// `send` only enqueues into librdkafka and returns at once, so a processing unit's
/// request path never waits on the broker; the outcome arrives later as a
/// ``KafkaDeliveryReport`` on the delivery handler, or through `deliver` for callers
/// that do want to wait. librdkafka's event loop runs on the handle's own thread, off
/// Swift's cooperative pool.
public final class KafkaProducer: Sendable {
    /// Called once per message sent with `send`, on the producer's polling thread (or,
    /// during `flush` and `shutdown`, on the thread running those, possibly at the same
    /// time). Keep it short and thread-safe: it runs between librdkafka's network events.
    public typealias DeliveryHandler = @Sendable (KafkaDeliveryReport) -> Void

    /// Called with the reports of every message sent with `send` that one poll of
    /// librdkafka served (or one flush), in the order librdkafka reported them, which is
    /// send order within a partition. An owner that keeps its own state per message pays
    /// its locks once per batch rather than once per message: at a hundred thousand
    /// messages a second, per-message locking on the polling thread contends with every
    /// sender that takes the same locks. Runs on the polling thread, or on the thread
    /// running `flush`, `shutdown` or `abandon`, never two batches at once; when one of
    /// those returns, every report it waited for has been handled.
    public typealias DeliveryBatchHandler = @Sendable ([KafkaDeliveryReport]) -> Void

    private let handle: RDKafkaHandle
    private let callbacks: ProducerCallbacks
    /// The poll loop holds the handle's own thread, so a flush, which waits up to its
    /// timeout, needs one beside it.
    private let flushing: NIOThreadPool
    private let polling = PollingFlag()
    private let nextID = Atomic<UInt64>(1)
    private let logger: Logger

    public convenience init(
        configuration: KafkaProducerConfiguration,
        logger: Logger,
        onDelivery: DeliveryHandler? = nil
    ) throws(KafkaError) {
        try self.init(configuration: configuration, logger: logger, reports: onDelivery.map { .each($0) } ?? .none)
    }

    /// A producer whose delivery reports reach `onDeliveries` in batches (see
    /// ``DeliveryBatchHandler``).
    public convenience init(
        configuration: KafkaProducerConfiguration,
        logger: Logger,
        onDeliveries: @escaping DeliveryBatchHandler
    ) throws(KafkaError) {
        try self.init(configuration: configuration, logger: logger, reports: .batches(onDeliveries))
    }

    private init(configuration: KafkaProducerConfiguration, logger: Logger, reports: ProducerCallbacks.Reporting) throws(KafkaError) {
        let callbacks = ProducerCallbacks(logger: logger, reporting: reports)
        self.handle = try RDKafkaHandle(
            kind: .producer,
            properties: configuration.librdkafkaProperties,
            callbacks: callbacks,
            operation: "create producer"
        ) { conf in
            rd_kafka_conf_set_dr_msg_cb(conf, deliveryReportCallback)
        }
        self.callbacks = callbacks
        self.logger = logger
        self.flushing = NIOThreadPool(numberOfThreads: 1)
        flushing.start()
        handle.startLoop { [polling] pointer in
            while polling.isOn {
                rd_kafka_poll(pointer, 100)
                callbacks.handOverCollected()
            }
            callbacks.handOverCollected()
        }
    }

    deinit {
        // The handle, released after this, is destroyed once the loop has seen this.
        polling.stop()
        flushing.shutdownGracefully { _ in }
    }

    /// Enqueues a message and returns without waiting for the broker.
    ///
    /// Throws at once only when the message cannot be queued: the local queue is full
    /// (`queueFull`; back off or spool), the topic name is invalid, or the producer hit a
    /// fatal error. Everything after that is reported through the delivery handler.
    @discardableResult
    public func send(_ message: KafkaProducerMessage) throws(KafkaError) -> KafkaMessageID {
        try checkOpen(message)
        defer { polling.endSend() }
        let id = nextID.add(1, ordering: .relaxed).oldValue & ~ProducerCallbacks.awaitedFlag
        try enqueue(message, opaque: id)
        return KafkaMessageID(rawValue: id)
    }

    /// Like `send`, but the delivery report carries `id`, chosen by the caller, instead
    /// of one the producer picks: an owner that numbers its messages anyway (a spool, say)
    /// then needs no table from the producer's ids to its own. `id` must be below 2^63;
    /// do not mix it with `send(_:)` on one producer, whose ids it could repeat.
    public func send(_ message: KafkaProducerMessage, reportingAs id: UInt64) throws(KafkaError) {
        precondition(id & ProducerCallbacks.awaitedFlag == 0, "a caller's message id must be below 2^63")
        try checkOpen(message)
        defer { polling.endSend() }
        try enqueue(message, opaque: id)
    }

    /// Like `send(_:reportingAs:)`, for a message whose bytes lie in the caller's storage
    /// (librdkafka copies them before this returns): an owner that keeps every message
    /// encoded anyway, as a spool does, then builds no Swift value per send. `headers`
    /// calls its argument once per header, in order, with the name's and the value's
    /// bytes.
    public func send(
        topic: String,
        partition: Int32?,
        key: UnsafeRawBufferPointer,
        value: UnsafeRawBufferPointer,
        headers: (_ add: (_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Void) -> Void,
        reportingAs id: UInt64
    ) throws(KafkaError) {
        precondition(id & ProducerCallbacks.awaitedFlag == 0, "a caller's message id must be below 2^63")
        try checkOpen(topic: topic)
        defer { polling.endSend() }
        // librdkafka sizes the list from this hint and grows it past it.
        let list = rd_kafka_headers_new(8)
        headers { name, value in
            // Both with their sizes, so neither needs a terminator; an empty one still
            // needs a pointer that is not null.
            let namePointer = (name.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!).assumingMemoryBound(to: CChar.self)
            _ = rd_kafka_header_add(list, namePointer, name.count, value.baseAddress ?? UnsafeRawPointer(bitPattern: 1), value.count)
        }
        try produce(topic: topic, partition: partition, key: key, value: value, headers: list, opaque: id)
    }

    /// Like `send`, but waits while the local queue is full instead of throwing
    /// `queueFull`, trying again every `interval`: the queue drains as the broker
    /// acknowledges. librdkafka signals no "room again" event (the delivery reports go to
    /// the owner's handler), so retrying is its documented way. For bulk producers that
    /// would rather slow down than keep a backlog.
    @discardableResult
    public func send(_ message: KafkaProducerMessage, waitingForRoomEvery interval: Duration) async throws -> KafkaMessageID {
        while true {
            do throws(KafkaError) {
                return try send(message)
            } catch {
                guard error.code == .queueFull else { throw error }
            }
            try await Task.sleep(for: interval)
        }
    }

    /// Sends a message and waits until the broker acknowledged it or librdkafka gave up
    /// (after `messageTimeout`).
    public func deliver(_ message: KafkaProducerMessage) async throws -> KafkaDeliveredMessage {
        try checkOpen(message)
        let id = nextID.add(1, ordering: .relaxed).oldValue | ProducerCallbacks.awaitedFlag
        return try await withCheckedThrowingContinuation { continuation in
            // The closure runs before the await suspends: the send ends with it.
            defer { polling.endSend() }
            callbacks.await(id, continuation)
            do {
                try enqueue(message, opaque: id)
            } catch {
                callbacks.cancelAwait(id)?.resume(throwing: error)
                return
            }
            // A shutdown that finished between the check above and the enqueue polls no
            // more: nothing would report this message, so it fails here, once (either
            // this or the shutdown's sweep of waiters takes it).
            if !polling.isOn { callbacks.cancelAwait(id)?.resume(throwing: Self.stopped(topic: message.topic)) }
        }
    }

    private static func stopped(topic: String) -> KafkaError {
        KafkaError(code: .state, message: "the producer stopped before the broker answered", operation: "produce to topic \"\(topic)\"")
    }

    /// The fatal error that made this producer unusable (for an idempotent producer, e.g.
    /// a sequence the broker no longer accepts), if any: the owner must replace it.
    public var fatalError: KafkaError? { handle.fatalCondition(operation: "produce") }

    /// Messages queued or in flight, not yet reported.
    public var pendingCount: Int { Int(rd_kafka_outq_len(handle.pointer)) }

    /// Waits until every queued message has been reported, for at most `timeout`.
    public func flush(timeout: Duration) async throws {
        try await flush(timeout: timeout, evenIfCancelled: false)
    }

    /// A shutdown's flush runs even for a cancelled task: skipped, the reports of what
    /// is still queued would never reach the handler, and no one would poll for them.
    private func flush(timeout: Duration, evenIfCancelled: Bool) async throws {
        let (handle, callbacks) = (self.handle, self.callbacks)
        let work: @Sendable () -> rd_kafka_resp_err_t = {
            let err = rd_kafka_flush(handle.pointer, Int32(clamping: timeout.milliseconds))
            callbacks.handOverCollected()
            return err
        }
        let err = evenIfCancelled ? try await flushing.runToCompletion("flush the producer", work) : try await flushing.runIfActive(work)
        if err == RD_KAFKA_RESP_ERR__TIMED_OUT {
            throw KafkaError(
                code: .timedOut,
                message: "\(pendingCount) message(s) still unacknowledged after \(timeout)",
                operation: "flush"
            )
        }
        if let fatal = handle.fatalCondition(operation: "flush") { throw fatal }
    }

    /// Flushes, then stops. Messages still unacknowledged after `timeout` are purged and
    /// reported as failed to the delivery handler, never dropped silently.
    public func shutdown(timeout: Duration = .seconds(10)) async throws {
        // No new messages from here on: nothing would poll for their reports.
        polling.close()
        await polling.sendsEnded()
        defer { stopPolling() }
        do {
            try await flush(timeout: timeout, evenIfCancelled: true)
        } catch let error as KafkaError where error.code == .timedOut {
            logger.error("producer shutdown: \(pendingCount) message(s) unacknowledged after \(timeout); reporting them as failed")
            await purge()
            throw error
        }
    }

    /// Stops at once, reporting every queued or in-flight message as failed (purged):
    /// for a producer being replaced by one that sends its messages again.
    public func abandon() async {
        polling.close()
        await polling.sendsEnded()
        defer { stopPolling() }
        await purge()
    }

    /// Ends the poll loop, and fails whoever still waits in `deliver`: no report can
    /// reach them any more.
    private func stopPolling() {
        polling.stop()
        callbacks.failAwaiting(Self.stopped(topic: "?"))
    }

    /// On the flushing thread, cancelled or not: `rd_kafka_purge` waits for every broker
    /// thread to let go of its messages (stuck in a connect, say), and the flush after it
    /// hands the purged messages' failures to the handler.
    private func purge() async {
        let (handle, callbacks) = (self.handle, self.callbacks)
        _ = try? await flushing.runToCompletion("purge the producer") {
            rd_kafka_purge(handle.pointer, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
            rd_kafka_flush(handle.pointer, 1000)
            callbacks.handOverCollected()
        }
    }

    private func checkOpen(_ message: KafkaProducerMessage) throws(KafkaError) {
        try checkOpen(topic: message.topic)
    }

    /// Counts a send in progress, if the producer still takes messages (the caller ends
    /// it with `polling.endSend()` once librdkafka has the message): a shutdown waits for
    /// sends that passed this check before it flushes, so none is queued after the last
    /// poll, where its report would never come.
    private func checkOpen(topic: String) throws(KafkaError) {
        guard polling.beginSend() else {
            throw KafkaError(code: .state, message: "the producer is shut down", operation: "produce to topic \"\(topic)\"")
        }
    }

    private func enqueue(_ message: KafkaProducerMessage, opaque: UInt64) throws(KafkaError) {
        var headers: OpaquePointer?
        if !message.headers.isEmpty {
            headers = rd_kafka_headers_new(message.headers.count)
            for header in message.headers {
                header.value.withOptionalBytes { pointer, count in
                    _ = rd_kafka_header_add(headers, header.name, -1, pointer, count)
                }
            }
        }
        let refusal = message.key.withOptionalBuffer { key in
            message.value.withOptionalBuffer { value -> KafkaError? in
                do throws(KafkaError) {
                    try produce(topic: message.topic, partition: message.partition, key: key, value: value, headers: headers, opaque: opaque)
                    return nil
                } catch {
                    return error
                }
            }
        }
        if let refusal { throw refusal }
    }

    /// Hands one message to librdkafka, which copies every byte before this returns and
    /// takes `headers` over unless it refuses the message.
    private func produce(
        topic: String, partition: Int32?, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, headers: OpaquePointer?, opaque: UInt64
    ) throws(KafkaError) {
        let error = topic.withCString { topicName in
            withUnsafeTemporaryAllocation(of: rd_kafka_vu_t.self, capacity: 7) { fields in
                var count = 0
                func add(_ type: rd_kafka_vtype_t, _ fill: (inout rd_kafka_vu_t) -> Void) {
                    var field = rd_kafka_vu_t()
                    field.vtype = type
                    fill(&field)
                    fields.initializeElement(at: count, to: field)
                    count += 1
                }
                add(RD_KAFKA_VTYPE_TOPIC) { $0.u.cstr = topicName }
                add(RD_KAFKA_VTYPE_MSGFLAGS) { $0.u.i = RD_KAFKA_MSG_F_COPY }
                add(RD_KAFKA_VTYPE_OPAQUE) { $0.u.ptr = UnsafeMutableRawPointer(bitPattern: UInt(opaque)) }
                // An empty key or value is not an absent one: librdkafka tells them apart by
                // a null pointer, so an empty buffer gets a non-null one.
                if let key {
                    add(RD_KAFKA_VTYPE_KEY) {
                        $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: key.baseAddress ?? UnsafeRawPointer(bitPattern: 1))
                        $0.u.mem.size = key.count
                    }
                }
                if let value {
                    add(RD_KAFKA_VTYPE_VALUE) {
                        $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: value.baseAddress ?? UnsafeRawPointer(bitPattern: 1))
                        $0.u.mem.size = value.count
                    }
                }
                if let partition {
                    add(RD_KAFKA_VTYPE_PARTITION) { $0.u.i32 = partition }
                }
                if let headers {
                    add(RD_KAFKA_VTYPE_HEADERS) { $0.u.headers = headers }
                }
                let result = rd_kafka_produceva(handle.pointer, fields.baseAddress, count)
                fields.baseAddress!.deinitialize(count: count)
                return result
            }
        }
        if let error {
            // On failure the headers stay ours to free.
            if let headers { rd_kafka_headers_destroy(headers) }
            throw KafkaError(consuming: error, operation: "produce to topic \"\(topic)\"")
        }
    }
}

/// Routes delivery reports to either a waiting `deliver` call or the owner's handler.
/// The top bit of a message's opaque id says which, so the common `send` path takes no lock.
final class ProducerCallbacks: RDKafkaCallbacks, @unchecked Sendable {
    static let awaitedFlag: UInt64 = 1 << 63

    /// How the owner takes the reports of messages sent with `send`.
    enum Reporting {
        case none
        case each(KafkaProducer.DeliveryHandler)
        case batches(KafkaProducer.DeliveryBatchHandler)
    }

    /// Reports collected for a batch handler since the last hand-over, and the last
    /// topic's name, so that a report costs no String of its own in the usual case of
    /// one topic after another.
    private struct Collected {
        var reports: [KafkaDeliveryReport] = []
        var topic: (handle: UInt, name: String)?
    }

    private let reporting: Reporting
    private let awaiting = Mutex<[UInt64: CheckedContinuation<KafkaDeliveredMessage, any Error>]>([:])
    private let collected = Mutex(Collected())
    /// The batch being handed over, its buffer kept between batches. Held while the
    /// handler runs, so batches never overlap and a flush that hands over after
    /// librdkafka's own flush returns only once a batch the polling thread took is
    /// handled too.
    private let handingOver = Mutex<[KafkaDeliveryReport]>([])

    init(logger: Logger, reporting: Reporting) {
        self.reporting = reporting
        super.init(logger: logger)
    }

    func await(_ id: UInt64, _ continuation: CheckedContinuation<KafkaDeliveredMessage, any Error>) {
        awaiting.withLock { $0[id] = continuation }
    }

    func cancelAwait(_ id: UInt64) -> CheckedContinuation<KafkaDeliveredMessage, any Error>? {
        awaiting.withLock { $0.removeValue(forKey: id) }
    }

    /// Fails every waiter still registered, each once (taken out under the lock, as a
    /// report would take it).
    func failAwaiting(_ error: KafkaError) {
        let waiters = awaiting.withLock { awaiting in
            defer { awaiting.removeAll() }
            return Array(awaiting.values)
        }
        for waiter in waiters { waiter.resume(throwing: error) }
    }

    func delivered(_ message: UnsafePointer<rd_kafka_message_t>) {
        let raw = UInt64(UInt(bitPattern: message.pointee._private))
        let id = KafkaMessageID(rawValue: raw)
        let awaited = raw & Self.awaitedFlag != 0
        if !awaited, case .batches = reporting {
            collected.withLock { collected in
                let report = Self.report(message, id: id, topic: Self.topicName(message.pointee.rkt, cache: &collected.topic))
                collected.reports.append(report)
            }
            return
        }
        var unused: (handle: UInt, name: String)?
        let report = Self.report(message, id: id, topic: Self.topicName(message.pointee.rkt, cache: &unused))
        if awaited {
            guard let continuation = cancelAwait(raw) else { return }
            switch report {
            case .delivered(let delivered): continuation.resume(returning: delivered)
            case .failed(_, let error): continuation.resume(throwing: error)
            }
        } else if case .each(let onDelivery) = reporting {
            onDelivery(report)
        } else if case .failed(_, let error) = report {
            logger.error("undelivered message \(id) and no delivery handler: \(error)")
        }
    }

    /// Hands the reports collected so far to the batch handler, if there is one and
    /// they are any.
    func handOverCollected() {
        guard case .batches(let onDeliveries) = reporting else { return }
        handingOver.withLock { batch in
            collected.withLock { swap(&$0.reports, &batch) }
            guard !batch.isEmpty else { return }
            onDeliveries(batch)
            batch.removeAll(keepingCapacity: true)
        }
    }

    private static func report(_ message: UnsafePointer<rd_kafka_message_t>, id: KafkaMessageID, topic: String) -> KafkaDeliveryReport {
        if message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
            .delivered(KafkaDeliveredMessage(id: id, topic: topic, partition: message.pointee.partition, offset: message.pointee.offset))
        } else {
            .failed(id, KafkaError(message.pointee.err, operation: "deliver to topic \"\(topic)\""))
        }
    }

    /// The topic's name, from `cache` when it holds this topic: the handle alone could
    /// be a new topic's at a freed one's address, so the name's bytes are compared too.
    private static func topicName(_ handle: OpaquePointer?, cache: inout (handle: UInt, name: String)?) -> String {
        guard let handle, let name = rd_kafka_topic_name(handle) else { return "?" }
        if let cached = cache, cached.handle == UInt(bitPattern: handle) {
            var known = cached.name
            let same = known.withUTF8 { known in
                strlen(name) == known.count && (known.isEmpty || memcmp(name, known.baseAddress!, known.count) == 0)
            }
            if same { return known }
        }
        let text = String(cString: name)
        cache = (UInt(bitPattern: handle), text)
        return text
    }
}

private let deliveryReportCallback: @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?) -> Void = {
    _, message, opaque in
    guard let message, let opaque else { return }
    Unmanaged<ProducerCallbacks>.fromOpaque(opaque).takeUnretainedValue().delivered(message)
}

extension Optional where Wrapped == [UInt8] {
    /// The bytes, or nil for an absent key or value.
    func withOptionalBuffer<R>(_ body: (UnsafeRawBufferPointer?) -> R) -> R {
        switch self {
        case .none: body(nil)
        case .some(let bytes): bytes.withUnsafeBytes { body($0) }
        }
    }

    /// Bytes for a C call: nil stays a null pointer (a null key or value in Kafka).
    func withOptionalBytes<R>(_ body: (UnsafeRawPointer?, Int) -> R) -> R {
        switch self {
        case .none: body(nil, 0)
        case .some(let bytes): bytes.withUnsafeBytes { body($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1), $0.count) }
        }
    }
}

/// The producer's lifecycle flags: whether it takes new messages, and whether the poll
/// loop runs. A separate object so the loop does not keep the producer alive.
private final class PollingFlag: Sendable {
    private let on = Atomic<Bool>(true)
    private let accepting = Atomic<Bool>(true)
    /// Sends past the open check and not yet in librdkafka's queue.
    private let sending = Atomic<Int>(0)
    var isOn: Bool { on.load(ordering: .relaxed) }
    func close() { accepting.store(false, ordering: .sequentiallyConsistent) }

    /// Counted first, then checked, and `close` stores before `sendsEnded` reads the
    /// count (all sequentially consistent): a send either sees the producer closed or is
    /// seen by the closer, never neither.
    func beginSend() -> Bool {
        sending.add(1, ordering: .sequentiallyConsistent)
        guard accepting.load(ordering: .sequentiallyConsistent) else {
            sending.subtract(1, ordering: .sequentiallyConsistent)
            return false
        }
        return true
    }

    func endSend() { sending.subtract(1, ordering: .releasing) }

    /// Returns once every send counted before `close` has handed its message over: a
    /// few microseconds each, so it yields rather than sleeps.
    func sendsEnded() async {
        while sending.load(ordering: .sequentiallyConsistent) > 0 { await Task.yield() }
    }
    func stop() {
        close()
        on.store(false, ordering: .relaxed)
    }
}

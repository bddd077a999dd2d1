import DequeModule
import Logging
import PumphouseContracts
import PumphouseKafka
import Synchronization

/// Publishes a unit's changes to their caches' topics: every change is numbered, written
/// to the durable spool, and handed to the idempotent producer, in one order.
///
/// The spool comes first so that no accepted change depends on the broker: with the
/// broker away, changes queue in librdkafka (which never gives up on them: no message
/// timeout) and, once that queue is full, in the backlog here; both drain in sequence
/// order when it returns. A change is acknowledged in the spool when the broker has it,
/// and whatever a killed unit left unacknowledged is sent again on restart: the writers
/// collapse the duplicates by (origin, sequence).
///
/// A producer that hits a fatal error (an idempotence sequence the broker no longer
/// accepts, e.g. after a broker lost its producer state) is replaced, and every change
/// it had not got acknowledged is sent again, in order, by the new one.
///
/// Numbering and spooling happen under one lock and end with the change in the outbox,
/// so the outbox's order is the sequence order, which is what lets downstream treat a
/// lower sequence as a duplicate. Handing changes to librdkafka happens outside that lock:
/// one thread at a time (the sender, whichever put or drain found the role free) takes
/// changes from the front of the outbox and sends them in order, while other puts only
/// append and return, never waiting on librdkafka.
final class DataPump: Sendable {
    let origin: String
    private let spool: DurableSpool
    private let kafka: KafkaProducerConfiguration
    private let state: Mutex<State>
    /// Changes spooled and not yet acknowledged by the broker, for resending after a
    /// producer is replaced; bounded like the spool.
    private let unacknowledged = Unacknowledged()
    private let health = ProducerHealth()
    /// Held by the one thread sending from the outbox.
    private let sending = Atomic(false)
    private let logger: Logger
    private let metrics: UnitMetrics

    private struct State {
        var producer: KafkaProducer
        var inFlight: InFlightTable
        var nextSequence: Int64
        /// Changes spooled but not yet taken by the producer, oldest first: the outbox.
        var backlog: Deque<SpoolRecord>
        var isClosed = false
    }

    /// Which sequence each message of one producer carries. A report can beat the
    /// bookkeeping of its own send (it arrives on the producer's thread), so early
    /// outcomes wait here. Retired with its producer: late reports are then ignored.
    private final class InFlightTable: Sendable {
        struct Table {
            var sequences: [KafkaMessageID: Int64] = [:]
            var early: [KafkaMessageID: KafkaDeliveryReport] = [:]
            var retired = false
        }

        let table = Mutex(Table())
    }

    private final class Unacknowledged: Sendable {
        let records = Mutex<[Int64: SpoolRecord]>([:])
    }

    /// Set from the producer's thread when it hit a fatal error; the pump replaces it.
    private final class ProducerHealth: Sendable {
        let failed = Atomic(false)
    }

    /// How far numbering jumps at every start. A change is sent as soon as it is
    /// spooled, so a killed unit may have published changes from its last milliseconds
    /// that never reached its disk; numbering past them (a million changes is minutes of
    /// work at full speed, far beyond the spool's few milliseconds) keeps a new change
    /// from reusing their numbers and being dropped downstream as a duplicate.
    static let restartGap: Int64 = 1 << 20

    /// Thrown when a change cannot be accepted; the unit's memory is left unchanged.
    enum Refusal: Error {
        case spool(SpoolError)
        case closed
    }

    init(origin: String, spool: DurableSpool, kafka: KafkaConnectionConfiguration, logger: Logger, metrics: UnitMetrics) throws(KafkaError) {
        self.origin = origin
        self.spool = spool
        self.logger = logger
        self.metrics = metrics
        var configuration = KafkaProducerConfiguration(connection: kafka)
        // Never give up on a change: the spool bounds what can pile up, not a timer.
        configuration.messageTimeout = .zero
        configuration.linger = .milliseconds(1)
        self.kafka = configuration
        let inFlight = InFlightTable()
        let producer = try Self.producer(configuration, inFlight: inFlight, spool: spool, unacknowledged: unacknowledged, health: health, metrics: metrics, logger: logger)
        unacknowledged.records.withLock { records in
            for record in spool.recovered { records[record.sequence] = record }
        }
        self.state = Mutex(State(producer: producer, inFlight: inFlight, nextSequence: spool.lastSequence + Self.restartGap, backlog: Deque(spool.recovered)))
        if let first = spool.recovered.first, let last = spool.recovered.last {
            logger.notice("resending \(spool.recovered.count) change(s) left in the spool by the previous run (sequences \(first.sequence) to \(last.sequence))")
        }
        drainBacklog()
    }

    /// Numbers, spools and sends one change. `body` gets the sequence number and a
    /// function that spools the change's record; it must call that exactly once, before
    /// changing anything, and it runs under the pump's lock (keep it short). A refusal
    /// from the spool propagates out of `body`, leaving the caller's state unchanged.
    /// The change goes to librdkafka after the lock is released.
    func publish<T>(_ body: (Int64, (SpoolRecord) throws(Refusal) -> Void) throws -> T) throws -> T {
        let result = try state.withLock { state in
            guard !state.isClosed else { throw Refusal.closed }
            var spooled: SpoolRecord?
            let result = try body(state.nextSequence) { (record: SpoolRecord) throws(Refusal) in
                do throws(SpoolError) {
                    try spool.append(record)
                } catch {
                    metrics.refused.increment()
                    throw Refusal.spool(error)
                }
                spooled = record
            }
            guard let record = spooled else { return result }
            state.nextSequence += 1
            unacknowledged.records.withLock { $0[record.sequence] = record }
            state.backlog.append(record)
            return result
        }
        sendOutbox()
        return result
    }

    /// Replaces a failed producer if needed, then sends what the backlog holds, in
    /// order, until the producer's queue is full again.
    func drainBacklog() {
        if let fatal = state.withLock({ $0.producer.fatalError }) {
            logger.error("the producer failed: \(fatal)")
            health.failed.store(true, ordering: .relaxed)
        }
        if health.failed.load(ordering: .relaxed) { replaceProducer() }
        sendOutbox()
        metrics.backlog.record(state.withLock { $0.backlog.count })
        metrics.spoolPendingBytes.record(spool.pendingBytes)
    }

    /// Sends the outbox in order unless another thread is already doing so (it sends
    /// what was appended meanwhile before it lets go). Stops when the outbox is empty or
    /// the producer's queue is full; the unit's drain loop tries again later.
    private func sendOutbox() {
        while sending.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged {
            var full = false
            // One change at a time off the front, with the producer it is for; the send
            // itself happens outside the lock.
            while let (record, producer, inFlight) = state.withLock({ state in
                state.backlog.popFirst().map { ($0, state.producer, state.inFlight) }
            }) {
                guard send(record, producer: producer, inFlight: inFlight) else {
                    full = true
                    state.withLock { state in
                        // A producer replaced meanwhile took every unacknowledged change
                        // into the new outbox already, this one included.
                        if state.producer === producer { state.backlog.prepend(record) }
                    }
                    break
                }
            }
            sending.store(false, ordering: .releasing)
            // A change appended after the last look but before the role was let go would
            // wait for the next put or drain; look once more.
            guard !full, state.withLock({ !$0.backlog.isEmpty }) else { return }
        }
    }

    /// Whether the pump has work for `drainBacklog`: a backlog, or a failed producer.
    /// Changes accepted but not yet acknowledged by the broker.
    var unacknowledgedCount: Int { unacknowledged.records.withLock { $0.count } }

    var needsDraining: Bool {
        health.failed.load(ordering: .relaxed) || state.withLock { !$0.backlog.isEmpty || $0.producer.fatalError != nil }
    }

    /// Returns once every change accepted so far is on disk.
    func sync() async throws(SpoolError) {
        try await spool.sync()
    }

    /// Stops taking changes, sends the backlog and waits up to `timeout` for the broker;
    /// what is still unacknowledged stays in the spool for the next start.
    func close(timeout: Duration) async {
        state.withLock { $0.isClosed = true }
        drainBacklog()
        let producer = state.withLock { $0.producer }
        do {
            try await producer.flush(timeout: timeout)
        } catch {
            logger.warning("the broker did not acknowledge every change within \(timeout); \(spool.pendingRecords) stay in the spool for the next start")
        }
        state.withLock { $0.inFlight.table.withLock { $0.retired = true } }
        try? await producer.shutdown(timeout: .seconds(1))
        do {
            try await spool.close()
        } catch {
            logger.error("closing the spool: \(error)")
        }
    }

    /// A new producer, and every unacknowledged change queued again behind it, in order.
    private func replaceProducer() {
        state.withLock { state in
            guard health.failed.exchange(false, ordering: .relaxed) else { return }
            let inFlight = InFlightTable()
            let producer: KafkaProducer
            do {
                producer = try Self.producer(kafka, inFlight: inFlight, spool: spool, unacknowledged: unacknowledged, health: health, metrics: metrics, logger: logger)
            } catch {
                logger.error("could not create a new producer, will retry: \(error)")
                health.failed.store(true, ordering: .relaxed)
                return
            }
            state.inFlight.table.withLock { $0.retired = true }
            let retired = state.producer
            Task { await retired.abandon() }
            state.producer = producer
            state.inFlight = inFlight
            state.backlog = Deque(unacknowledged.records.withLock { $0.values.sorted { $0.sequence < $1.sequence } })
            metrics.producerReplacements.increment()
            logger.warning("the producer hit a fatal error and was replaced; resending \(state.backlog.count) unacknowledged change(s) in order (duplicates collapse downstream)")
        }
    }

    /// false when the producer's queue is full, or it failed (then it is replaced).
    private func send(_ record: SpoolRecord, producer: KafkaProducer, inFlight: InFlightTable) -> Bool {
        let message = KafkaProducerMessage(
            topic: record.topic, key: record.key, value: record.value,
            headers: record.headers.map { KafkaHeader(name: $0.name, value: $0.value) }
        )
        do {
            let id = try producer.send(message)
            let early = inFlight.table.withLock { table in
                if let report = table.early.removeValue(forKey: id) { return report as KafkaDeliveryReport? }
                table.sequences[id] = record.sequence
                return nil
            }
            if let early {
                Self.settle(record.sequence, early, spool: spool, unacknowledged: unacknowledged, health: health, metrics: metrics, logger: logger)
            }
            return true
        } catch {
            if error.isFatal {
                health.failed.store(true, ordering: .relaxed)
            } else if error.code != .queueFull {
                logger.warning("the producer refused change \(record.sequence) for now; it stays in the backlog: \(error)")
            }
            return false
        }
    }

    private static func producer(
        _ configuration: KafkaProducerConfiguration, inFlight: InFlightTable, spool: DurableSpool, unacknowledged: Unacknowledged,
        health: ProducerHealth, metrics: UnitMetrics, logger: Logger
    ) throws(KafkaError) -> KafkaProducer {
        try KafkaProducer(configuration: configuration, logger: logger) { report in
            let sequence: Int64? = inFlight.table.withLock { table in
                guard !table.retired else { return nil }
                let sequence = table.sequences.removeValue(forKey: report.id)
                if sequence == nil { table.early[report.id] = report }
                return sequence
            }
            guard let sequence else { return }
            settle(sequence, report, spool: spool, unacknowledged: unacknowledged, health: health, metrics: metrics, logger: logger)
        }
    }

    /// A change's outcome from the broker. It fails only on a producer error (the
    /// timeout is off): the change stays unacknowledged, and a fatal error gets the
    /// producer replaced, which sends it again.
    private static func settle(
        _ sequence: Int64, _ report: KafkaDeliveryReport, spool: DurableSpool, unacknowledged: Unacknowledged,
        health: ProducerHealth, metrics: UnitMetrics, logger: Logger
    ) {
        switch report {
        case .delivered:
            spool.acknowledge(sequence)
            unacknowledged.records.withLock { _ = $0.removeValue(forKey: sequence) }
            metrics.published.increment()
        case .failed(_, let error):
            metrics.publishFailures.increment()
            if error.isFatal {
                health.failed.store(true, ordering: .relaxed)
            } else {
                logger.error("change \(sequence) was not published and stays in the spool for the next start: \(error)")
            }
        }
    }
}

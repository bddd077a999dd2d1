import DequeModule
import Logging
import PumphouseContracts
import PumphouseKafka
import Synchronization

/// Publishes a unit's changes to their caches' topics: every change is numbered, written
/// to the durable spool, and handed to the idempotent producer, in one order per
/// partition.
///
/// The spool comes first so that no accepted change depends on the broker: with the
/// broker away, changes queue in librdkafka (which never gives up on them: no message
/// timeout) and, once that queue is full, in the lanes here; both drain in sequence
/// order when it returns. A change is acknowledged in the spool when the broker has it,
/// and whatever a killed unit left unacknowledged is sent again on restart: the writers
/// collapse the duplicates by (origin, sequence).
///
/// Each partition of each cache topic is a ``Lane``: its own sequence numbers (contiguous
/// within a run), its own lock, and its own queue of changes in sequence order, so puts
/// to different partitions or caches share no lock here (the spool's append takes its
/// lock for a few instructions). Within a lane, numbering, spooling and queueing happen
/// under the lane's lock, so the queue's order is the sequence order, which is what lets
/// downstream treat a lower sequence as a duplicate. The putting thread then hands the
/// lane's queue to librdkafka itself (``send(_:)``), from the front, in order and
/// outside every lock; the pump's own thread (``LaneSender``) sends what that leaves: a
/// full producer queue, changes recovered at start, everything resent after a producer
/// is replaced, ownership claims. One thread at a time per lane sends (the lane's sender
/// role), so no two senders reorder a lane.
///
/// A producer that hits a fatal error (an idempotence sequence the broker no longer
/// accepts, e.g. after a broker lost its producer state) is replaced, and every change
/// it had not got acknowledged is sent again, in order, by the new one.
package final class DataPump: Sendable {
    let origin: String
    /// This run's first sequence number, where every lane's numbering starts; carried in
    /// each change, so consumers tell this run's jump from a hole (SequenceContinuity).
    let incarnation: Int64
    private let spool: DurableSpool
    private let kafka: KafkaProducerConfiguration
    /// Every lane, by its index (which delivery reports carry).
    private let lanes: [Lane]
    /// The lanes of each configured topic, by partition.
    private let lanesByTopic: [String: [Lane]]
    private let current: Mutex<CurrentProducer>
    private let health = ProducerHealth()
    private let closed = Atomic(false)
    /// Hands queued changes to librdkafka, so that no put waits on it.
    private let sender: LaneSender
    private let logger: Logger
    private let metrics: UnitMetrics
    /// Ends the unit's waits for confirmations at their timeouts (the caches' too).
    let deadlines = DeadlineSweeper()

    /// The producer in use and the generation its reports belong to.
    private struct CurrentProducer {
        var producer: KafkaProducer
        var generation: ProducerGeneration
    }

    /// One producer's reports; retired with it, so late reports are ignored.
    private final class ProducerGeneration: Sendable {
        let retired = Atomic(false)
    }

    /// Set from the producer's thread when it hit a fatal error; the pump replaces it.
    final class ProducerHealth: Sendable {
        let failed = Atomic(false)
    }

    /// How far numbering jumps at every start. A change is sent as soon as it is
    /// spooled, so a killed unit may have published changes from its last milliseconds
    /// that never reached its disk; numbering past them (a million changes is minutes of
    /// work at full speed, far beyond the spool's few milliseconds) keeps a new change
    /// from reusing their numbers and being dropped downstream as a duplicate.
    static let restartGap: Int64 = 1 << 20

    /// Where a start's numbering begins: past everything the spool ever gave out, and
    /// past the wall clock in microseconds. The spool alone cannot know what a unit id
    /// published from a spool that is gone (a new disk, a pod rescheduled without its
    /// volume, a fresh working directory): numbering from it again would reuse that run's
    /// numbers, and every consumer would drop the new changes as duplicates without a
    /// word. The clock numbers above any earlier run that averaged under one change per
    /// microsecond on a partition (a million a second) and whose clock was not ahead of
    /// this one's; Int64 microseconds last until the year 294,000.
    static func firstSequence(spoolHighest: Int64, wallMicroseconds: Int64) -> Int64 {
        max(spoolHighest + restartGap, wallMicroseconds)
    }

    /// The pump's producer settings; the benchmarks' raw-produce references use them too,
    /// so a figure and its reference differ only in what the unit adds.
    ///
    /// Never giving up on a change (no message timeout): the spool bounds what can pile
    /// up, not a timer. A linger of 1 ms, so a change waits at most that for others of its
    /// partition. One produce request in flight per connection: at low rates a change
    /// still leaves at once, and under load the changes that arrive while a request is
    /// out leave together in the next one, without a longer linger. Against librdkafka's
    /// 5 this cut the on-sale units' librdkafka threads from 0.24-0.28 to 0.06 ms of CPU
    /// per request, with the pump's own rate unchanged (docs/benchmarks.md). A pipeline's
    /// `kafka.properties` and `kafka.producer_properties` still override all three.
    package static func producerConfiguration(_ kafka: KafkaConnectionConfiguration) -> KafkaProducerConfiguration {
        var configuration = KafkaProducerConfiguration(connection: kafka)
        configuration.messageTimeout = .zero
        configuration.linger = .milliseconds(1)
        configuration.maxInFlightRequests = 1
        return configuration
    }

    /// Thrown when a change cannot be accepted; the unit's memory is left unchanged.
    enum Refusal: Error {
        case spool(SpoolError)
        case closed
    }

    /// - Parameter partitioners: each cache topic's partitioner (its partition count, as
    ///   the pipeline declares it, and its cache's scheme): a change's lane is its key's
    ///   partition.
    init(
        origin: String, spool: DurableSpool, partitioners: [String: KafkaKeyPartitioner], kafka: KafkaConnectionConfiguration, logger: Logger, metrics: UnitMetrics
    ) throws(KafkaError) {
        self.origin = origin
        self.spool = spool
        self.logger = logger
        self.metrics = metrics
        self.kafka = Self.producerConfiguration(kafka)

        let generation = ProducerGeneration()
        let start = Self.firstSequence(spoolHighest: spool.highestSequence, wallMicroseconds: wallClockMicroseconds())
        self.incarnation = start
        var lanes: [Lane] = []
        var lanesByTopic: [String: [Lane]] = [:]
        for (topic, partitioner) in partitioners.sorted(by: { $0.key < $1.key }) {
            lanesByTopic[topic] = (0..<partitioner.partitionCount).map { partition in
                let lane = Lane(index: lanes.count, topic: topic, partition: partition, partitioner: partitioner, firstSequence: start)
                lanes.append(lane)
                return lane
            }
        }
        // What a previous run left unacknowledged goes first, each record to the lane of
        // its key, in the spool's order (a lane's order, since a lane spools in order). A
        // topic no longer configured gets a lane of its own, and librdkafka picks the
        // partition as it did when the record was first sent.
        for spooled in spool.recovered {
            let record = spooled.record
            // An ownership claim of the previous run is not sent again: its term is
            // taken by now or not needed (the steward claims afresh what the members
            // give this unit), and a resent one would only be a stale claim.
            if Self.isClaim(record) {
                spool.acknowledge(spooled.number)
                continue
            }
            let lane: Lane
            if let topicLanes = lanesByTopic[record.topic], let partitioner = topicLanes.first?.partitioner {
                lane = topicLanes[Int(partitioner.partition(ofKey: record.key))]
            } else {
                lane = Lane(index: lanes.count, topic: record.topic, partition: nil, partitioner: nil, firstSequence: start)
                lanes.append(lane)
                lanesByTopic[record.topic] = [lane]
            }
            lane.enqueueRecovered(Outgoing(number: spooled.number, frame: SpoolFrame(record)))
        }
        precondition(lanes.count < 1 << (63 - Self.numberBits), "too many partitions in one unit")
        self.lanes = lanes
        self.lanesByTopic = lanesByTopic
        let producer = try Self.producer(self.kafka, lanes: lanes, generation: generation, spool: spool, health: health, metrics: metrics, logger: logger)
        self.current = Mutex(CurrentProducer(producer: producer, generation: generation))
        for lane in lanes { lane.state.withLock { $0.producer = producer } }
        self.sender = LaneSender(lanes: lanes, health: health, logger: logger)
        if let first = spool.recovered.first, let last = spool.recovered.last {
            logger.notice("resending \(spool.recovered.count) change(s) left in the spool by the previous run (spool records \(first.number) to \(last.number))")
        }
        sender.wake()
    }

    deinit {
        sender.stop()
    }

    private static func isClaim(_ record: SpoolRecord) -> Bool {
        OwnershipClaim.isClaim(headers: record.headers.map { ($0.name, $0.value) })
    }

    /// The lanes of `topic`, by partition; nil for a topic the pipeline does not declare.
    func lanes(of topic: String) -> [Lane]? { lanesByTopic[topic] }

    /// A change handed to the pump: its sequence, its number in the spool (what the
    /// broker's acknowledgement names), and the lane's send role if the caller got it.
    struct Published {
        var sequence: Int64
        var number: Int64
        /// Set when no other thread was sending from the lane: the caller must pass it
        /// to ``send(_:_:)``, or the lane's changes wait for the sending thread.
        var claim: SendClaim?
    }

    /// Numbers, spools and queues one change in `lane`, and takes the lane's send role
    /// if it is free. `encode` gets the change's sequence and returns the change's spool
    /// frame, which is also what is sent. A refusal from the spool leaves the lane as it
    /// was and throws. The caller then hands the change to librdkafka with
    /// ``send(_:_:)``, once it holds no lock of its own.
    ///
    /// The lane's lock, which the producer's acknowledgements and the sending thread
    /// take too, covers only the numbering, the spool's append and the queueing:
    /// `encode` runs before it, with the number the lane gives next. A cache decides
    /// every change of a partition under that partition's own lock, so nothing else
    /// takes the number meanwhile; if something did, the change is encoded again under
    /// the lane's lock with the number it then gets, so a lane's numbers stay in its
    /// queue's order either way.
    @discardableResult
    func publish(to lane: Lane, _ encode: (Int64) throws -> SpoolFrame) throws -> Published {
        guard !closed.load(ordering: .acquiring) else { throw Refusal.closed }
        let expected = lane.state.withLock { $0.nextSequence }
        let encoded = try encode(expected)
        return try lane.state.withLock { state in
            let sequence = state.nextSequence
            let number = try enqueue(sequence == expected ? encoded : try encode(sequence), in: &state)
            state.nextSequence += 1
            return Published(sequence: sequence, number: number, claim: state.claimSendRole())
        }
    }

    /// Hands `lane`'s queued changes to librdkafka from the calling thread, in order,
    /// starting with the one `claim` holds; with no claim another thread holds the role
    /// and sends these too before it lets go. Call it holding no lock: the librdkafka
    /// call takes librdkafka's own locks. A full producer queue, or a failed producer,
    /// leaves the rest queued for the sending thread, which is woken for it.
    ///
    /// Sending from the putting thread saves a change a crossing of threads: waking the
    /// sending thread costs the put a lock and a signal when it sleeps (at the on-sale's
    /// rates, nearly every time), and the thread a wake-up and a millisecond of looking
    /// for more; while it is awake, it and the putting thread took turns at the lane's
    /// lock for every change.
    func send(_ lane: Lane, _ claim: SendClaim?) {
        guard let claim else { return }
        let pass = lane.send(from: claim, health: health, logger: logger, budget: Self.sendsPerPut)
        if pass.full || pass.leftover { sender.wake() }
    }

    /// The most changes one put hands to librdkafka: its own and those queued beside it
    /// in a burst. A lane can hold far more (everything resent behind a replaced producer,
    /// a backlog after the broker was away), and sending all of that is the sending
    /// thread's work, not a request's.
    static let sendsPerPut = 64

    /// Waits until the broker has acknowledged the change spooled as `number` in `lane`
    /// (acks=all: every in-sync replica has it), at most `timeout`; false if it has not
    /// by then (the change stays in the pump either way).
    /// A cancelled caller stops waiting at once, as at the timeout (false): the change
    /// stays in the pump either way.
    func acknowledgement(of number: Int64, in lane: Lane, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        var expiry: DeadlineSweeper.Token?
        defer { expiry.map(deadlines.cancel) }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                // Read under the lock the handler below takes: cancelled before this, the
                // handler found no waiter, so none is left; cancelled after, it finds it.
                var cancelled = false
                let done = lane.state.withLock { state -> Bool in
                    // Absent from the queue: acknowledged already.
                    guard state.holds(number) else { return true }
                    cancelled = Task.isCancelled
                    if !cancelled { state.acknowledgementWaiters[number] = continuation }
                    return false
                }
                if done {
                    continuation.resume(returning: true)
                } else if cancelled {
                    continuation.resume(returning: false)
                } else {
                    // Once the waiter is in place, so that the expiry always finds it.
                    expiry = deadlines.schedule(at: deadline) { lane.stopWaiting(for: number) }
                }
            }
        } onCancel: {
            lane.stopWaiting(for: number)
        }
    }

    /// Queues an ownership claim in `lane` behind the changes already there, so a
    /// hand-off lands in the partition after the last change its maker decided. Spooled
    /// like a change, to share the lane's order and acknowledgements; it takes no
    /// sequence number (its frame carries the lane's last), and one left in the spool by
    /// a crash is dropped at the next start rather than sent late.
    func publish(_ claim: OwnershipClaim, to lane: Lane) throws {
        guard !closed.load(ordering: .acquiring) else { throw Refusal.closed }
        try lane.state.withLock { state in
            let frame = SpoolFrame(sequence: state.nextSequence - 1, topic: lane.topic, key: claim.keyText, value: claim.encoded(), headers: claim.headerTexts)
            try enqueue(frame, in: &state)
        }
        sender.wake()
    }

    /// Spools `frame` and queues it in the lane, under the lane's lock; returns its spool
    /// number.
    @discardableResult
    private func enqueue(_ frame: SpoolFrame, in state: inout Lane.State) throws(Refusal) -> Int64 {
        let number: Int64
        do throws(SpoolError) {
            number = try spool.append(frame)
        } catch .closed {
            throw Refusal.closed
        } catch {
            metrics.refused.increment()
            throw Refusal.spool(error)
        }
        state.queue.append(Outgoing(number: number, frame: frame))
        return number
    }

    /// Whether `lane` has nothing the broker has yet to acknowledge: what its unit
    /// decided there is in the log.
    func isDrained(_ lane: Lane) -> Bool { lane.state.withLock { $0.queue.isEmpty } }

    /// The pump's upkeep, run by the unit every few milliseconds off the hot path: replaces
    /// a failed producer (the sending thread then resends every unacknowledged change
    /// behind it, so it is woken). Puts and the sending thread send; this never does.
    func tend() {
        if let fatal = current.withLock({ $0.producer.fatalError }) {
            logger.error("the producer failed: \(fatal)")
            health.failed.store(true, ordering: .relaxed)
        }
        if health.failed.load(ordering: .relaxed) {
            replaceProducer()
            sender.wake()
        }
    }

    /// Records the backlog metrics. Apart from `tend`, and less often: it takes every
    /// lane's lock, which every put to that lane takes too.
    func recordBacklog() {
        var backlog = 0
        for lane in lanes {
            backlog += lane.state.withLock { $0.queue.count - $0.sent }
        }
        metrics.backlog.record(backlog)
        metrics.spoolPendingBytes.record(spool.pendingBytes)
    }

    /// Whether the sending thread sleeps until woken.
    var senderAsleep: Bool { sender.isAsleep }

    /// Changes accepted but not yet acknowledged by the broker.
    var unacknowledgedCount: Int { lanes.reduce(0) { $0 + $1.state.withLock { $0.queue.count } } }

    /// Returns once every change accepted so far is on disk.
    func sync() async throws(SpoolError) {
        try await spool.sync()
    }

    /// Stops taking changes, sends what is queued and waits up to `timeout` for the
    /// broker; what is still unacknowledged stays in the spool for the next start.
    func close(timeout: Duration) async {
        closed.store(true, ordering: .releasing)
        sender.stop()
        // The sending thread is told to stop; what it leaves queued goes from here (a
        // lane's send role keeps the two from sending one lane at once).
        tend()
        for lane in lanes { lane.sendQueued(health: health, logger: logger) }
        let producer = current.withLock { $0.producer }
        do {
            try await producer.flush(timeout: timeout)
        } catch {
            logger.warning("the broker did not acknowledge every change within \(timeout); \(spool.pendingRecords) stay in the spool for the next start")
        }
        current.withLock { $0.generation.retired.store(true, ordering: .releasing) }
        try? await producer.shutdown(timeout: .seconds(1))
        // The producer's reports hold the lanes, and the lanes held the producer: left so,
        // its librdkafka handle outlived the pump, and the process waited out the
        // destroy timeout (5 s) at every graceful stop.
        for lane in lanes { lane.state.withLock { $0.producer = nil } }
        do {
            try await spool.close()
        } catch {
            logger.error("closing the spool: \(error)")
        }
    }

    /// A new producer, and every unacknowledged change queued again behind it, in order.
    private func replaceProducer() {
        current.withLock { current in
            guard health.failed.exchange(false, ordering: .relaxed) else { return }
            let generation = ProducerGeneration()
            let producer: KafkaProducer
            do {
                producer = try Self.producer(kafka, lanes: lanes, generation: generation, spool: spool, health: health, metrics: metrics, logger: logger)
            } catch {
                logger.error("could not create a new producer, will retry: \(error)")
                health.failed.store(true, ordering: .relaxed)
                return
            }
            current.generation.retired.store(true, ordering: .releasing)
            let retired = current.producer
            Task { await retired.abandon() }
            current = CurrentProducer(producer: producer, generation: generation)
            var resent = 0
            for lane in lanes {
                resent += lane.state.withLock { state in
                    state.producer = producer
                    state.sent = 0
                    return state.queue.count
                }
            }
            metrics.producerReplacements.increment()
            logger.warning("the producer hit a fatal error and was replaced; resending \(resent) unacknowledged change(s) in order (duplicates collapse downstream)")
        }
    }

    /// A delivery report names its change by lane and spool number, packed in the
    /// message's id, so the report finds its lane without a table shared by all lanes.
    fileprivate static let numberBits = SpoolSegmentFormat.numberBits

    fileprivate static func reportID(lane: Int, number: Int64) -> UInt64 {
        precondition(number >= 0 && number < 1 << numberBits, "spool record numbers are below 2^48")
        return UInt64(lane) << numberBits | UInt64(number)
    }

    private static func producer(
        _ configuration: KafkaProducerConfiguration, lanes: [Lane], generation: ProducerGeneration, spool: DurableSpool,
        health: ProducerHealth, metrics: UnitMetrics, logger: Logger
    ) throws(KafkaError) -> KafkaProducer {
        try KafkaProducer(configuration: configuration, logger: logger) { reports in
            guard !generation.retired.load(ordering: .acquiring) else { return }
            settle(reports, lanes: lanes, spool: spool, health: health, metrics: metrics, logger: logger)
        }
    }

    /// The broker's outcomes for a batch of changes, as one poll of the producer served
    /// them. Acknowledgements are taken a lane at a time (reports come in send order
    /// per partition, so a lane's are mostly together) and the spool's all at once: one
    /// take of each lock per batch instead of one per change, since puts take the same
    /// locks. A change fails only on a producer error (the timeout is off): it stays
    /// unacknowledged, and a fatal error gets the producer replaced, which sends it again.
    private static func settle(
        _ reports: [KafkaDeliveryReport], lanes: [Lane], spool: DurableSpool,
        health: ProducerHealth, metrics: UnitMetrics, logger: Logger
    ) {
        var delivered: [Int64] = []
        delivered.reserveCapacity(reports.count)
        // The numbers of the run of reports for one lane, acknowledged when the run ends.
        var run = (lane: -1, from: 0)
        func acknowledgeRun() {
            guard run.lane >= 0, run.from < delivered.count else { return }
            lanes[run.lane].acknowledge(delivered[run.from...])
        }
        for report in reports {
            switch report {
            case .delivered(let message):
                let (lane, number) = split(message.id.rawValue)
                if lane != run.lane {
                    acknowledgeRun()
                    run = (lane, delivered.count)
                }
                delivered.append(number)
            case .failed(let id, let error):
                metrics.publishFailures.increment()
                if error.isFatal {
                    health.failed.store(true, ordering: .relaxed)
                } else {
                    logger.error("a change for \(lanes[split(id.rawValue).lane].topic) was not published and stays in the spool for the next start: \(error)")
                }
            }
        }
        acknowledgeRun()
        guard !delivered.isEmpty else { return }
        spool.acknowledge(delivered)
        metrics.published.increment(by: Int64(delivered.count))
    }

    /// The lane and spool number a report's id packs (``reportID(lane:number:)``).
    private static func split(_ id: UInt64) -> (lane: Int, number: Int64) {
        (Int(id >> numberBits), Int64(id & (1 << numberBits - 1)))
    }
}

extension DataPump {
    /// A change on its way: spooled under `number`, not yet acknowledged by the broker.
    struct Outgoing: Sendable {
        var number: Int64
        var frame: SpoolFrame
    }

    /// A lane's send role, taken together with the first change to send under it: the
    /// holder sends that change, then the lane's next ones, and lets the role go in the
    /// same take of the lock that finds nothing more to send.
    struct SendClaim: Sendable {
        var outgoing: Outgoing
        var producer: KafkaProducer
    }

    /// One partition of one topic: the unit of ordering for this unit's changes.
    final class Lane: Sendable {
        let index: Int
        let topic: String
        /// nil only for a topic no longer configured, whose leftover changes librdkafka
        /// places.
        let partition: Int32?
        let partitioner: KafkaKeyPartitioner?
        let state: Mutex<State>

        struct State {
            var nextSequence: Int64
            /// Unacknowledged changes in sequence order: the first `sent` are with the
            /// producer, the rest wait for the sender.
            var queue: Deque<Outgoing> = []
            var sent = 0
            /// Whether a thread holds the send role: one at a time sends from a lane, so
            /// no two reorder it. Taken and let go under the lock, in the same take that
            /// queues or finds the changes it concerns, so no change is queued unseen.
            var sending = false
            /// The producer this lane sends with (nil while the pump starts and once it
            /// has closed).
            var producer: KafkaProducer?
            /// Callers waiting for the broker to acknowledge a change, by spool number.
            var acknowledgementWaiters: [Int64: CheckedContinuation<Bool, Never>] = [:]

            /// The send role and the first unsent change, if the role is free and there
            /// is one.
            mutating func claimSendRole() -> SendClaim? {
                guard !sending, let claim = nextUnsent() else { return nil }
                sending = true
                return claim
            }

            /// The next unsent change for the role's holder, counted as sent; nil when
            /// there is none (or no producer yet).
            mutating func nextUnsent() -> SendClaim? {
                guard sent < queue.count, let producer else { return nil }
                sent += 1
                return SendClaim(outgoing: queue[sent - 1], producer: producer)
            }

            /// Whether change `number` is still queued. Numbers rise along the queue (it
            /// is appended in spool order and only loses elements), so a binary search
            /// finds it: the queue holds thousands under load, and every confirmed
            /// change asks once.
            func holds(_ number: Int64) -> Bool {
                var low = queue.startIndex
                var high = queue.endIndex
                while low < high {
                    let middle = low + (high - low) / 2
                    if queue[middle].number < number { low = middle + 1 } else { high = middle }
                }
                return low < queue.endIndex && queue[low].number == number
            }
        }

        init(index: Int, topic: String, partition: Int32?, partitioner: KafkaKeyPartitioner?, firstSequence: Int64) {
            self.index = index
            self.topic = topic
            self.partition = partition
            self.partitioner = partitioner
            self.state = Mutex(State(nextSequence: firstSequence))
        }

        /// Sends the lane's queued changes in order unless another thread holds the send
        /// role (it sends what was queued meanwhile before it lets go). Stops when nothing
        /// is left or the producer's queue is full (`full`); the sending thread tries
        /// again shortly.
        @discardableResult
        func sendQueued(health: ProducerHealth, logger: Logger) -> (sent: Int, full: Bool, leftover: Bool) {
            guard let claim = state.withLock({ $0.claimSendRole() }) else { return (0, false, false) }
            return send(from: claim, health: health, logger: logger)
        }

        /// Sends `claim`'s change and the lane's next ones under the role it holds, then
        /// lets the role go. `budget` bounds the changes sent; `leftover` says the role
        /// was let go with changes unsent, for the caller to pass on to the sending thread.
        func send(from claim: SendClaim, health: ProducerHealth, logger: Logger, budget: Int = .max) -> (sent: Int, full: Bool, leftover: Bool) {
            var claim = claim
            var sent = 0
            while true {
                // The send itself happens outside the lock.
                guard send(claim.outgoing, producer: claim.producer, health: health, logger: logger) else {
                    state.withLock { state in
                        // A producer replaced meanwhile resends every unacknowledged
                        // change, this one included; otherwise it is the last one
                        // counted as sent.
                        if state.producer === claim.producer { state.sent -= 1 }
                        state.sending = false
                    }
                    return (sent, true, false)
                }
                sent += 1
                // The next change, or the role let go, in one take of the lock: a change
                // queued meanwhile is either taken here or finds the role free.
                let step = state.withLock { state -> (next: SendClaim?, leftover: Bool) in
                    if sent < budget, let next = state.nextUnsent() { return (next, false) }
                    state.sending = false
                    return (nil, state.sent < state.queue.count)
                }
                guard let next = step.next else { return (sent, false, step.leftover) }
                claim = next
            }
        }

        /// Whether changes wait to be handed to the producer with no thread holding the
        /// send role: a thread holding it looks at the queue again before it lets go.
        var hasUnsentUnclaimed: Bool { state.withLock { !$0.sending && $0.sent < $0.queue.count } }

        /// false when the producer's queue is full, or it failed (then it is replaced).
        private func send(_ outgoing: Outgoing, producer: KafkaProducer, health: ProducerHealth, logger: Logger) -> Bool {
            let frame = outgoing.frame
            let refusal = frame.withMessage { message -> KafkaError? in
                do throws(KafkaError) {
                    // Straight from the spool frame's bytes, which librdkafka copies.
                    try producer.send(
                        topic: topic, partition: partition, key: message.key, value: message.value, headers: message.forEachHeader,
                        reportingAs: DataPump.reportID(lane: index, number: outgoing.number)
                    )
                    return nil
                } catch {
                    return error
                }
            }
            guard let error = refusal else { return true }
            if error.isFatal {
                health.failed.store(true, ordering: .relaxed)
            } else if error.code != .queueFull {
                logger.warning("the producer refused change \(frame.sequence) for \(topic) for now; it stays queued: \(error)")
            }
            return false
        }

        fileprivate func enqueueRecovered(_ outgoing: Outgoing) {
            state.withLock { $0.queue.append(outgoing) }
        }

        /// The broker has these changes: they leave the queue. Reports come in send order
        /// per partition, so each is almost always the first. Waiters resume outside the
        /// lock.
        fileprivate func acknowledge(_ numbers: ArraySlice<Int64>) {
            // The frames acknowledged come out of the lock with the waiters, and are freed
            // here, outside it.
            let (waiters, _) = state.withLock { state -> ([CheckedContinuation<Bool, Never>], [Outgoing]) in
                var waiters: [CheckedContinuation<Bool, Never>] = []
                var released: [Outgoing] = []
                var numbers = numbers[...]
                // Reports come in send order, so nearly always as a run from the queue's
                // front: that run leaves in one step (a put waits on this lock).
                var front = 0
                while front < state.sent, let number = numbers.first, state.queue[front].number == number {
                    front += 1
                    numbers.removeFirst()
                }
                if front > 0 {
                    released = Array(state.queue.prefix(front))
                    state.queue.removeFirst(front)
                    state.sent -= front
                }
                for number in numbers {
                    guard state.sent > 0 else { break }
                    guard let index = state.queue.prefix(state.sent).firstIndex(where: { $0.number == number }) else { continue }
                    released.append(state.queue.remove(at: index))
                    state.sent -= 1
                }
                if !state.acknowledgementWaiters.isEmpty {
                    for outgoing in released {
                        if let waiter = state.acknowledgementWaiters.removeValue(forKey: outgoing.number) { waiters.append(waiter) }
                    }
                }
                return (waiters, released)
            }
            for waiter in waiters { waiter.resume(returning: true) }
        }

        /// A caller waiting for `number` gives up (its timeout).
        fileprivate func stopWaiting(for number: Int64) {
            state.withLock { $0.acknowledgementWaiters.removeValue(forKey: number) }?.resume(returning: false)
        }
    }
}

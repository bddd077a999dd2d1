import CMalloc
import Foundation
import Logging
import PumphouseContracts
import PumphouseKafka
import PumphousePipeline
import ServiceLifecycle
import Synchronization

/// A processing unit: a service instance holding named caches and the application logic
/// around them.
///
/// Open caches with `cache(_:)` before running the unit, run it as a service (it
/// replicates, announces itself and drains its data pump until graceful shutdown), and
/// await `loaded()` before serving. On start each replica is rebuilt: from a loaded
/// peer's snapshot, or, when no peer is loaded, from PostgreSQL through a data reader
/// (one unit asks, the others read the same answer), then from its topic at the offsets
/// the snapshot stands for; a cache configured with `load: topic` reads its whole topic
/// instead. Reads and writes never wait on the network after that.
public final class ProcessingUnit: Service {
    public let id: String
    private let configuration: UnitConfiguration
    private let registry: ContractRegistry
    private let pump: DataPump
    private let passedOver = Atomic(0)
    /// Records of partitions this unit does not keep that it passed over undecoded: for
    /// tests that the path is taken.
    package var recordsPassedOver: Int { passedOver.load(ordering: .relaxed) }
    /// The partitions of `topic` this unit has stopped reading (it neither owns nor
    /// backs them up).
    package func partitionsNotRead(of topic: String) -> Set<Int32> {
        Set(state.withLock { $0.unread }.filter { $0.topic == topic }.map(\.partition))
    }
    private let echoesKept = Atomic(0)
    /// Echoes of this unit's own changes applied as the contracts it kept of them, not
    /// decoded: for tests that the path is taken.
    package var ownEchoesApplied: Int { echoesKept.load(ordering: .relaxed) }
    private let metrics: UnitMetrics
    /// Announcements and read requests go through a producer of their own: they are
    /// ephemeral (a lost or repeated heartbeat is harmless, a lost request times out and
    /// is asked again), so they need no idempotence, and trouble on these topics must
    /// never hold up the cache changes behind them.
    private let control: KafkaProducer
    private let archive: ArchiveReads
    /// How long this unit may decide as a partitioned cache's owner (`OwnershipLease`).
    private let lease: OwnershipLease
    /// What the member lists time their members' silence by.
    private let memberClock: MemberClock
    private let logger: Logger
    private let since: Int64
    private let state = Mutex(State())
    /// Set by graceful shutdown; the replication and heartbeat loops end on it.
    private let stopping = Atomic(false)
    /// Set by graceful shutdown of a unit owning partitions: it hands them over before
    /// it stops (`handOverBeforeLeaving`).
    private let leaveRequested = Atomic(false)

    private struct State {
        var caches: [String: any ReplicaSink] = [:]
        var running = false
        /// By the cache's name's bytes: an announcement naming a cache only canonically
        /// equal to one of these (a KELVIN SIGN for a K) is not about that cache.
        var members: [ExactKey: MemberList] = [:]
        /// Cache partitions not yet read to their end once.
        var loading: Set<KafkaTopicPartition>?
        /// Per loading partition, the high watermark of the first fetch that returned
        /// data: the end of the log as the unit found it.
        var loadTargets: [KafkaTopicPartition: Int64] = [:]
        /// Partitions of partitioned caches to read again, taken up after they were let
        /// go: from their beginning, or, in a cache loaded from the database, from the
        /// offset of the answer their rows came from; and where each rebuild ends.
        var rewinds: [KafkaTopicPartitionOffset] = []
        var rebuildTargets: [KafkaTopicPartition: Int64] = [:]
        /// Partitions taken up again whose reading has begun, whose end is taken from
        /// the first fetch that brings their records (the consumer's watermarks of a
        /// partition it did not read are as old as its last fetch there).
        var rebuildsAwaitingEnd: Set<KafkaTopicPartition> = []
        /// Partitions let go, for the loop that applies the log to stop reading.
        var releases: [KafkaTopicPartition] = []
        /// Partitions let go that are still read, by topic, while a unit of an earlier
        /// version holds the cache: it announces no `owns`, so its claims are known only
        /// from the log's fold. Released once the last such unit has gone.
        var releasesDeferred: [String: [KafkaTopicPartition]] = [:]
        /// Units of an earlier version already named in a warning, by cache.
        var earlierVersions: [String: Set<ExactKey>] = [:]
        /// Partitions of partitioned caches this unit does not read: it neither owns nor
        /// backs them up, and learns their owners from the members' heartbeats.
        var unread: Set<KafkaTopicPartition> = []
        /// Where reading stopped in each partition not read (the offset after the last
        /// record passed), where the loop knew it: a unit of an earlier version joining
        /// has those partitions read again from there, so their claims fold on from
        /// where they stopped, none folded twice.
        var unreadFrom: [KafkaTopicPartition: Int64] = [:]
        /// What this unit's latest heartbeat said it owns, by cache: a change is
        /// announced at once, not at the next heartbeat, so that units that do not read
        /// a partition route to its new owner soon after a move.
        var announcedOwns: [String: [Int32: Int64]] = [:]
        /// When the unit began handing its partitions over before it stops (`LeavingHandOver`).
        var leavingStartedAt: ContinuousClock.Instant?
        /// Partitions whose rows are being read again from a reverse-pump answer.
        var reloading: Set<KafkaTopicPartition> = []
        /// Rows read again, for the loop that applies the log to hand to their replicas.
        var reloaded: [Reloaded] = []
        /// The reverse-pump answer each cache was loaded from, by contract name.
        var snapshots: [String: CacheSnapshot] = [:]
        var loadWaiters: [CheckedContinuation<Void, any Error>] = []
        /// `run` has ended; a load can no longer finish.
        var stopped = false
    }

    /// Partitions of a cache loaded from the database to read again, and what was read.
    private struct Reload: Sendable {
        var cache: any PartitionOwning
        var partitions: Set<Int32>
    }

    private struct Reloaded: Sendable {
        var topic: String
        var partitions: Set<Int32>
        var rows: PartitionReload.Rows
        /// Where the cache topic's changes after those rows begin, by partition.
        var offsets: [Int32: Int64]
    }

    public init(configuration: UnitConfiguration, logger: Logger) throws {
        // Not "." or "..": as a directory name they are this one or its parent, where every
        // unit's spool lies.
        guard !configuration.unitID.isEmpty, configuration.unitID.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }),
              !configuration.unitID.allSatisfy({ $0 == "." })
        else {
            throw ConfigurationError(file: "unit", setting: "unitID", message: "\"\(configuration.unitID)\" must be letters, digits, '-', '_' or '.', and not dots alone: it names the unit's spool directory")
        }
        self.id = configuration.unitID
        self.configuration = configuration
        self.logger = logger
        self.registry = try configuration.pipeline.loadRegistry()
        let spool = try DurableSpool(
            configuration: SpoolConfiguration(directory: "\(configuration.spoolDirectory)/\(configuration.unitID)", maxPendingBytes: configuration.spoolMaxPendingBytes),
            logger: logger
        )
        let partitioners = Dictionary(configuration.pipeline.caches.map { ($0.topic, $0.partitioner) }, uniquingKeysWith: { first, _ in first })
        self.metrics = UnitMetrics(unit: configuration.unitID)
        self.pump = try DataPump(
            origin: configuration.unitID, spool: spool, partitioners: partitioners, kafka: configuration.pipeline.kafka, logger: logger,
            metrics: metrics
        )
        var control = KafkaProducerConfiguration(connection: configuration.pipeline.kafka)
        control.idempotent = false
        // A heartbeat the broker could not take soon is dropped, not delivered late: one
        // delivered after an outage carries its send time from the outage, so this unit
        // would read its own heartbeats back without a gap, its log time would run
        // through the outage at once (`MemberClock`), and a peer whose client reconnects
        // a moment later would be counted silent for the whole outage and its partitions
        // claimed, fencing what it decided meanwhile. Dropped, they leave the gap that
        // breaks the lease and restarts every peer's silence (`OwnershipLease`). The
        // same holds for the other records sent here: a load request not delivered in
        // time is sent again (`CacheLoader`), and a read request is asked again after
        // its timeout (`ArchiveReads`).
        control.messageTimeout = min(max(configuration.heartbeatInterval * 2, .seconds(1)), configuration.memberTimeout / 4)
        control.linger = .zero
        // A lost announcement is repaired by the next heartbeat; not worth a log line.
        self.control = try KafkaProducer(configuration: control, logger: logger) { _ in }
        self.lease = OwnershipLease(memberTimeout: configuration.memberTimeout)
        self.memberClock = MemberClock(lease: lease)
        self.archive = ArchiveReads(unit: configuration.unitID, requestTopic: configuration.pipeline.reader.requestTopic, registry: registry, control: self.control)
        self.since = wallClockMilliseconds()
    }

    /// Opens the named cache of `Entity`'s contract; call before `run`.
    public func cache<Entity: CacheEntity>(_ type: Entity.Type) throws -> ReplicatedCache<Entity> {
        guard let cache = configuration.pipeline.cache(Entity.contract) else {
            throw ConfigurationError(file: "pipeline", setting: "caches", message: "no cache \(Entity.contract); declare it under caches to open it in a unit")
        }
        return try state.withLock { state in
            if let open = state.caches[cache.topic] {
                guard let typed = open as? ReplicatedCache<Entity> else {
                    throw ConfigurationError(file: "unit", setting: "caches", message: "\(Entity.contract) is already open with another Swift type")
                }
                return typed
            }
            guard !state.running else {
                throw ConfigurationError(file: "unit", setting: "caches", message: "open \(Entity.contract) before the unit runs")
            }
            let opened = try ReplicatedCache<Entity>(
                configuration: cache, registry: registry, validates: configuration.validatesChanges, pump: pump,
                archive: cache.mapping != nil ? archive : nil, lease: lease, logger: logger
            )
            state.caches[cache.topic] = opened
            state.members[ExactKey(Entity.contract.rawValue)] = MemberList(cache: Entity.contract.rawValue, this: id)
            return opened
        }
    }

    /// Returns once every cache is loaded: its load done (if it loads through the reverse
    /// pump) and its topic read to the end once from where the load left it. Throws
    /// `ProcessingUnitStopped` if the unit stops first, so nothing waits for a load that
    /// failed.
    public func loaded() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let outcome: Result<Void, any Error>? = state.withLock { state in
                if let loading = state.loading, loading.isEmpty { return .success(()) }
                if state.stopped { return .failure(ProcessingUnitStopped(unit: id, cause: nil)) }
                state.loadWaiters.append(continuation)
                return nil
            }
            if let outcome { continuation.resume(with: outcome) }
        }
    }

    /// Returns once every change accepted so far is on this unit's disk (the spool writes
    /// in groups every few milliseconds; this is for the rare change worth waiting for).
    public func syncSpool() async throws {
        try await pump.sync()
    }

    /// Changes made here that the broker has not acknowledged yet (after a restart,
    /// those the spool is sending again).
    public var unacknowledgedChanges: Int { pump.unacknowledgedCount }

    /// Whether the pump's sending thread sleeps until woken (after a quiet spell).
    package var pumpSenderAsleep: Bool { pump.senderAsleep }

    /// Creates made here whose outcome (and `whenDecided`) is still to come, over every
    /// cache: a planned stop that waits for zero loses no create's follow-up.
    public var undecidedCreates: Int { state.withLock { $0.caches.values.reduce(0) { $0 + $1.undecidedCreates } } }

    /// Whether every cache is loaded (see `loaded()`); until then the unit is not ready.
    public var isLoaded: Bool {
        state.withLock { $0.loading?.isEmpty ?? false }
    }

    /// The reverse-pump answer `cache` was loaded from; nil before its load, or for a
    /// cache loaded from its topic.
    public func snapshot(of cache: ContractName) -> CacheSnapshot? {
        state.withLock { $0.snapshots[cache.rawValue] }
    }

    /// This unit's view of who holds `cache`.
    public func members(of cache: ContractName) -> MemberList? {
        state.withLock { $0.members[ExactKey(cache.rawValue)] }
    }

    /// The caches this unit opened, replicated and partitioned, in the pipeline file's order.
    public var openedCaches: [ContractName] {
        let opened = state.withLock { Set($0.caches.keys) }
        return configuration.pipeline.caches.filter { opened.contains($0.topic) }.map(\.contract)
    }

    /// The routing tables of every partitioned cache this unit opened.
    public func routingTables() -> [RoutingTable] {
        openedCaches.compactMap(routingTable(of:))
    }

    /// The routing table of a partitioned cache this unit opened; nil for any other.
    public func routingTable(of cache: ContractName) -> RoutingTable? {
        guard let configuration = configuration.pipeline.cache(cache), configuration.mode.isPartitioned,
              let owning = state.withLock({ $0.caches[configuration.topic] })?.owning
        else { return nil }
        let members = state.withLock { $0.members[ExactKey(cache.rawValue)] }
        let live = members?.members.values.filter(\.loaded) ?? []
        let assignment = PartitionAssignment(
            group: OwnershipSteward.group(of: configuration), partitions: configuration.partitions,
            backups: configuration.mode.backups ?? 0, members: live.filter { !$0.leaving }.map(\.id)
        )
        let routes = owning.ownership.enumerated().map { index, owned in
            RoutingTable.Route(
                partition: Int32(index), ownershipTerm: owned.term, owner: owned.owner,
                address: owned.owner.flatMap { owner in live.first { $0.id.isSameBytes(as: owner) }?.address },
                backups: assignment.backups(of: Int32(index))
            )
        }
        let settled = routes.allSatisfy { route in
            route.address != nil && route.owner.map { owner in assignment.owner(of: route.partition)?.isSameBytes(as: owner) == true } == true
        }
        return RoutingTable(
            cache: cache.rawValue, partitioner: configuration.partitioner.scheme.rawValue,
            partitionKeyAfter: configuration.partitionKeyAfter.map { String(Character(Unicode.Scalar($0))) }, declaredBackups: configuration.mode.backups ?? 0,
            partitions: routes, members: live.map(\.id).sorted { ExactKey($0) < ExactKey($1) }, settled: settled
        )
    }

    public func run() async throws {
        let caches = state.withLock { state in
            state.running = true
            return state.caches
        }
        // A failure (a topic missing, a load that cannot finish, a log gone under the
        // unit) ends the unit like a shutdown does: peers hear it leave, nothing it opened
        // stays open, and whoever awaits `loaded()` learns it will not happen. The error
        // still goes to whoever runs the unit.
        var consumer: KafkaConsumer?
        var failure: (any Error)?
        do {
            let partitions = try await describeTopics(of: caches)
            let cachePartitions = Set(caches.keys.flatMap { topic in partitions[topic, default: []].map { KafkaTopicPartition(topic: topic, partition: $0) } })
            state.withLock { $0.loading = cachePartitions }
            let joined = try await join(caches, partitions: partitions)
            consumer = joined.consumer
            try await replicate(caches, partitions: partitions, consumer: joined.consumer, reverseTopics: joined.reverseTopics)
        } catch {
            failure = error
            if !(error is CancellationError) { logger.error("unit \(id) stopping on an error: \(error)") }
        }
        // The pump drains before peers hear the unit leave: a successor claims its
        // partitions of a partitioned cache on hearing it, and that claim must land
        // after the last change this unit decided there.
        await pump.close(timeout: .seconds(5))
        if consumer != nil { announce(.leave) }
        archive.close()
        try? await control.shutdown(timeout: .seconds(1))
        try? await consumer?.close()
        let waiters = state.withLock { state in
            state.stopped = true
            defer { state.loadWaiters.removeAll() }
            return state.loadWaiters
        }
        for waiter in waiters { waiter.resume(throwing: ProcessingUnitStopped(unit: id, cause: failure)) }
        if let failure { throw failure }
        logger.info("unit \(id) stopped")
    }

    /// Each cache topic's partitions, and the member topic's.
    private func describeTopics(of caches: [String: any ReplicaSink]) async throws -> [String: [Int32]] {
        let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(connection: configuration.pipeline.kafka), logger: logger)
        var described: [String: [Int32]] = [:]
        for topic in caches.keys.sorted() + [configuration.pipeline.memberTopic] {
            do {
                described[topic] = try await admin.describeTopic(topic).partitions.map(\.id)
            } catch let error as KafkaError where error.code == .unknownTopicOrPartition || error.code == .unknownTopic {
                throw ConfigurationError(file: "pipeline", setting: "caches", message: "topic \(topic) does not exist: create it with `pumphouse topics create`")
            } catch {
                throw ConfigurationError(file: "pipeline", setting: "kafka.brokers", message: "cannot read topic \(topic): \(error); is the broker reachable?")
            }
        }
        // The unit places each change in its key's partition among the partitions the
        // pipeline declares, and numbers changes per partition; a topic with another
        // count would put keys elsewhere than every other producer does.
        for cache in configuration.pipeline.caches where caches[cache.topic] != nil {
            let found = described[cache.topic]?.count ?? 0
            guard found == cache.partitions else {
                throw ConfigurationError(
                    file: "pipeline", setting: "caches.\(cache.contract).partitions",
                    message: "topic \(cache.topic) has \(found) partitions but the pipeline declares \(cache.partitions); declare what the topic has (a topic's partition count cannot shrink, and growing it moves keys: drain every unit's spool first)"
                )
            }
        }
        return described
    }

    /// Starts listening to the members (and to archive answers) and announces this unit.
    private func join(
        _ caches: [String: any ReplicaSink], partitions: [String: [Int32]]
    ) async throws -> (consumer: KafkaConsumer, reverseTopics: [String: CacheConfiguration]) {
        var consumerConfiguration = KafkaConsumerConfiguration(connection: configuration.pipeline.kafka)
        consumerConfiguration.connection.clientID = "pumphouse-unit-\(id)"
        // A load's offsets that the topic no longer holds (retention) must stop the unit,
        // not quietly start it from whatever the topic still has.
        consumerConfiguration.autoOffsetReset = "error"
        consumerConfiguration.fetchInterval = configuration.fetchInterval
        let consumer = try KafkaConsumer(configuration: consumerConfiguration, logger: logger)
        let memberTopic = configuration.pipeline.memberTopic
        // Answers to archive reads arrive on the reverse-pump topics, after the request.
        let archived = configuration.pipeline.caches.filter { caches[$0.topic] != nil && $0.mapping != nil }
        do {
            try await consumer.assign(
                partitions[memberTopic, default: []].map { KafkaTopicPartitionOffset(topic: memberTopic, partition: $0, offset: .end) }
                    + archived.map { KafkaTopicPartitionOffset(topic: $0.reverseTopic, partition: 0, offset: .end) }
            )
        } catch {
            try? await consumer.close()
            throw error
        }
        logger.info("unit \(id) starting with \(caches.keys.sorted().joined(separator: ", "))")
        announce(.join)
        return (consumer, Dictionary(uniqueKeysWithValues: archived.map { ($0.reverseTopic, $0) }))
    }

    /// Heartbeats, the load and the replication loop, until graceful shutdown or the
    /// first failure.
    private func replicate(
        _ caches: [String: any ReplicaSink], partitions: [String: [Int32]], consumer: KafkaConsumer, reverseTopics: [String: CacheConfiguration]
    ) async throws {
        let (reloads, reloadRequests) = AsyncStream.makeStream(of: Reload.self)
        defer { reloadRequests.finish() }
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { [self] in
                    // Heartbeats, silent members, the pump's upkeep (a failed producer
                    // replaced) and the partitions of partitioned caches.
                    var lastHeartbeat = ContinuousClock.now
                    // Ownership is tended in log time (`MemberClock`), from this unit's
                    // first heartbeat read back: a unit whose consumer lags behind its
                    // peers' heartbeats has not heard them yet, however long it has run.
                    var steward: OwnershipSteward?
                    var lastOwnership = lastHeartbeat
                    var gapsCounted = (reread: 0, absent: 0)
                    while !stopping.load(ordering: .relaxed) && !Task.isCancelled {
                        try await Task.sleep(for: .milliseconds(10))
                        pump.tend()
                        let now = ContinuousClock.now
                        if now - lastOwnership >= .milliseconds(100) {
                            lastOwnership = now
                            // A silent peer drops out within this tick of its timeout,
                            // not at this unit's next heartbeat: checked once a heartbeat
                            // interval, that added up to a second to every failover.
                            expireMembers()
                            let logNow = memberClock.now
                            if steward == nil, let logNow {
                                steward = OwnershipSteward(unit: id, memberTimeout: configuration.memberTimeout, listeningSince: logNow)
                            }
                            // Before the tending, so that the tick a hand-over begins
                            // already leaves this unit out of the assignment.
                            if leaveRequested.load(ordering: .relaxed), handOverBeforeLeaving(steward: steward, now: now) {
                                stopping.store(true, ordering: .relaxed)
                            }
                            if let logNow {
                                tendOwnership(caches, steward: &steward!, now: logNow, reloads: reloadRequests)
                            }
                            let owned = ownedPartitions()
                            if owned != state.withLock({ $0.announcedOwns }) {
                                lastHeartbeat = now
                                announce(.heartbeat, owning: owned)
                            }
                        }
                        if now - lastHeartbeat >= configuration.heartbeatInterval {
                            lastHeartbeat = now
                            announce(.heartbeat)
                            pump.recordBacklog()
                            for cache in caches.values { cache.recordEntities() }
                            let gaps = consumer.offsetGaps
                            metrics.offsetGaps(reread: gaps.reread - gapsCounted.reread, absent: gaps.absent - gapsCounted.absent)
                            gapsCounted = gaps
                        }
                    }
                }
                group.addTask { [self] in
                    try await load(caches, partitions: partitions, consumer: consumer)
                }
                group.addTask { [self] in
                    for await reload in reloads {
                        if stopping.load(ordering: .relaxed) { break }
                        await reread(reload)
                    }
                }
                group.addTask { [self] in
                    // The offset after the last record handled, per partition.
                    var positions: [KafkaTopicPartition: Int64] = [:]
                    while !stopping.load(ordering: .relaxed) && !Task.isCancelled {
                        await rewind(consumer, caches: caches, positions: &positions)
                        for event in try await consumer.poll(maxMessages: 10_000, timeout: .milliseconds(20)) {
                            if case .error(let error) = event, error.code == .autoOffsetReset {
                                throw Self.offsetGone(error, caches: configuration.pipeline.caches)
                            }
                            try handle(event, caches: caches, reverseTopics: reverseTopics)
                            switch event {
                            case .messages(let messages):
                                // The last offset of each partition in the batch: how far
                                // a load or a rebuild has got.
                                var last: [KafkaTopicPartition: Int64] = [:]
                                for message in messages { last[message.topicPartition] = max(last[message.topicPartition] ?? -1, message.offset) }
                                for (partition, offset) in last {
                                    positions[partition] = offset + 1
                                    caches[partition.topic]?.recordProgress(
                                        partition: partition.partition, readThrough: offset, logEnd: consumer.cachedWatermarks(partition)?.high
                                    )
                                }
                                catchUp(last, consumer: consumer)
                                catchUpRebuilds(last, caches: caches, consumer: consumer)
                            case .partitionEOF(let partition, let next):
                                positions[partition] = next
                                caches[partition.topic]?.recordProgress(partition: partition.partition, readThrough: next - 1, logEnd: next)
                                catchUpRebuilds([partition: .max], caches: caches, consumer: consumer)
                            default:
                                break
                            }
                        }
                    }
                }
                // A failed load ends the unit; so does graceful shutdown (the loops end).
                while try await group.next() != nil {
                    if stopping.load(ordering: .relaxed) { break }
                }
                group.cancelAll()
            }
        } onGracefulShutdown: { [self] in
            // A unit that owns partitions hands them over first (the upkeep ends it);
            // any other stops at once.
            if isLoaded && !ownedPartitions().values.allSatisfy(\.isEmpty) {
                leaveRequested.store(true, ordering: .relaxed)
            } else {
                stopping.store(true, ordering: .relaxed)
            }
        }
    }

    /// One upkeep of a unit stopping gracefully; true once it may stop. It says it
    /// leaves (`MemberAnnouncement.leaving`), so peers take it out of the assignment but
    /// wait for its claims; its steward, which leaves it out too, hands each partition it
    /// owns to its successor behind its last change there, as a rebalancing move does,
    /// so no partition is without a deciding owner for longer than a drain and a claim.
    /// It may stop once it owns nothing, when no peer could take over, when it had not
    /// heard every member yet (it could hand to the wrong one), when a peer is of an
    /// earlier version (it would hand each partition back), or after a member timeout:
    /// its peers then claim what is left on hearing it leave, as they would without the
    /// hand-over.
    private func handOverBeforeLeaving(steward: OwnershipSteward?, now: ContinuousClock.Instant) -> Bool {
        let owned = ownedPartitions().filter { !$0.value.isEmpty }
        // Per cache it owns partitions in: how many, and who could take them over.
        let (caches, startedAt) = state.withLock { state in
            let caches = owned.map { cache, partitions in
                (partitions: partitions.count, successors: (state.members[ExactKey(cache)]?.members.values ?? [:].values).filter { $0.loaded && !$0.leaving && !$0.id.isSameBytes(as: id) })
            }
            return (caches, state.leavingStartedAt)
        }
        let handable = caches.filter { !$0.successors.isEmpty }
        let facts = LeavingHandOver.Facts(
            handable: handable.map(\.partitions).reduce(0, +),
            stranded: caches.filter { $0.successors.isEmpty }.map(\.partitions).reduce(0, +),
            hasListened: memberClock.now.map { steward?.hasListened(at: $0) == true } ?? false,
            earlierPeers: Set(handable.flatMap(\.successors).filter { !$0.awaitsHandOver }.map { ExactKey($0.id) }).sorted().map(\.text),
            startedAt: startedAt, timeout: configuration.memberTimeout, now: now
        )
        switch LeavingHandOver.step(facts) {
        case .begin:
            state.withLock { $0.leavingStartedAt = now }
            logger.info("unit \(id) is stopping: handing its \(facts.handable) partition(s) over first (for at most \(configuration.memberTimeout))")
            announce(.heartbeat)
            return false
        case .carryOn:
            return false
        case .stop(.ownsNothing):
            if startedAt != nil { logger.info("unit \(id) handed its partitions over") }
        case .stop(.notListened):
            logger.notice("unit \(id) stops before it has heard every member: its peers claim its partitions on hearing it leave")
        case .stop(.noSuccessor):
            logger.notice("unit \(id) stops with \(facts.stranded) partition(s) of caches no peer holds: the first unit to hold them claims them")
        case .stop(.earlierPeers(let earlier)):
            logger.notice("unit \(id) stops without handing its partitions over: unit(s) \(earlier.joined(separator: ", ")) of an earlier version would hand them straight back; they claim them on hearing it leave")
        case .stop(.timedOut):
            logger.warning("unit \(id) could not hand over \(facts.handable) partition(s) within \(configuration.memberTimeout): its peers claim them on hearing it leave")
        }
        return true
    }

    /// Why the unit stops when its consumer finds a partition's next offset gone. A
    /// cache partition names its cache; the unit reads its other topics from their
    /// ends, so any other partition is reported as Kafka said it, naming no cache.
    static func offsetGone(_ error: KafkaError, caches: [CacheConfiguration]) -> any Error {
        guard let cache = caches.first(where: { $0.topic == error.topicPartition?.topic }) else { return error }
        return CacheLoadError(
            cache: cache.contract,
            message: "\(error); the topic no longer holds the changes after the snapshot the unit loaded (retention?). Restart the unit alone to load from the database, and keep the cache topic's retention longer than the reverse-pump topic's",
            isPermanent: true
        )
    }

    // MARK: Loading

    /// Loads each cache, then starts applying its topic: from the offsets the load
    /// stands for, or from the beginning for a cache that loads from its topic.
    private func load(_ caches: [String: any ReplicaSink], partitions: [String: [Int32]], consumer: KafkaConsumer) async throws {
        let deadline = ContinuousClock.now.advanced(by: configuration.loadTimeout)
        let pipeline = configuration.pipeline
        let reversePumped = pipeline.caches.filter { caches[$0.topic] != nil && $0.load == .reversePump }
        // A loaded peer answers this unit's join at once; only a cold start waits out
        // the whole window.
        let window = ContinuousClock.now.advanced(by: configuration.discoveryWindow)
        while ContinuousClock.now < window, !reversePumped.allSatisfy({ peerSnapshot(of: $0.contract) != nil }) {
            try await Task.sleep(for: .milliseconds(10))
        }
        for (topic, sink) in caches.sorted(by: { $0.key < $1.key }) {
            guard let cache = pipeline.caches.first(where: { $0.topic == topic }) else { continue }
            var offsets: [Int32: Int64] = [:]
            if cache.load == .reversePump {
                let loader = loader(of: cache, into: sink)
                var loaded: CacheLoader.Loaded?
                if let snapshot = peerSnapshot(of: cache.contract) {
                    loaded = try await loader.warm(from: snapshot, deadline: deadline)
                    if loaded == nil { logger.notice("\(cache.contract): the \(snapshot) is no longer on \(cache.reverseTopic); loading from the database") }
                }
                if loaded == nil { loaded = try await loader.cold(deadline: deadline) }
                guard let loaded else { continue }
                state.withLock { $0.snapshots[cache.contract.rawValue] = loaded.snapshot }
                offsets = loaded.offsets
                logger.info("\(cache.contract): \(loaded.rows) rows loaded; applying \(topic) from \(partitions[topic, default: []].map { "\($0):\(offsets[$0].map(String.init) ?? "beginning")" }.joined(separator: ","))")
            }
            try await consumer.addAssignment(partitions[topic, default: []].map { partition in
                KafkaTopicPartitionOffset(topic: topic, partition: partition, offset: offsets[partition].map { KafkaOffset($0) } ?? .beginning)
            })
        }
    }

    /// The newest answer a loaded live peer loaded `cache` from.
    private func peerSnapshot(of cache: ContractName) -> CacheSnapshot? {
        state.withLock { state in
            state.members[ExactKey(cache.rawValue)]?.members.values
                .filter { !$0.id.isSameBytes(as: id) && $0.loaded }
                .compactMap(\.snapshot)
                .max { $0.offset < $1.offset }
        }
    }

    /// Why the unit stops when its load finds that a cache's topic was written under
    /// another mode or partitioner than the pipeline declares now.
    static func layoutChanged(_ cache: CacheConfiguration, _ found: String) -> CacheLoadError {
        let mode = cache.mode.isPartitioned ? "partitioned" : "replicated"
        return CacheLoadError(
            cache: cache.contract,
            message: "the pipeline declares it \(mode), but \(found). A live topic keeps the mode and partitioner it was written with: declare them as they were, or migrate: stop the units, let the writers apply the whole topic, then give the cache a new topic (caches.\(cache.contract).topic, created with `pumphouse topics create`) and load it from the database (load: reverse_pump)",
            isPermanent: true
        )
    }

    private func handle(_ event: KafkaConsumerEvent, caches: [String: any ReplicaSink], reverseTopics: [String: CacheConfiguration]) throws {
        switch event {
        case .messages(let messages):
            for message in messages {
                if message.topic == configuration.pipeline.memberTopic {
                    if let announcement = message.value.flatMap(MemberAnnouncement.init), announcement.role == .unit {
                        if let sent = message.timestampMilliseconds, !MemberClock.isPlausible(sentAt: sent) {
                            logger.warning("member topic: an announcement from \(announcement.member) at offset \(message.offset) of partition \(message.partition) carries the timestamp \(sent), outside the epoch to a day from now; ignored (a foreign producer's record?)")
                            continue
                        }
                        hear(announcement, sentAt: message.timestampMilliseconds)
                    }
                    continue
                }
                if let cache = reverseTopics[message.topic] {
                    archive.hear(message, cache: cache)
                    continue
                }
                guard let cache = caches[message.topic] else { continue }
                // A partition this unit neither owns nor backs up: only its claims are
                // folded, and a record that cannot be one is passed over undecoded (its
                // holders and the writers report it if it is malformed).
                if !cache.keepsEntities(of: message.partition), !message.withUnsafeRecord({ _, value, _ in value.map(OwnershipClaim.mayBeClaim(body:)) ?? false }) {
                    passedOver.add(1, ordering: .relaxed)
                    continue
                }
                let layout: String?
                if let echoed = cache.applyOwnEcho(message) {
                    echoesKept.add(1, ordering: .relaxed)
                    layout = echoed
                } else {
                    do {
                        switch try registry.decodeRecord(message) {
                        case .change(let contract): layout = cache.apply(contract, partition: message.partition, offset: message.offset)
                        case .claim(let claim): layout = cache.applyClaim(claim, partition: message.partition, offset: message.offset)
                        }
                    } catch {
                        cache.reject(offset: message.offset, partition: message.partition, error: error)
                        continue
                    }
                }
                // Loaded, the unit skips such a record as every consumer does (the
                // writers dead-letter it); loading, it refuses the topic.
                if let layout, !isLoaded, let configuration = configuration.pipeline.caches.first(where: { $0.topic == message.topic }) {
                    throw Self.layoutChanged(configuration, layout)
                }
            }
        case .partitionEOF(let partition, _):
            if caches[partition.topic] != nil { finishLoading(partition) }
        case .error(let error):
            logger.warning("unit \(id): \(error)")
        case .partitionsAssigned, .partitionsRevoked:
            break
        }
    }

    /// A loading partition is loaded once everything up to the end of the log as the
    /// unit found it is applied; what comes later is live. Partition EOF says the same
    /// when producers pause, but a broker that holds fetches open (the local one) never
    /// reports the end while producers keep writing, and a unit joining a busy cache
    /// must still become ready.
    private func catchUp(_ last: [KafkaTopicPartition: Int64], consumer: KafkaConsumer) {
        for (partition, offset) in last {
            let target: Int64? = state.withLock { state in
                guard state.loading?.contains(partition) == true else { return nil }
                if let target = state.loadTargets[partition] { return target }
                let high = consumer.cachedWatermarks(partition)?.high
                state.loadTargets[partition] = high
                return high
            }
            if let target, offset + 1 >= target { finishLoading(partition) }
        }
    }

    private func finishLoading(_ partition: KafkaTopicPartition?) {
        let (justLoaded, waiters): (Bool, [CheckedContinuation<Void, any Error>]) = state.withLock { state in
            guard var loading = state.loading, !loading.isEmpty else { return (false, []) }
            if let partition { loading.remove(partition) }
            state.loading = loading
            guard loading.isEmpty else { return (false, []) }
            defer { state.loadWaiters.removeAll() }
            return (true, state.loadWaiters)
        }
        guard justLoaded else { return }
        #if canImport(Glibc)
        // A load frees as much as it keeps (decoded rows, fetch buffers, the tables the
        // replica outgrew); the allocator keeps freed pages for reuse unless asked (glibc
        // until then, jemalloc for seconds). Once, here, so the unit's resident memory is
        // what its caches hold.
        pumphouse_return_freed_memory()
        #endif
        logger.info("unit \(id): caches loaded")
        // Units waiting to join learn at once that this one can feed them.
        announce(.heartbeat)
        for waiter in waiters { waiter.resume() }
    }

    // MARK: Members

    /// `owned` is what `ownedPartitions()` gave, where the caller has just asked.
    private func announce(_ event: MemberAnnouncement.Event, owning owned: [String: [Int32: Int64]]? = nil) {
        let owned = event == .leave ? [:] : owned ?? ownedPartitions()
        let (caches, snapshots, leaving) = state.withLock { state in
            state.announcedOwns = owned
            return (state.members.keys.sorted().map(\.text), state.snapshots, state.leavingStartedAt != nil)
        }
        for cache in caches {
            let announcement = MemberAnnouncement(
                event: event, cache: cache, member: id, address: configuration.address, since: since,
                loaded: isLoaded, snapshot: snapshots[cache], unacknowledged: pump.unacknowledgedCount,
                owns: owned[cache], leaving: leaving, awaitsHandOver: true
            )
            _ = try? control.send(KafkaProducerMessage(topic: configuration.pipeline.memberTopic, key: Array(cache.utf8), value: announcement.encoded()))
        }
    }

    /// The partitions of each partitioned cache this unit owns by its own fold, with
    /// their terms, by cache name.
    private func ownedPartitions() -> [String: [Int32: Int64]] {
        let sinks = state.withLock { $0.caches }
        var owned: [String: [Int32: Int64]] = [:]
        for cache in configuration.pipeline.caches {
            if let owning = sinks[cache.topic]?.owning { owned[cache.contract.rawValue] = owning.ownedHere }
        }
        return owned
    }

    /// The partitioned cache named `cache`, if this unit opened it.
    private func owning(_ cache: String) -> (any PartitionOwning)? {
        guard let configuration = configuration.pipeline.caches.first(where: { $0.contract.rawValue.isSameBytes(as: cache) }) else { return nil }
        return state.withLock { $0.caches[configuration.topic] }?.owning
    }

    /// An announcement read from the member topic, sent at `sent` (its record's timestamp).
    private func hear(_ announcement: MemberAnnouncement, sentAt sent: Int64?) {
        let own = announcement.member.isSameBytes(as: id) && announcement.event != .leave
        let stale = memberClock.isStale(sentAt: sent, timeout: configuration.memberTimeout)
        if let owns = announcement.owns, announcement.event != .leave, !stale {
            owning(announcement.cache)?.hearOwnership(owns, of: announcement.member)
        }
        let changed: MemberList? = state.withLock { state in
            if stale { return nil }
            // Its own heartbeat in the log: peers count it alive from now. The first one
            // back, or one after a gap, restarts every peer's silence in log time: the
            // unit saw nothing of them before.
            if own, let sent, lease.renew(sentAt: sent), let logTime = memberClock.now {
                for cache in state.members.keys { state.members[cache]?.restartSilence(inLogAt: logTime) }
            }
            guard var list = state.members[ExactKey(announcement.cache)] else { return nil }
            // Stored even when nothing but the time last heard changed: a heartbeat that
            // changes nothing else is what keeps its member alive.
            let changed = list.hear(announcement, at: .now, logTime: memberClock.now)
            state.members[ExactKey(announcement.cache)] = list
            return changed ? list : nil
        }
        guard let list = changed else { return }
        logger.info("\(list.description)")
        if announcement.event == .join && !announcement.member.isSameBytes(as: id) {
            announce(.heartbeat)  // so the newcomer learns of this unit without waiting
        }
    }

    /// Names, once each, the units of an earlier version holding a partitioned cache: the
    /// operator learns why this unit reads partitions it does not keep.
    private func warnOfEarlierVersions(_ units: [String], cache: String) {
        guard !units.isEmpty else { return }
        let new = state.withLock { state in
            units.filter { state.earlierVersions[cache, default: []].insert(ExactKey($0)).inserted }
        }
        for unit in new {
            logger.warning("unit \(id): unit \(unit) holds \(cache) but announces no partitions it owns (an earlier version): this unit reads every partition of \(cache) while it does, so that it routes by the claims in the log; replace the earlier units to read only this unit's share")
        }
    }

    /// Claims and hands over partitions of partitioned caches as the live, loaded members
    /// say (`OwnershipSteward`); nothing until this unit is loaded, since before that its
    /// view of each partition's ownership is behind the log. `now` is log time.
    private func tendOwnership(
        _ caches: [String: any ReplicaSink], steward: inout OwnershipSteward, now: ContinuousClock.Instant, reloads: AsyncStream<Reload>.Continuation
    ) {
        guard isLoaded else { return }
        let broken = lease.broken
        defer {
            // Everything owned when the lease broke is claimed again (or was lost):
            // the fold says who owns what, and the unit may decide again.
            if let broken, steward.reclaimsDone(caches: caches.values.filter { $0.owning != nil }.count) {
                lease.repair(through: broken)
                logger.notice("unit \(id): its partitions are claimed again after the gap in its heartbeats; deciding again where it owns them")
            }
        }
        for sink in caches.values {
            guard let owning = sink.owning else { continue }
            let cache = owning.cacheConfiguration.contract.rawValue
            let (members, leaving, departed, earlier) = state.withLock { state in
                let list = state.members[ExactKey(cache)]
                let heard = list?.members.values ?? [:].values
                // This unit leaves from the moment it decides to, not once its heartbeat
                // saying so is read back.
                var leaving = Set(heard.filter { $0.loaded && $0.leaving }.map { ExactKey($0.id) })
                if state.leavingStartedAt != nil { leaving.insert(ExactKey(id)) }
                return (
                    heard.filter(\.loaded).map(\.id), leaving, Set(list?.departed.keys ?? [:].keys),
                    heard.filter { !$0.announcesOwnership && !$0.id.isSameBytes(as: id) }.map(\.id)
                )
            }
            warnOfEarlierVersions(earlier, cache: cache)
            let upkeep = steward.tend(
                owning, live: members.contains { $0.isSameBytes(as: id) } ? members : members + [id], leaving: leaving, departed: departed, now: now,
                brokenLease: broken, logger: logger
            )
            owning.recordOwnership(upkeep)
            guard let wanted = upkeep.wanted else { continue }
            let kept = owning.keep(wanted)
            let topic = owning.cacheConfiguration.topic
            state.withLock { state in
                // A partition let go stops being read only when every unit of the cache
                // says what it owns: an earlier version's claims are known only from the
                // log, so its partitions are read for their claims (and their records
                // passed over), as that version does itself.
                var letGo = state.releasesDeferred.removeValue(forKey: topic) ?? []
                let takenUp = Set(kept.rebuild + kept.reload)
                letGo.removeAll { takenUp.contains($0.partition) }
                letGo += kept.dropped.map { KafkaTopicPartition(topic: topic, partition: $0) }
                if earlier.isEmpty {
                    state.releases += letGo
                    return
                }
                // Partitions already unread when the earlier unit came are read again
                // from where they stopped (from their beginning where that is not known,
                // folding again claims already folded, which change nothing), until it
                // has gone.
                let stopped = state.unread.filter { $0.topic == topic && !takenUp.contains($0.partition) && !letGo.contains($0) }
                state.rewinds += stopped.sorted { $0.partition < $1.partition }.map { partition in
                    KafkaTopicPartitionOffset(partition, offset: state.unreadFrom[partition].map { KafkaOffset($0) } ?? .beginning)
                }
                letGo += stopped
                if !letGo.isEmpty { state.releasesDeferred[topic] = letGo }
            }
            if !kept.rebuild.isEmpty {
                state.withLock { $0.rewinds += kept.rebuild.map { KafkaTopicPartitionOffset(topic: topic, partition: $0, offset: .beginning) } }
            }
            // Each partition's rows are asked for once at a time; a failed try lets the
            // next upkeep ask again.
            let reload = state.withLock { state in
                kept.reload.filter { state.reloading.insert(KafkaTopicPartition(topic: topic, partition: $0)).inserted }
            }
            if !reload.isEmpty { reloads.yield(Reload(cache: owning, partitions: Set(reload))) }
            #if canImport(Glibc)
            // What the dropped partitions held goes back to the system, not to the
            // allocator's free lists (see `finishLoading`).
            if !kept.dropped.isEmpty { pumphouse_return_freed_memory() }
            #endif
        }
    }

    /// Reads the rows of partitions taken up again in a cache loaded from the database
    /// (`CacheLoader.reread`), for the loop that applies the log to hand over in
    /// `rewind`. A try that fails is logged and, after a pause, left to the next upkeep.
    private func reread(_ reload: Reload) async {
        let cache = reload.cache.cacheConfiguration
        do {
            let rows = PartitionReload(partitions: reload.partitions) { [owning = reload.cache] in owning.partition(ofKey: $0) }
            let reading = loader(of: cache, into: rows)
            let snapshot = state.withLock { $0.snapshots[cache.contract.rawValue] }
            let loaded = try await reading.reread(reload.partitions, loadedFrom: snapshot, deadline: ContinuousClock.now.advanced(by: configuration.loadTimeout))
            state.withLock { $0.reloaded.append(Reloaded(topic: cache.topic, partitions: reload.partitions, rows: rows.rows, offsets: loaded.offsets)) }
        } catch {
            logger.warning("\(cache.contract): could not read partitions \(reload.partitions.sorted()) again, trying again: \(error)")
            try? await Task.sleep(for: .seconds(1))
            doneReloading(reload.partitions, of: cache.topic)
        }
    }

    /// A loader of `cache` reading reverse-pump answers into `sink`.
    private func loader(of cache: CacheConfiguration, into sink: any LoadSink) -> CacheLoader {
        CacheLoader(
            unit: id, cache: cache, pipeline: configuration.pipeline, configuration: configuration, registry: registry,
            sink: sink, control: control, logger: logger, startedAt: since
        )
    }

    /// Lets the next upkeep ask for `partitions`' rows again (after a failed try) or
    /// never again for these rows (once they are handed to the replica).
    private func doneReloading(_ partitions: Set<Int32>, of topic: String) {
        state.withLock { state in
            for partition in partitions { state.reloading.remove(KafkaTopicPartition(topic: topic, partition: partition)) }
        }
    }

    /// Stops reading the partitions a partitioned cache let go, and moves those it takes
    /// up again to where their reading starts (their beginning, or the offset after the
    /// rows read again for them), adding them back where they were not read; notes where
    /// each must get to before it is warm: the end of the log as the consumer last saw
    /// it, or, for one added back, as its first fetch reports it. Runs between polls, on
    /// the loop that applies the log, so rows read again reach their replica with no
    /// change of the partition applied in between. `positions` are the loop's: where each
    /// partition's reading stands, kept here as partitions stop and start.
    private func rewind(_ consumer: KafkaConsumer, caches: [String: any ReplicaSink], positions: inout [KafkaTopicPartition: Int64]) async {
        let (pending, reloaded, releases) = state.withLock { state in
            defer {
                state.rewinds = []
                state.reloaded = []
                state.releases = []
            }
            return (state.rewinds, state.reloaded, state.releases.filter { !state.unread.contains($0) })
        }
        var seeks = pending
        for answer in reloaded {
            for partition in answer.partitions.sorted() where caches[answer.topic]?.owning?.reload(partition, with: answer.rows) == true {
                seeks.append(KafkaTopicPartitionOffset(topic: answer.topic, partition: partition, offset: answer.offsets[partition].map { KafkaOffset($0) } ?? .beginning))
            }
            doneReloading(answer.partitions, of: answer.topic)
        }
        // One start per partition, the one asked for last (a rewind asked for twice
        // between two polls, or one followed by a reload's answer): librdkafka refuses
        // an assignment that lists a partition twice, and this would ask again forever.
        var started = Set<KafkaTopicPartition>()
        seeks = seeks.reversed().filter { started.insert($0.topicPartition).inserted }.reversed()
        // Partitions let go are not read any more: the broker stops sending this unit
        // records it would only pass over. One taken up again since is added back below.
        if !releases.isEmpty {
            do {
                try await consumer.removeAssignment(releases)
                let stopped = releases.map { ($0, positions.removeValue(forKey: $0)) }
                state.withLock { state in
                    state.unread.formUnion(releases)
                    for (partition, position) in stopped { state.unreadFrom[partition] = position }
                }
            } catch {
                logger.warning("unit \(id): could not stop reading \(releases), trying again: \(error)")
                // Not one read again meanwhile, which must stay assigned.
                let readAgain = Set(seeks.map(\.topicPartition))
                state.withLock { $0.releases += releases.filter { !readAgain.contains($0) } }
            }
        }
        guard !seeks.isEmpty else { return }
        let unread = state.withLock { $0.unread }
        let added = seeks.filter { unread.contains($0.topicPartition) }
        if !added.isEmpty {
            do {
                try await consumer.addAssignment(added)
                state.withLock { state in
                    for partition in added.map(\.topicPartition) {
                        state.unread.remove(partition)
                        state.unreadFrom[partition] = nil
                        state.rebuildsAwaitingEnd.insert(partition)
                    }
                }
                for start in added { positions[start.topicPartition] = start.offset.rawValue >= 0 ? start.offset.rawValue : nil }
            } catch {
                logger.warning("unit \(id): could not read \(added) again, trying again: \(error)")
                state.withLock { $0.rewinds += added }
            }
        }
        seeks.removeAll { unread.contains($0.topicPartition) }
        guard !seeks.isEmpty else { return }
        do {
            try await consumer.seek(seeks)
        } catch {
            logger.warning("unit \(id): could not read \(seeks) again, trying again: \(error)")
            state.withLock { $0.rewinds += seeks }
            return
        }
        for seek in seeks { positions[seek.topicPartition] = seek.offset.rawValue >= 0 ? seek.offset.rawValue : nil }
        for seek in seeks {
            let end = consumer.cachedWatermarks(seek.topicPartition)?.high ?? 0
            if end <= max(0, seek.offset.rawValue) {
                caches[seek.topic]?.owning?.finishRebuild(seek.partition)
            } else {
                state.withLock { $0.rebuildTargets[seek.topicPartition] = end }
            }
        }
    }

    /// Finishes the rebuilds that reached their targets: `last` holds each partition's
    /// last offset applied (`.max` for a partition's end).
    private func catchUpRebuilds(_ last: [KafkaTopicPartition: Int64], caches: [String: any ReplicaSink], consumer: KafkaConsumer) {
        let done: [KafkaTopicPartition] = state.withLock { state in
            for partition in last.keys where state.rebuildsAwaitingEnd.remove(partition) != nil {
                // This batch's fetch brought the partition's high watermark.
                state.rebuildTargets[partition] = consumer.cachedWatermarks(partition)?.high ?? 0
            }
            guard !state.rebuildTargets.isEmpty else { return [] }
            let done = last.compactMap { partition, offset in
                state.rebuildTargets[partition].flatMap { target in offset == .max || offset + 1 >= target ? partition : nil }
            }
            for partition in done { state.rebuildTargets[partition] = nil }
            return done
        }
        for partition in done { caches[partition.topic]?.owning?.finishRebuild(partition.partition) }
    }

    /// Drops the members silent for longer than the member timeout, both since this unit
    /// read them and in log time (`MemberClock`); nobody before this unit has read its
    /// own heartbeat back.
    private func expireMembers() {
        let now = ContinuousClock.now
        let expired: [MemberList] = state.withLock { state in
            var changed: [MemberList] = []
            // Log time moves in steps of the heartbeat interval, a step behind the wall:
            // counted a step ahead, a dead member drops out when the wall says, while
            // a lagging reader's log time still stands still.
            guard let logNow = memberClock.now?.advanced(by: configuration.heartbeatInterval) else { return changed }
            for (cache, var list) in state.members where !list.expire(now: now, timeout: configuration.memberTimeout, logNow: logNow).isEmpty {
                state.members[cache] = list
                changed.append(list)
            }
            return changed
        }
        for list in expired { logger.info("\(list.description)") }
    }
}

/// What the unit's replication loop needs of a cache, whatever its entity type.
protocol ReplicaSink: LoadSink {
    /// Applies a change in log order. Returns why the topic's layout (its mode, its
    /// partitioner) is not the cache's when the change shows it; a unit still loading
    /// stops on that, since a live topic's layout cannot change under its records.
    func apply(_ contract: Contract, partition: Int32, offset: Int64) -> String?
    /// Applies `message` as the contract of this unit's own change it echoes, when the
    /// replica still holds that change as published, and returns a layout problem as
    /// `apply` does; nil, having done nothing, when the message must be decoded.
    func applyOwnEcho(_ message: KafkaMessage) -> String??
    /// False for a partition whose changes the unit does not apply (only its claims).
    func keepsEntities(of partition: Int32) -> Bool
    /// Folds an ownership claim; returns a layout problem as `apply` does.
    func applyClaim(_ claim: OwnershipClaim, partition: Int32, offset: Int64) -> String?
    func reject(offset: Int64, partition: Int32, error: any Error)
    /// Records the replica's size for the metrics.
    func recordEntities()
    /// Records how far the consumer has brought the partition (`readThrough`, the last
    /// offset of a batch, all of it applied) and the log's end as it last saw it.
    func recordProgress(partition: Int32, readThrough offset: Int64, logEnd: Int64?)
    var undecidedCreates: Int { get }
    /// The partitioned cache's ownership, for the unit to claim and hand over partitions
    /// (nil for a replicated cache).
    var owning: (any PartitionOwning)? { get }
}

extension ReplicatedCache: ReplicaSink, PartitionOwning {}

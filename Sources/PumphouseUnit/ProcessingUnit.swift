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
/// await `loaded()` before serving: on start each replica rebuilds from its cache's
/// topic, read from the beginning. Reads and writes never wait on the network after that.
public final class ProcessingUnit: Service {
    public let id: String
    private let configuration: UnitConfiguration
    private let registry: ContractRegistry
    private let pump: DataPump
    /// Announcements go through a producer of their own: they are ephemeral (a lost or
    /// repeated heartbeat is harmless), so they need no idempotence, and trouble on the
    /// shared member topic must never hold up the cache changes behind it.
    private let announcer: KafkaProducer
    private let logger: Logger
    private let since: Int64
    private let state = Mutex(State())
    /// Set by graceful shutdown; the replication and heartbeat loops end on it.
    private let stopping = Atomic(false)

    private struct State {
        var caches: [String: any ReplicaSink] = [:]
        var running = false
        var members: [String: MemberList] = [:]
        /// Cache partitions not yet read to their end once.
        var loading: Set<KafkaTopicPartition>?
        var loadWaiters: [CheckedContinuation<Void, Never>] = []
    }

    public init(configuration: UnitConfiguration, logger: Logger) throws {
        guard !configuration.unitID.isEmpty, configuration.unitID.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw ConfigurationError(file: "unit", setting: "unitID", message: "\"\(configuration.unitID)\" must be letters, digits, '-', '_' or '.': it names the unit's spool directory")
        }
        self.id = configuration.unitID
        self.configuration = configuration
        self.logger = logger
        do {
            self.registry = try SchemaRepository(directory: configuration.pipeline.schemasDirectory).load()
        } catch {
            throw ConfigurationError(file: "pipeline", setting: "schemas", message: "\(error)")
        }
        let spool = try DurableSpool(
            configuration: SpoolConfiguration(directory: "\(configuration.spoolDirectory)/\(configuration.unitID)", maxPendingBytes: configuration.spoolMaxPendingBytes),
            logger: logger
        )
        self.pump = try DataPump(origin: configuration.unitID, spool: spool, kafka: configuration.pipeline.kafka, logger: logger, metrics: UnitMetrics(unit: configuration.unitID))
        var announcer = KafkaProducerConfiguration(connection: configuration.pipeline.kafka)
        announcer.idempotent = false
        announcer.messageTimeout = configuration.memberTimeout
        announcer.linger = .zero
        // A lost announcement is repaired by the next heartbeat; not worth a log line.
        self.announcer = try KafkaProducer(configuration: announcer, logger: logger) { _ in }
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
            let opened = try ReplicatedCache<Entity>(topic: cache.topic, registry: registry, validates: configuration.validatesChanges, pump: pump, unit: id, logger: logger)
            state.caches[cache.topic] = opened
            state.members[Entity.contract.rawValue] = MemberList(cache: Entity.contract.rawValue, this: id)
            return opened
        }
    }

    /// Returns once every cache has been rebuilt from its topic (read to the end once).
    public func loaded() async {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state in
                if let loading = state.loading, loading.isEmpty { return true }
                state.loadWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Returns once every change accepted so far is on this unit's disk (the spool writes
    /// in groups every few milliseconds; this is for the rare change worth waiting for).
    public func syncSpool() async throws {
        try await pump.sync()
    }

    /// Whether every cache has been rebuilt from its topic.
    public var isLoaded: Bool {
        state.withLock { $0.loading?.isEmpty ?? false }
    }

    /// This unit's view of who holds `cache`.
    public func members(of cache: ContractName) -> MemberList? {
        state.withLock { $0.members[cache.rawValue] }
    }

    public func run() async throws {
        let caches = state.withLock { state in
            state.running = true
            return state.caches
        }
        let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(connection: configuration.pipeline.kafka), logger: logger)
        var assignments: [KafkaTopicPartitionOffset] = []
        var cachePartitions = Set<KafkaTopicPartition>()
        for topic in caches.keys.sorted() {
            let description: KafkaTopicDescription
            do {
                description = try await admin.describeTopic(topic)
            } catch {
                throw ConfigurationError(file: "pipeline", setting: "caches", message: "cannot read topic \(topic): \(error); create it with `pumphouse topics create`")
            }
            for partition in description.partitions {
                let topicPartition = KafkaTopicPartition(topic: topic, partition: partition.id)
                cachePartitions.insert(topicPartition)
                assignments.append(KafkaTopicPartitionOffset(topicPartition, offset: .beginning))
            }
        }
        let memberTopic = configuration.pipeline.memberTopic
        do {
            for partition in try await admin.describeTopic(memberTopic).partitions {
                assignments.append(KafkaTopicPartitionOffset(topic: memberTopic, partition: partition.id, offset: .end))
            }
        } catch {
            throw ConfigurationError(file: "pipeline", setting: "caches", message: "cannot read topic \(memberTopic): \(error); create it with `pumphouse topics create`")
        }
        state.withLock { $0.loading = cachePartitions }
        finishLoading(nil)

        var consumerConfiguration = KafkaConsumerConfiguration(connection: configuration.pipeline.kafka)
        consumerConfiguration.connection.clientID = "pumphouse-unit-\(id)"
        let consumer = try KafkaConsumer(configuration: consumerConfiguration, logger: logger)
        try await consumer.assign(assignments)
        logger.info("unit \(id) replicating \(caches.keys.sorted().joined(separator: ", "))")
        announce(.join)

        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { [self] in
                    // Heartbeats, silent members, and the pump's backlog after an outage.
                    var lastHeartbeat = ContinuousClock.now
                    while !stopping.load(ordering: .relaxed) && !Task.isCancelled {
                        try await Task.sleep(for: .milliseconds(10))
                        if pump.needsDraining { pump.drainBacklog() }
                        let now = ContinuousClock.now
                        if now - lastHeartbeat >= configuration.heartbeatInterval {
                            lastHeartbeat = now
                            announce(.heartbeat)
                            expireMembers(now: now)
                        }
                    }
                }
                while !stopping.load(ordering: .relaxed) && !Task.isCancelled {
                    for event in try await consumer.poll(maxMessages: 10_000, timeout: .milliseconds(20)) {
                        handle(event, caches: caches)
                    }
                }
                group.cancelAll()
            }
        } onGracefulShutdown: { [self] in
            stopping.store(true, ordering: .relaxed)
        }
        announce(.leave)
        try? await announcer.shutdown(timeout: .seconds(1))
        await pump.close(timeout: .seconds(5))
        try? await consumer.close()
        logger.info("unit \(id) stopped")
    }

    private func handle(_ event: KafkaConsumerEvent, caches: [String: any ReplicaSink]) {
        switch event {
        case .messages(let messages):
            for message in messages {
                if message.topic == configuration.pipeline.memberTopic {
                    if let announcement = message.value.flatMap(MemberAnnouncement.init) { hear(announcement) }
                    continue
                }
                guard let cache = caches[message.topic] else { continue }
                do {
                    let contract = try registry.decode(key: message.key, value: message.value, headers: message.headers.map { ($0.name, $0.value) })
                    cache.apply(contract, partition: message.partition, offset: message.offset)
                } catch {
                    cache.reject(offset: message.offset, partition: message.partition, error: error)
                }
            }
        case .partitionEOF(let partition, _):
            finishLoading(partition)
        case .error(let error):
            logger.warning("unit \(id): \(error)")
        case .partitionsAssigned, .partitionsRevoked:
            break
        }
    }

    private func finishLoading(_ partition: KafkaTopicPartition?) {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { state in
            guard var loading = state.loading, !loading.isEmpty || partition == nil else { return [] }
            if let partition { loading.remove(partition) }
            state.loading = loading
            guard loading.isEmpty else { return [] }
            defer { state.loadWaiters.removeAll() }
            return state.loadWaiters
        }
        if !waiters.isEmpty { logger.info("unit \(id): caches loaded") }
        for waiter in waiters { waiter.resume() }
    }

    // MARK: Members

    private func announce(_ event: MemberAnnouncement.Event) {
        let caches = state.withLock { Array($0.members.keys) }
        for cache in caches.sorted() {
            let announcement = MemberAnnouncement(event: event, cache: cache, member: id, address: configuration.address, since: since)
            _ = try? announcer.send(KafkaProducerMessage(topic: configuration.pipeline.memberTopic, key: Array(cache.utf8), value: announcement.encoded()))
        }
    }

    private func hear(_ announcement: MemberAnnouncement) {
        let now = ContinuousClock.now
        let changed: MemberList? = state.withLock { state in
            guard var list = state.members[announcement.cache], list.hear(announcement, at: now) else { return nil }
            state.members[announcement.cache] = list
            return list
        }
        guard let list = changed else { return }
        logger.info("\(list.description)")
        if announcement.event == .join && announcement.member != id {
            announce(.heartbeat)  // so the newcomer learns of this unit without waiting
        }
    }

    private func expireMembers(now: ContinuousClock.Instant) {
        let expired: [MemberList] = state.withLock { state in
            var changed: [MemberList] = []
            for (cache, var list) in state.members where !list.expire(now: now, timeout: configuration.memberTimeout).isEmpty {
                state.members[cache] = list
                changed.append(list)
            }
            return changed
        }
        for list in expired { logger.info("\(list.description)") }
    }
}

/// What the unit's replication loop needs of a cache, whatever its entity type.
protocol ReplicaSink: Sendable {
    func apply(_ contract: Contract, partition: Int32, offset: Int64)
    func reject(offset: Int64, partition: Int32, error: any Error)
}

extension ReplicatedCache: ReplicaSink {}

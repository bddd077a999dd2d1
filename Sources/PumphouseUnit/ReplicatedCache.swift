import Foundation
import Logging
import PumphouseContracts
import PumphouseKafka
import PumphousePipeline
import Synchronization

/// A named cache: a replicated in-memory map of one contract's entities.
///
/// Reads are local and never wait on the network. A change updates this replica at once
/// and is published to the cache's topic (the data pump), keyed by entity key; peers and
/// writers apply it in log order. Changes from peers arrive on the same topic; every
/// replica converges to the same state.
///
/// The replica is split by the partitions of the cache's topic, each part behind its own
/// lock and paired with the pump's lane for that partition: a change locks only its
/// key's part, so changes to different partitions never wait on each other. Work that
/// needs no order (entity conversion, validation of a whole entity or a delta) happens
/// before the lock.
///
/// ```swift
/// @CacheFields
/// struct Seat: CacheEntity {
///     static let contract = try! ContractName("ticketing.Seat")
///     var id: String
///     var status: String
///     var price: Int
///     var key: String { id }
/// }
///
/// let seats = try unit.cache(Seat.self)
/// try seats.put(Seat(id: "A-12", status: "free", price: 80))
/// try seats.update("A-12") { $0.status = "held" }   // publishes only `status`
/// try seats.increment("A-12", "price", by: -5)       // a delta: never collides
/// let seat = seats["A-12"]
/// ```
public final class ReplicatedCache<Entity: CacheEntity>: Sendable {
    public let name: ContractName
    let topic: String
    private let schemaVersion: Int
    private let registry: ContractRegistry
    private let validates: Bool
    private let pump: DataPump
    private let configuration: CacheConfiguration
    private let archive: ArchiveReads?
    /// Whether this unit may still decide as an owner (partitioned caches).
    private let lease: OwnershipLease
    private let partitioner: KafkaKeyPartitioner
    /// By partition of the cache's topic.
    private let shards: [Shard]
    private let metrics: UnitMetrics.Cache
    private let logger: Logger
    /// Creates published and not yet decided by the log, their `whenDecided` included.
    private let undecided = Atomic(0)

    /// The part of the replica whose keys fall in one partition, and that partition's lane.
    private final class Shard: Sendable {
        let partition: Int32
        let store: Mutex<Store>
        let lane: DataPump.Lane
        /// Mirrors `store.holding == .dropped`, written under the store's lock, so that the
        /// consumer can pass over a dropped partition's records without taking the lock
        /// once per record.
        let entitiesDropped = Atomic(false)

        init(origin: String, partition: Int32, lane: DataPump.Lane, partitioning: CacheConfiguration?, checksHoles: Bool) {
            self.partition = partition
            self.store = Mutex(Store(replica: CacheReplica<Entity>(origin: origin, partitioning: partitioning, checksHoles: checksHoles)))
            self.lane = lane
        }
    }

    private struct Store {
        /// Each entity once, by the key's bytes, as the log and the database tell
        /// entities apart.
        var replica: CacheReplica<Entity>
        /// This unit's creates awaiting their echo, by sequence (in this partition).
        var creates: [Int64: PendingCreate] = [:]
        /// In a partitioned cache: this unit owns the partition but is handing it to
        /// another unit, so it decides nothing more there.
        var handingOff = false
        /// The term of the hand-off claim this unit queued, until a claim is adopted:
        /// while it is on its way, the hand-off cannot be called off.
        var handOffTerm: Int64?
        /// Whether this unit keeps the partition's entities (see ``Holding``).
        var holding = Holding.held
        /// Whether the assignment over the live members made this unit a backup of the
        /// partition, as of the last ownership upkeep.
        var backup = false
        /// Records of the partition in the log and not applied here, as of the last
        /// batch of its records (`CacheRead.behind`).
        var behind: Int64?
        /// The latest ownership the members' heartbeats name for the partition (each
        /// unit lists what its own fold says it owns): how a unit that does not read the
        /// partition knows its owner.
        var announced = PartitionOwnership()

        /// The partition's ownership as this unit knows it: its replica's fold where it
        /// reads the partition; where it does not (dropped), or reads it again from the
        /// start (rebuilding, while the fold starts over), the later of what the fold
        /// said when it stopped and what the heartbeats name since.
        func ownership(of partition: Int32) -> PartitionOwnership {
            let known: PartitionOwnership
            switch holding {
            case .held: return replica.ownership[partition] ?? PartitionOwnership()
            case .dropped: known = replica.ownership[partition] ?? PartitionOwnership()
            case .rebuilding(let reported): known = reported
            }
            return announced.term > known.term ? announced : known
        }
    }

    /// A partitioned cache keeps only the partitions its unit owns or backs up. One it
    /// stops holding keeps only its ownership (claims are still folded, for routing); one
    /// it takes up again is rebuilt (from the topic's beginning, or from a reverse-pump
    /// answer and the topic after it), and decides nothing until that has caught up.
    enum Holding {
        case held
        case dropped
        /// Reading the partition again (from its beginning, or from the offset after the
        /// rows an answer gave it); `reported` is the ownership known before, shown to
        /// the steward and the routing table meanwhile, since the replica's own fold
        /// starts again.
        case rebuilding(reported: PartitionOwnership)

        var isHeld: Bool {
            if case .held = self { return true }
            return false
        }
    }

    init(
        configuration: CacheConfiguration, registry: ContractRegistry, validates: Bool, pump: DataPump, archive: ArchiveReads?, lease: OwnershipLease, logger: Logger
    ) throws(CacheError) {
        self.name = Entity.contract
        self.lease = lease
        self.topic = configuration.topic
        self.configuration = configuration
        self.archive = archive
        guard let version = registry.contracts[Entity.contract]?.latestVersion else {
            throw CacheError.invalid(cache: Entity.contract, key: "", reason: "no schema for \(Entity.contract) in the schema directory")
        }
        self.schemaVersion = version
        self.registry = registry
        self.validates = validates
        self.pump = pump
        guard let lanes = pump.lanes(of: configuration.topic), !lanes.isEmpty else {
            throw CacheError.invalid(cache: Entity.contract, key: "", reason: "the unit's data pump has no lanes for topic \(configuration.topic)")
        }
        self.partitioner = lanes[0].partitioner ?? configuration.partitioner
        let partitioning = configuration.mode.isPartitioned ? configuration : nil
        self.shards = lanes.enumerated().map {
            Shard(origin: pump.origin, partition: Int32($0.offset), lane: $0.element, partitioning: partitioning, checksHoles: configuration.keepsEveryRecord)
        }
        self.metrics = UnitMetrics.Cache(unit: pump.origin, cache: Entity.contract.rawValue, partitions: lanes.count)
        self.logger = logger
    }

    // MARK: Reads

    public subscript(key: String) -> Entity? { shard(of: key).store.withLock { $0.replica.value(ExactKey(key)) } }

    public func get(_ key: String) -> Entity? { self[key] }

    /// Whether the pipeline file declares the cache partitioned: one owner per partition
    /// decides its keys, and a unit holds only some partitions (`read(_:)` says which).
    public var isPartitioned: Bool { configuration.mode.isPartitioned }

    /// The caches the pipeline file declares partitioned together with this one: the same
    /// partition of each has the same owner (once ownership has settled).
    public var coPartitioned: [ContractName] { configuration.coPartitioned }

    /// `key` as the log has decided it so far, leaving out this unit's own changes that
    /// have yet to come back from it. The subscript shows those at once, which is right
    /// for a unit reading its own writes, but a pending `create` may still lose to
    /// another unit's: read this where that matters (a purchase retried before its
    /// sale is decided must not be told the seat is its own).
    public func committed(_ key: String) -> Entity? { shard(of: key).store.withLock { $0.replica.committedValue(ExactKey(key)) } }

    public var count: Int { shards.reduce(0) { $0 + $1.store.withLock { $0.replica.count } } }

    /// A snapshot of every entity, in no particular order (each partition's part as of
    /// its own moment).
    public var values: [Entity] { shards.flatMap { $0.store.withLock { $0.replica.values } } }

    /// The part holding `key`: its partition as librdkafka places it, which is also where
    /// the key's changes from every unit arrive.
    private func shard(of key: String) -> Shard { shards[Int(partitioner.partition(ofKey: key))] }

    /// Reads `key` from this replica or, when the replica does not hold it, from the
    /// database through a data reader (read-through, for entities kept only in the
    /// archive). The entity read from the database is not added to the cache. nil if
    /// neither holds it; throws `archiveTimeout` if no reader answers within `timeout`.
    public func fetch(_ key: String, timeout: Duration = .seconds(5)) async throws(CacheError) -> Entity? {
        if let entity = self[key] { return entity }
        guard let archive else {
            throw .archiveFailed(cache: name, key: key, reason: "the cache has a custom mapping, which a data reader cannot read back")
        }
        guard let row = try await archive.read(configuration, keys: [key], timeout: timeout).first(where: { $0.key.isSameBytes(as: key) }) else { return nil }
        do {
            return try Entity(fields: row.fields)
        } catch {
            throw .archiveFailed(cache: name, key: key, reason: "the row does not fit \(Entity.self): \(error)")
        }
    }

    /// `key` with where the answer stands (``CacheRead``): owner, backup, a replica of a
    /// replicated cache, or a partition this unit does not keep. For callers that can
    /// serve a possibly stale read from a backup and want to say so.
    public func read(_ key: String) -> CacheRead<Entity> {
        let shard = shard(of: key)
        return shard.store.withLock { store in
            let owned = store.ownership(of: shard.partition)
            let source = source(store, owned)
            return CacheRead(
                value: source == .notHeld ? nil : store.replica.value(ExactKey(key)), source: source,
                owner: configuration.mode.isPartitioned ? owned.owner : nil, partition: shard.partition,
                behind: source == .owner || source == .notHeld ? nil : store.behind
            )
        }
    }

    /// How many partitions the cache's topic has: the range a partition number asked for
    /// from outside (a fan-out's `?partitions=`) must lie in.
    public var partitionCount: Int { shards.count }

    /// This unit's standing in `partition`, as ``read(_:)`` reports it for each key there;
    /// `notHeld` for a partition the topic does not have.
    public func source(ofPartition partition: Int32) -> CacheRead<Entity>.Source {
        guard shards.indices.contains(Int(partition)) else { return .notHeld }
        return shards[Int(partition)].store.withLock { source($0, $0.ownership(of: partition)) }
    }

    /// The entities of one partition this unit holds (none where it holds nothing): for
    /// an owner answering for its partitions alone (`source(ofPartition:)`).
    public func values(inPartition partition: Int32) -> [Entity] {
        guard shards.indices.contains(Int(partition)) else { return [] }
        return shards[Int(partition)].store.withLock { $0.holding.isHeld ? $0.replica.values : [] }
    }

    private func source(_ store: borrowing Store, _ owned: PartitionOwnership) -> CacheRead<Entity>.Source {
        if !store.holding.isHeld { .notHeld }
        else if !configuration.mode.isPartitioned { .replica }
        else if owned.term > 0, owned.owner?.isSameBytes(as: pump.origin) == true { .owner }
        else { store.backup ? .backup : .replica }
    }

    /// Calls `body` for each entity of a snapshot, outside the cache's lock.
    public func forEach(_ body: (Entity) throws -> Void) rethrows {
        for entity in values { try body(entity) }
    }

    // MARK: Changes

    /// Adds the entity, or replaces it whole.
    public func put(_ entity: Entity) throws(CacheError) {
        let key = entity.key
        let fields = try entity.changeFields
        try check(key, .add, fields: fields)
        let stored = try converted(fields, key: key)
        try change(key, action: .add, checked: true, resulting: stored) { (_: Entity?) throws(CacheError) in (fields, JSONObject()) }
    }

    /// Changes an existing entity; only the fields that differ afterwards are published.
    /// Throws `missing` if there is no such entity; does nothing if nothing changed.
    public func update(_ key: String, _ mutate: (inout Entity) -> Void) throws(CacheError) {
        try change(key, action: .update) { (current: Entity?) throws(CacheError) in
            guard var entity = current else { throw CacheError.missing(cache: name, key: key) }
            let before = try entity.changeFields
            mutate(&entity)
            guard entity.key.isSameBytes(as: key) else {
                throw CacheError.invalid(cache: name, key: key, reason: "an update cannot change the key (to \"\(entity.key)\"); remove and put instead")
            }
            var changed = JSONObject()
            let after = try entity.changeFields
            for member in after where before[member.name] != member.value { changed[member.name] = member.value }
            for member in before where after[member.name] == nil { changed[member.name] = .null }
            return changed.isEmpty ? nil : (changed, JSONObject())
        }
    }

    /// Adds `amount` to a numeric field. Deltas from different units add up in any order,
    /// so concurrent increments never collide (the inventory case).
    public func increment(_ key: String, _ field: String, by amount: Int64) throws(CacheError) {
        let deltas: JSONObject = [field: .int(amount)]
        try check(key, .update, deltas: deltas)
        try change(key, action: .update, checked: true) { (current: Entity?) throws(CacheError) in
            guard current != nil else { throw CacheError.missing(cache: name, key: key) }
            return (JSONObject(), deltas)
        }
    }

    /// Adds the entity only if its key exists nowhere yet, and tells whether it did: the
    /// create is published, and the first create of the key in log order wins on every
    /// replica and in the database (the writer inserts it unless the row exists). So
    /// two units creating the same key at the same instant get one `true` and one
    /// `false`, which is how a unit claims something, such as a seat's sale, without a
    /// lock. Returns false at once, publishing nothing, if this replica already holds the
    /// key.
    ///
    /// Unlike the other changes, this waits for the log: up to `timeout` for the create
    /// to come back. If it does not (the broker is slow or down) or the caller is
    /// cancelled, it throws `unconfirmed`; the create stays in the pump and the log still
    /// decides it later. `whenDecided` runs once with the outcome whenever it arrives
    /// while this process runs, waited for or not, so what must follow a win (a counter,
    /// say) follows it even after a timeout.
    ///
    /// In a partitioned cache the unit owning the key's partition decides at once, and
    /// any other unit throws `notOwner`. With `confirmation: .brokerAcknowledged` the
    /// owner answers only once the broker holds the create (acks=all), so a caller told
    /// `true` does not lose it with the owner's machine; `unconfirmed` after `timeout`.
    public func create(
        _ entity: Entity,
        timeout: Duration = .seconds(5),
        confirmation: Confirmation = .decided,
        whenDecided: (@Sendable (Bool) -> Void)? = nil
    ) async throws(CacheError) -> Bool {
        let key = entity.key
        let shard = shard(of: key)
        if shard.store.withLock({ $0.replica.value(ExactKey(key)) != nil }) { return false }
        let fields = try entity.changeFields
        try check(key, .create, fields: fields)
        let stored = try converted(fields, key: key)
        var published: DataPump.Published?
        let decidesHere = configuration.mode.isPartitioned
        try change(key, action: .create, checked: true, resulting: stored, { (current: Entity?) throws(CacheError) in current == nil ? (fields, JSONObject()) : nil }) { store, handed in
            if !decidesHere {
                store.creates[handed.sequence] = PendingCreate(whenDecided: whenDecided)
                undecided.add(1, ordering: .relaxed)
            }
            published = handed
        }
        guard let handed = published else { return false }
        if decidesHere {
            // The partition's owner decides its keys alone: its replica held no entity,
            // and no other unit's change to the key can take effect before this one.
            whenDecided?(true)
            if confirmation == .brokerAcknowledged {
                guard await pump.acknowledgement(of: handed.number, in: shard.lane, timeout: timeout) else {
                    throw CacheError.unconfirmed(cache: name, key: key, timeout: timeout)
                }
                // Acknowledged within the lease, the create is in the log ahead of any
                // claim that deposes this unit; later, it may be behind one (fenced).
                guard lease.isValid() else { throw CacheError.unconfirmed(cache: name, key: key, timeout: timeout) }
            }
            return true
        }
        let sequence = handed.sequence
        let expiry = pump.deadlines.schedule(at: .now + timeout) { [self] in stopWaiting(sequence, in: shard) }
        defer { pump.deadlines.cancel(expiry) }
        let won: Bool? = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let known: Bool?? = shard.store.withLock { store in
                    guard var pending = store.creates[sequence] else { return .some(nil) }
                    if let won = pending.outcome {
                        store.creates[sequence] = nil
                        return .some(won)
                    }
                    guard pending.waited else { return .some(nil) }  // gave up already
                    pending.waiter = continuation
                    store.creates[sequence] = pending
                    return nil
                }
                if let known { continuation.resume(returning: known) }
            }
        } onCancel: {
            stopWaiting(sequence, in: shard)
        }
        guard let won else { throw CacheError.unconfirmed(cache: name, key: key, timeout: timeout) }
        return won
    }

    /// A create between publishing and its echo.
    private struct PendingCreate {
        let whenDecided: (@Sendable (Bool) -> Void)?
        /// The creator, once it waits.
        var waiter: CheckedContinuation<Bool?, Never>?
        /// False once the creator stopped waiting (timeout or cancellation).
        var waited = true
        /// The outcome, when it came before the creator began to wait.
        var outcome: Bool?
    }

    /// The log decided this unit's create.
    private func decideCreate(_ sequence: Int64, _ won: Bool, in shard: Shard) {
        let decided: (handler: (@Sendable (Bool) -> Void)?, waiter: CheckedContinuation<Bool?, Never>?)? = shard.store.withLock { store in
            guard var pending = store.creates[sequence] else { return nil }
            if pending.waiter == nil && pending.waited {
                pending.outcome = won  // the creator has yet to wait; it takes the outcome then
                store.creates[sequence] = pending
            } else {
                store.creates[sequence] = nil
            }
            return (pending.whenDecided, pending.waiter)
        }
        guard let decided else { return }
        decided.handler?(won)
        undecided.subtract(1, ordering: .releasing)
        decided.waiter?.resume(returning: won)
    }

    /// Creates this unit published whose outcome the log has not yet brought back, or
    /// whose `whenDecided` has yet to finish. A create's `whenDecided` lives in this
    /// process only, so a unit stopped while this is above zero loses what those would
    /// have done (a counter that should follow a won sale, say); a planned stop can wait
    /// for zero first.
    public var undecidedCreates: Int { undecided.load(ordering: .acquiring) }

    /// The creator stops waiting; a later outcome still reaches `whenDecided`.
    private func stopWaiting(_ sequence: Int64, in shard: Shard) {
        let waiter: CheckedContinuation<Bool?, Never>? = shard.store.withLock { store in
            guard var pending = store.creates[sequence], pending.waited else { return nil }
            if pending.outcome != nil { return nil }  // decided; the creator takes it as it waits
            let waiter = pending.waiter
            pending.waited = false
            pending.waiter = nil
            store.creates[sequence] = pending
            return waiter
        }
        waiter?.resume(returning: nil)
    }

    /// Removes the entity; returns false (and publishes nothing) if there was none.
    @discardableResult
    public func remove(_ key: String) throws(CacheError) -> Bool {
        var removed = false
        try change(key, action: .delete) { current in
            removed = current != nil
            return removed ? (JSONObject(), JSONObject()) : nil
        }
        return removed
    }

    /// Validates a change whose fields and deltas do not depend on the entity's current
    /// state, before any lock is taken.
    private func check(_ key: String, _ action: ContractAction, fields: JSONObject = JSONObject(), deltas: JSONObject = JSONObject()) throws(CacheError) {
        guard validates else { return }
        let draft = Contract(name: name, version: schemaVersion, action: action, key: key, origin: pump.origin, sequence: 0, eventTime: 0, fields: fields, deltas: deltas)
        do {
            try registry.validate(draft)
        } catch {
            throw CacheError.invalid(cache: name, key: key, reason: "\(error)")
        }
    }

    /// The entity as every replica will read it after a whole-entity change: made from
    /// the published fields, as peers make it, and before any lock is taken.
    private func converted(_ fields: JSONObject, key: String) throws(CacheError) -> Entity {
        do {
            return try Entity(fields: fields)
        } catch {
            throw CacheError.invalid(cache: name, key: key, reason: "\(error)")
        }
    }

    /// Builds the change from the current entity (nil: nothing to publish), checks it
    /// unless `checked`, numbers, spools and queues it in its partition's lane, then
    /// applies it here; all under the lock of the key's part of the replica. Any refusal
    /// leaves the cache unchanged. `resulting` is the entity a whole-entity change
    /// leaves, converted beforehand.
    private func change(
        _ key: String,
        action: ContractAction,
        checked: Bool = false,
        resulting: Entity? = nil,
        _ make: (Entity?) throws(CacheError) -> (fields: JSONObject, deltas: JSONObject)?,
        published: (inout Store, DataPump.Published) -> Void = { _, _ in }
    ) throws(CacheError) {
        let exactKey = ExactKey(key)
        let shard = shard(of: key)
        do {
            let handed = try shard.store.withLock { store -> DataPump.Published? in
                let term = try ownershipTerm(for: key, in: shard, store)
                guard let (fields, deltas) = try make(store.replica.value(exactKey)) else { return nil }
                var contract = Contract(
                    name: name, version: schemaVersion, action: action, key: key, origin: pump.origin, sequence: 0,
                    baseVersion: store.replica.version(exactKey), eventTime: wallClockMilliseconds(), ownershipTerm: term,
                    incarnation: pump.incarnation, fields: fields, deltas: deltas
                )
                let effect = EntityEffect(contract)
                var converted = resulting
                do {
                    if validates && !checked { try registry.validate(contract) }
                    // The entity the change leaves must be readable here, as it will be
                    // on every peer: refused before it is published otherwise.
                    if converted == nil, let state = effect.applied(to: try store.replica.visible(exactKey)).state {
                        converted = try Entity(fields: state)
                    }
                } catch {
                    throw CacheError.invalid(cache: name, key: key, reason: "\(error)")
                }
                let handed = try pump.publish(to: shard.lane) { sequence in
                    contract.sequence = sequence
                    let encoded = try ContractCodec().encode(contract)
                    return SpoolFrame(sequence: sequence, topic: topic, key: encoded.key, value: encoded.value, headers: encoded.headers)
                }
                contract.sequence = handed.sequence
                store.replica.applyLocal(key: exactKey, effect: effect, sequence: handed.sequence, resulting: converted, published: validates ? contract : nil)
                published(&store, handed)
                return handed
            }
            // Outside the part's lock, so other changes to the partition do not wait on
            // librdkafka.
            if let handed {
                pump.send(shard.lane, handed.claim)
                metrics.changes.increment()
            }
        } catch let error as CacheError {
            throw error
        } catch DataPump.Refusal.closed {
            throw CacheError.closed(cache: name)
        } catch DataPump.Refusal.spool(let error) {
            throw CacheError.backPressure(cache: name, reason: "\(error)")
        } catch {
            throw CacheError.invalid(cache: name, key: key, reason: "\(error)")
        }
    }

    /// The ownership term a change to `key` is decided under: nil in a replicated cache;
    /// in a partitioned one the partition's current term, if this unit holds it and is
    /// not handing it over, and a refusal naming the owner otherwise.
    private func ownershipTerm(for key: String, in shard: Shard, _ store: Store) throws(CacheError) -> Int64? {
        guard configuration.mode.isPartitioned else { return nil }
        // A partition this unit does not hold names the owner its claims say; one it
        // reads again names the owner known before, and decides nothing until warm.
        let owned = store.ownership(of: shard.partition)
        guard store.holding.isHeld else {
            throw CacheError.notOwner(cache: name, key: key, partition: shard.partition, owner: owned.owner?.isSameBytes(as: pump.origin) == true ? nil : owned.owner)
        }
        guard !store.handingOff, owned.term > 0, let owner = owned.owner, owner.isSameBytes(as: pump.origin) else {
            throw CacheError.notOwner(cache: name, key: key, partition: shard.partition, owner: store.handingOff ? nil : owned.owner)
        }
        // Its own heartbeat has not come back lately: its peers may count it gone and
        // have claimed the partition, in a part of the log it has yet to read.
        guard lease.isValid() else {
            throw CacheError.notOwner(cache: name, key: key, partition: shard.partition, owner: nil)
        }
        return owned.term
    }

    // MARK: Ownership

    var cacheConfiguration: CacheConfiguration { configuration }

    var owning: (any PartitionOwning)? { configuration.mode.isPartitioned ? self : nil }

    /// Each partition's ownership as this replica has folded it from the log (as it
    /// stood before, for a partition being rebuilt).
    package var ownership: [PartitionOwnership] {
        shards.map { shard in shard.store.withLock { $0.ownership(of: shard.partition) } }
    }

    /// The partitions this unit owns by its own fold, with their terms, for its
    /// heartbeats.
    var ownedHere: [Int32: Int64] {
        var owned: [Int32: Int64] = [:]
        for shard in shards {
            shard.store.withLock { store in
                guard store.holding.isHeld, let ownership = store.replica.ownership[shard.partition],
                      ownership.owner?.isSameBytes(as: pump.origin) == true
                else { return }
                owned[shard.partition] = ownership.term
            }
        }
        return owned
    }

    /// Notes the partitions a member's heartbeat says it owns; a term above the latest
    /// known names the partition's new owner.
    func hearOwnership(_ owns: [Int32: Int64], of member: String) {
        for (partition, term) in owns where shards.indices.contains(Int(partition)) {
            shards[Int(partition)].store.withLock { store in
                if term > store.announced.term { store.announced = PartitionOwnership(term: term, owner: member) }
            }
        }
    }

    /// Whether a change to a key of `partition` would be decided here now rather than
    /// refused as `notOwner` (owner under a claim, warm, not handing over, lease valid);
    /// true in a replicated cache. The answer may change the next moment: for tests and
    /// for probes, never as a check before a change.
    package func decides(partition: Int32) -> Bool {
        guard shards.indices.contains(Int(partition)) else { return false }
        let shard = shards[Int(partition)]
        return shard.store.withLock { store in
            do {
                _ = try ownershipTerm(for: "", in: shard, store)
                return true
            } catch {
                return false
            }
        }
    }

    /// Whether the replica keeps `partition`'s entities: false only for a partition of a
    /// partitioned cache that this unit neither owns nor backs up, where only the
    /// ownership claims are folded.
    func keepsEntities(of partition: Int32) -> Bool {
        guard configuration.mode.isPartitioned, shards.indices.contains(Int(partition)) else { return true }
        return !shards[Int(partition)].entitiesDropped.load(ordering: .acquiring)
    }

    func isWarm(_ partition: Int32) -> Bool {
        guard shards.indices.contains(Int(partition)) else { return false }
        return shards[Int(partition)].store.withLock { $0.holding.isHeld }
    }

    /// Keeps the partitions `wanted` and lets the others go. A partition wanted again is
    /// rebuilt from the topic's beginning in a cache loaded from its topic (`rebuild`);
    /// in one loaded from the database it stays dropped until ``reload(_:with:)`` gets
    /// its rows from a reverse-pump answer (`reload`).
    func keep(_ wanted: Set<Int32>) -> PartitionsKept {
        guard configuration.mode.isPartitioned else { return PartitionsKept() }
        var kept = PartitionsKept()
        let fromTopic = configuration.load == .topic
        for shard in shards {
            shard.store.withLock { store in
                let owned = store.replica.ownership[shard.partition]?.owner?.isSameBytes(as: pump.origin) == true
                switch store.holding {
                case .held where !wanted.contains(shard.partition) && !owned && !store.handingOff && store.creates.isEmpty:
                    store.replica.dropEntities()
                    store.holding = .dropped
                    shard.entitiesDropped.store(true, ordering: .releasing)
                    kept.dropped.append(shard.partition)
                case .dropped where wanted.contains(shard.partition) && !fromTopic:
                    kept.reload.append(shard.partition)
                case .dropped where wanted.contains(shard.partition):
                    let reported = store.replica.ownership[shard.partition] ?? PartitionOwnership()
                    store.replica.reset()
                    store.holding = .rebuilding(reported: reported)
                    shard.entitiesDropped.store(false, ordering: .releasing)
                    kept.rebuild.append(shard.partition)
                default:
                    break
                }
            }
        }
        if !kept.dropped.isEmpty || !kept.rebuild.isEmpty {
            logger.info("\(name): keeping partitions \(wanted.sorted()); let \(kept.dropped) go, reading \(kept.rebuild) again from the beginning")
        }
        return kept
    }

    /// Takes a dropped partition up again with the rows a reverse-pump answer holds for
    /// it, as the whole replica was loaded at start: the caller then reads the partition
    /// from the offset that answer stands for and calls ``finishRebuild(_:)`` once
    /// caught up. Until then the partition decides nothing, and the routing table shows
    /// the ownership known before. False if the partition is not dropped (any more).
    func reload(_ partition: Int32, with answer: PartitionReload.Rows) -> Bool {
        guard shards.indices.contains(Int(partition)) else { return false }
        let shard = shards[Int(partition)]
        let unreadable = shard.store.withLock { store -> Int? in
            guard case .dropped = store.holding else { return nil }
            let reported = store.replica.ownership[partition] ?? PartitionOwnership()
            store.replica.reset()
            var unreadable = 0
            for row in answer.rows[partition, default: []] where store.replica.loadBase(key: row.exactKey, state: row.fields) != nil {
                unreadable += 1
            }
            store.replica.seed(sequences: answer.sequences)
            store.replica.seed(ownership: answer.ownership)
            store.holding = .rebuilding(reported: reported)
            shard.entitiesDropped.store(false, ordering: .releasing)
            return unreadable
        }
        guard let unreadable else { return false }
        if unreadable > 0 {
            logger.error("\(name): \(unreadable) rows of partition \(partition) read again from the database do not fit \(Entity.self) and are not readable here")
            metrics.rejected.increment(by: unreadable)
        }
        logger.info("\(name): partition \(partition) taken up again with \(answer.rows[partition, default: []].count) rows from the database; reading the topic after them")
        return true
    }

    /// The partition of the cache's topic that `key` belongs in.
    func partition(ofKey key: String) -> Int32 { partitioner.partition(ofKey: key) }

    /// The partition read again has caught up with the log as it stood when its reading
    /// began: it is warm, and decides again if its fold says this unit owns it.
    func finishRebuild(_ partition: Int32) {
        guard shards.indices.contains(Int(partition)) else { return }
        // A partition read again for its claims alone (it stays dropped) has nothing to
        // finish.
        let rebuilt = shards[Int(partition)].store.withLock { store in
            guard case .rebuilding = store.holding else { return false }
            store.holding = .held
            return true
        }
        if rebuilt { logger.info("\(name): partition \(partition) rebuilt from the log") }
    }

    /// Stops deciding in `partition` for a hand-over: once the partition's lane is drained,
    /// the unit's hand-off claim lands after every change it decided there. False if
    /// this unit does not own the partition (any more).
    func beginHandOff(_ partition: Int32) -> Bool {
        guard shards.indices.contains(Int(partition)) else { return false }
        let shard = shards[Int(partition)]
        return shard.store.withLock { store in
            let owned = store.replica.ownership[partition] ?? PartitionOwnership()
            guard owned.owner?.isSameBytes(as: pump.origin) == true else { return false }
            store.handingOff = true
            return true
        }
    }

    /// Calls off a hand-over whose claim has not been queued (the assignment gives the
    /// partition back to this unit), so it decides there again.
    func endHandOff(_ partition: Int32) {
        guard shards.indices.contains(Int(partition)) else { return }
        shards[Int(partition)].store.withLock { store in
            if store.handOffTerm == nil { store.handingOff = false }
        }
    }

    /// Whether everything this unit decided in `partition` is in the log.
    func isDrained(_ partition: Int32) -> Bool {
        shards.indices.contains(Int(partition)) && pump.isDrained(shards[Int(partition)].lane)
    }

    func recordOwnership(_ upkeep: OwnershipSteward.Upkeep) {
        for (claim, move) in upkeep.claims where metrics.claims[move]?.indices.contains(Int(claim.partition)) == true {
            metrics.claims[move]?[Int(claim.partition)].increment()
        }
        metrics.ownedPartitions.record(upkeep.roles.filter { $0 == .owner }.count)
        for (partition, role) in upkeep.roles.enumerated() where metrics.owner.indices.contains(partition) {
            metrics.owner[partition].record(role == .owner ? 1 : 0)
            metrics.backup[partition].record(role == .backup ? 1 : 0)
            shards[partition].store.withLock { $0.backup = role == .backup }
        }
    }

    /// Writes `claim` into its partition, behind this unit's changes there.
    func publish(_ claim: OwnershipClaim) throws {
        let shard = shards[Int(claim.partition)]
        try pump.publish(claim, to: shard.lane)
        if !claim.owner.isSameBytes(as: pump.origin) {
            shard.store.withLock { $0.handOffTerm = claim.term }
        }
    }

    /// Folds an ownership claim read from the log at `offset`. Returns why the topic's
    /// layout is not this cache's when the claim shows it: a replicated cache's topic
    /// holds claims only if the cache was partitioned before.
    @discardableResult
    package func applyClaim(_ claim: OwnershipClaim, partition: Int32, offset: Int64) -> String? {
        guard shards.indices.contains(Int(partition)) else { return nil }
        let shard = shards[Int(partition)]
        let outcome = shard.store.withLock { store -> PartitionOwnership.ClaimOutcome? in
            let outcome = store.replica.applyClaim(claim, partition: partition)
            // Whoever the partition went to, a hand-off this unit began is over.
            if case .adopted? = outcome {
                store.handingOff = false
                store.handOffTerm = nil
            }
            return outcome
        }
        switch outcome {
        case nil:
            metrics.rejected.increment()
            logger.warning("\(name): skipped the ownership claim at \(topic)[\(partition)]@\(offset): the cache is replicated, and claims belong to partitioned caches")
            return "\(topic)[\(partition)]@\(offset) holds an ownership claim: the topic was written while the cache was partitioned"
        case .adopted?:
            logger.info("\(name): partition \(partition) is now owned by \(claim.owner) (ownership term \(claim.term), \(topic)[\(partition)]@\(offset))")
        case let rejected?:
            metrics.rejected.increment()
            logger.notice("\(name): the ownership claim at \(topic)[\(partition)]@\(offset) changes nothing: \(rejected)")
        }
        if let placed = claim.partitioner, !placed.isSameBytes(as: partitioner.description) {
            logger.error("\(name): the ownership claim at \(topic)[\(partition)]@\(offset) was made by a unit placing keys by \(placed), and this unit places them by \(partitioner)")
            return "\(topic)[\(partition)]@\(offset) holds an ownership claim made while keys were placed by \(placed), not \(partitioner) as declared now (partition_key_after)"
        }
        return nil
    }

    // MARK: Replication

    /// Applies `message` if it is the echo of this unit's oldest pending change to its
    /// key (its headers name this unit as origin and that change's sequence), as the
    /// contract the replica kept of that change: the unit wrote it, and checked it
    /// against its schema before it did, so it is not decoded and checked again. Returns
    /// nil, having done nothing, for anything else, which is decoded as usual; so is
    /// every echo when this unit does not check its changes (`validatesChanges` off):
    /// then only decoding finds one a writer would refuse.
    func applyOwnEcho(_ message: KafkaMessage) -> String?? {
        guard validates, shards.indices.contains(Int(message.partition)) else { return nil }
        let echoed = message.withUnsafeRecord { key, _, headers -> (key: String, sequence: Int64)? in
            guard let sequence = ContractCodec.sequence(in: headers, ifOrigin: pump.origin),
                  let key, let text = String(validating: key, as: UTF8.self) else { return nil }
            return (text, sequence)
        }
        guard let echoed else { return nil }
        // The change is pending only in the part of the replica its key belongs to, which
        // is the partition it was published to.
        let shard = shards[Int(message.partition)]
        let echo = shard.store.withLock { store -> (Contract, CacheReplica<Entity>.Applied)? in
            guard case .held = store.holding, let contract = store.replica.echo(of: ExactKey(echoed.key), sequence: echoed.sequence) else { return nil }
            return (contract, store.replica.applyFromLog(contract, partition: message.partition, offset: message.offset))
        }
        guard let (contract, outcome) = echo else { return nil }
        return .some(applied(contract, outcome, in: shard, partition: message.partition, offset: message.offset))
    }

    /// Applies a change read from the pump at `offset`, in log order. Returns why the
    /// topic's layout is not this cache's when the change shows it (see
    /// ``ReplicaSink/apply(_:partition:offset:)``).
    @discardableResult
    package func apply(_ contract: Contract, partition: Int32, offset: Int64) -> String? {
        // Another contract's change on this topic changes nothing here, as the writers
        // dead-letter it (unexpected-contract): applied, it would change replicas alone.
        guard contract.name == name else {
            reject(offset: offset, partition: partition, error: ContractError.invalidEnvelope(member: "contract", problem: "\(contract.name) does not belong on \(topic), the topic of \(name)"))
            return nil
        }
        // A partitioned cache decides by the partition the change arrived in, where that
        // partition's claims and its origins' numbering are kept, as the writers keep
        // them: a change whose key belongs elsewhere is fenced there, and its number
        // counts there. A replicated cache keeps each entity where reads look for its key.
        let shard = configuration.mode.isPartitioned && shards.indices.contains(Int(partition)) ? shards[Int(partition)] : shard(of: contract.key)
        let applied = shard.store.withLock { store -> CacheReplica<Entity>.Applied? in
            if case .dropped = store.holding { return nil }
            return store.replica.applyFromLog(contract, partition: partition, offset: offset)
        }
        // A partition this unit does not hold: only its claims are folded.
        guard let outcome = applied else { return nil }
        return self.applied(contract, outcome, in: shard, partition: partition, offset: offset)
    }

    /// Reports what applying `contract` did, and decides a create of this unit's; returns
    /// a layout problem as ``apply(_:partition:offset:)`` does.
    private func applied(_ contract: Contract, _ outcome: CacheReplica<Entity>.Applied, in shard: Shard, partition: Int32, offset: Int64) -> String? {
        let layout = outcome.misplacedBeforeAnyClaim
            ? "\(topic)[\(partition)]@\(offset) holds a change that precedes every ownership claim there and that murmur2 over \(configuration.partitions) partitions places elsewhere: the topic was written while the cache was replicated (under librdkafka's consistent_random, unless declared otherwise)"
            : nil
        if let reason = outcome.unreadable {
            // Named by its place in the log, not its key: keys are row data.
            logger.error("\(name): the entity changed at \(topic)[\(partition)]@\(offset) by \(contract.origin) does not fit \(Entity.self) and is not readable here: \(reason)")
            metrics.rejected.increment()
        }
        if outcome.duplicate { return layout }
        if let missing = outcome.sequenceGap {
            metrics.sequenceGaps.increment()
            metrics.missingChanges.increment(by: missing.count)
            logger.error("\(name): the change at \(topic)[\(partition)]@\(offset) by \(contract.origin) is numbered \(contract.sequence), and its origin's changes \(missing.lowerBound)..<\(missing.upperBound) (\(missing.count)) are not in the log before it: they were lost on their way to the topic")
        }
        if let fenced = outcome.fenced {
            if metrics.fenced.indices.contains(Int(partition)) { metrics.fenced[Int(partition)].increment() }
            logger.notice("\(name): the change at \(topic)[\(partition)]@\(offset) by \(contract.origin) (seq \(contract.sequence)) takes no effect: \(fenced)")
            return layout
        }
        let own = contract.origin.isSameBytes(as: pump.origin)
        if own, let created = outcome.created {
            decideCreate(contract.sequence, created, in: shard)
        }
        if !own {
            metrics.replicationLag.recordMilliseconds(max(0, wallClockMilliseconds() - contract.eventTime))
        }
        if let collision = outcome.collision {
            metrics.collisions.increment()
            logger.notice("collision on \(name) at \(topic)[\(partition)]@\(offset): the change from \(contract.origin) (seq \(contract.sequence)) was made against version \(collision.baseVersion), but \(collision.winnerOrigin) changed it to version \(collision.winnerVersion) first; log order wins on every replica and in the database")
        }
        return layout
    }

    // MARK: Loading

    /// Starts (or restarts) a load: the replica holds nothing until it is done.
    func beginLoad() {
        for shard in shards {
            shard.store.withLock { $0.replica.reset() }
        }
    }

    /// Rows of a load, as their add contracts: each shard's lock is taken once for the
    /// rows it holds. Keys are distinct within an answer, so the order between shards
    /// does not matter; within one it is kept.
    func loadRows(_ contracts: [Contract]) {
        var byShard = [[Int]](repeating: [], count: shards.count)
        for index in contracts.indices {
            byShard[Int(partitioner.partition(ofKey: contracts[index].key))].append(index)
        }
        for (shard, indices) in zip(shards, byShard) where !indices.isEmpty {
            let unreadable = shard.store.withLock { store in
                var reasons: [String] = []
                for index in indices {
                    if let reason = store.replica.loadBase(key: contracts[index].exactKey, state: contracts[index].fields) { reasons.append(reason) }
                }
                return reasons
            }
            for reason in unreadable {
                logger.error("\(name): a loaded row does not fit \(Entity.self) and is not readable here: \(reason)")
                metrics.rejected.increment()
            }
        }
    }

    func finishLoad(sequences: [Int32: [ExactKey: Int64]], ownership: [Int32: PartitionOwnership]) {
        for shard in shards {
            shard.store.withLock { store in
                store.replica.seed(sequences: sequences)
                store.replica.seed(ownership: ownership)
            }
        }
    }

    /// Records how many entities this replica holds.
    func recordEntities() {
        metrics.entities.record(count)
    }

    func recordProgress(partition: Int32, readThrough offset: Int64, logEnd: Int64?) {
        guard shards.indices.contains(Int(partition)) else { return }
        let behind = logEnd.map { max(0, $0 - offset - 1) }
        shards[Int(partition)].store.withLock { $0.behind = behind }
    }

    /// A change on this cache's topic that cannot be read (it is skipped here; the
    /// writers dead-letter it).
    func reject(offset: Int64, partition: Int32, error: any Error) {
        metrics.rejected.increment()
        logger.warning("\(name): skipped the change at \(topic)[\(partition)]@\(offset): \(error)")
    }
}

import PumphouseContracts
import PumphousePipeline

/// One named cache's replica (or one partition's part of it), as plain state: what the
/// data pump says in log order (the committed state), plus this unit's own changes that
/// have not come back on the pump yet (pending), which the application already sees.
///
/// Every replica applies the same log in the same order, so committed states converge.
/// Keeping pending changes apart from the committed state is what makes that true for
/// this unit too: its own change is applied to the committed state exactly once, when
/// its echo arrives in log order, and in the meantime it is replayed on top, so a delta
/// is never counted twice and a concurrent change from a peer is never lost under it.
///
/// Each entity is stored once, as the application's own type: that is what reads return
/// without converting. Changes are effects on contract fields, so applying one converts
/// the entity to fields and back; the committed state is kept apart only while this
/// unit's changes to the entity are pending. A state that does not fit the type (a
/// peer on a newer schema, say) is kept as fields, so later changes still apply to it,
/// and reads see no entity.
struct CacheReplica<Entity: CacheEntity>: Sendable {
    /// An entity's state as held: the application's value, or fields that do not fit it.
    enum Held: Sendable, Equatable {
        case value(Entity)
        case unreadable(JSONObject)
    }

    /// What applying one change from the log did (not generic: see ``ReplicaApplied``).
    typealias Applied = ReplicaApplied
    typealias Collision = ReplicaCollision

    /// Keys and origins are identified by their bytes (``ExactKey``), as the log and
    /// the database identify them.
    let origin: ExactKey
    /// Not generic (``ReplicaLogState``), so this map runs specialised code: an entry is
    /// read and changed where it lies, never copied out through a generic witness.
    private(set) var entries: [ExactKey: ReplicaLogState] = [:]
    /// The committed state of each entity that has pending changes (nil inside: none
    /// committed yet); absent for every other entity, whose visible state is committed.
    private(set) var committed: [ExactKey: Held?] = [:]
    /// What the application reads (committed with pending applied), each entity once.
    /// Apart from `entries` so that a read is one lookup in a map of the application's
    /// own type, as cheap as a plain dictionary of entities.
    private(set) var entities: [ExactKey: Entity] = [:]
    /// Visible states that do not fit the type, kept as fields.
    private(set) var unreadable: [ExactKey: JSONObject] = [:]

    /// Entities the application can read.
    var count: Int { entities.count }
    /// The last change applied per partition and origin: the writers' rule for
    /// duplicates, so replicas and the database skip exactly the same changes, and for
    /// holes in an origin's numbering (SequenceContinuity).
    private var sequences: [Int32: [ExactKey: SequenceContinuity.Mark]] = [:]
    /// A partitioned cache's configuration (nil: replicated): where keys belong, and the
    /// name its ownership claims carry.
    let partitioning: CacheConfiguration?
    /// Each partition's ownership as the claims folded so far decide it; read only in a
    /// partitioned cache.
    private(set) var ownership: [Int32: PartitionOwnership] = [:]

    /// Whether holes in an origin's numbering are looked for: not on a compacted topic,
    /// whose older records of a key are removed (`CacheConfiguration.keepsEveryRecord`).
    let checksHoles: Bool

    init(origin: String, partitioning: CacheConfiguration? = nil, checksHoles: Bool = true) {
        self.origin = ExactKey(origin)
        self.partitioning = partitioning
        self.checksHoles = checksHoles
    }

    func value(_ key: ExactKey) -> Entity? { entities[key] }

    /// What the log has decided for `key` so far: the visible state without this unit's
    /// changes that have yet to come back from it.
    func committedValue(_ key: ExactKey) -> Entity? {
        guard let held = committed[key] else { return entities[key] }
        guard case .value(let entity)? = held else { return nil }
        return entity
    }

    /// The visible state as contract fields (converted from the entity).
    func visible(_ key: ExactKey) throws -> JSONObject? { try held(key).map(Self.fields) }

    func version(_ key: ExactKey) -> Int64 { entries[key]?.version ?? 0 }

    /// Every readable entity, in no particular order.
    var values: [Entity] { Array(entities.values) }

    // Inlined, so the callers' requests for the generic types' metadata are shared.
    @inline(__always)
    private func held(_ key: ExactKey) -> Held? {
        if let entity = entities[key] { return .value(entity) }
        return unreadable[key].map(Held.unreadable)
    }

    @inline(__always)
    private mutating func setVisible(_ key: ExactKey, _ state: Held?) {
        switch state {
        case .value(let entity)?:
            entities[key] = entity
            if !unreadable.isEmpty { unreadable[key] = nil }
        case .unreadable(let fields)?:
            entities[key] = nil
            unreadable[key] = fields
        case nil:
            entities[key] = nil
            if !unreadable.isEmpty { unreadable[key] = nil }
        }
    }

    /// Sets an entity's committed state from a load (a row the database held): the base
    /// the topic is applied on from the load's offsets. Version 0 on every replica that
    /// loaded the same answer. Returns why the row does not fit the type, if it does not.
    mutating func loadBase(key: ExactKey, state: JSONObject) -> String? {
        let (held, unreadable) = Self.hold(state)
        setVisible(key, held)
        return unreadable
    }

    /// Starts the duplicate rule where the writer stands: changes at or below these
    /// sequences are already in the loaded rows.
    mutating func seed(sequences: [Int32: [ExactKey: Int64]]) {
        for (partition, origins) in sequences {
            // The writer's ledger as the reader sends it carries no incarnation: the next
            // change of the same run is not checked for a hole, a new run's first is.
            for (origin, sequence) in origins where sequence > self.sequences[partition]?[origin]?.sequence ?? -1 {
                self.sequences[partition, default: [:]][origin] = SequenceContinuity.Mark(sequence: sequence, incarnation: nil)
            }
        }
    }

    /// Starts each partition's ownership where the loaded rows stand (the writer's fold
    /// of the claims up to its offsets), so the topic after them fences alike here.
    mutating func seed(ownership: [Int32: PartitionOwnership]) {
        for (partition, owned) in ownership where owned.term > self.ownership[partition]?.term ?? 0 {
            self.ownership[partition] = owned
        }
    }

    /// Forgets the entities and what the log said of them, and keeps the ownership
    /// folded so far: a partitioned cache's partition this unit neither owns nor backs
    /// up any more (its claims are still folded, for routing).
    mutating func dropEntities() {
        let kept = ownership
        reset()
        ownership = kept
    }

    /// Forgets everything: a load that failed half-way starts again from nothing.
    mutating func reset() {
        entries = [:]
        committed = [:]
        entities = [:]
        unreadable = [:]
        sequences = [:]
        ownership = [:]
    }

    /// Folds in an ownership claim read from `partition`. nil in a replicated cache,
    /// where a claim is a stray that changes nothing.
    mutating func applyClaim(_ claim: OwnershipClaim, partition: Int32) -> PartitionOwnership.ClaimOutcome? {
        guard let partitioning else { return nil }
        return ownership[partition, default: PartitionOwnership()].apply(claim, readFrom: partitioning.contract, partition: partition)
    }

    /// Applies this unit's own change at once. `resulting` is the entity the change
    /// leaves when the caller knows it (a whole-entity change), which saves converting;
    /// `published` is the change's contract as sent, kept for its echo (``echo(of:sequence:)``).
    /// Returns whether it was an update of a missing entity (which changes nothing and
    /// is not kept as pending), and why the new state does not fit the type, if it does
    /// not.
    @discardableResult
    mutating func applyLocal(
        key: ExactKey, effect: EntityEffect, sequence: Int64, resulting: Entity? = nil, published: Contract? = nil
    ) -> (missing: Bool, unreadable: String?) {
        let visible = held(key)
        let state: Held?
        var unreadable: String?
        if let resulting {
            state = .value(resulting)
        } else {
            let (fields, missing) = effect.applied(to: visible.map { Self.fields($0, failure: &unreadable) })
            guard !missing else { return (true, unreadable) }
            let held = Self.hold(fields)
            state = held.0
            unreadable = unreadable ?? held.unreadable
        }
        // Mutated where it lies in the dictionary: no copy of the entry out and back.
        if entries[key, default: ReplicaLogState()].recordLocal(effect, sequence: sequence, published: published) {
            committed[key] = .some(visible)
        }
        setVisible(key, state)
        return (false, unreadable)
    }

    /// The contract of this unit's oldest pending change to `key` if it is numbered
    /// `sequence` (and was kept): what the echo of that change holds, since this unit
    /// wrote it. Applying it in the echo's place spares decoding and checking again
    /// what this unit checked before it published, at every one of its changes.
    func echo(of key: ExactKey, sequence: Int64) -> Contract? {
        guard let change = entries[key]?.pending.first, change.sequence == sequence else { return nil }
        return change.published
    }

    /// Applies a change read from the pump at `offset` of `partition`, in log order.
    mutating func applyFromLog(_ contract: Contract, partition: Int32, offset: Int64) -> Applied {
        let origin = contract.exactOrigin
        var missing: Range<Int64>?
        switch contract.continuity(after: sequences[partition]?[origin], checkingHoles: checksHoles) {
        case .duplicate:
            var outcome = Applied()
            outcome.duplicate = true
            return outcome
        case .gap(let numbers):
            missing = numbers
        case .next:
            break
        }
        sequences[partition, default: [:]][origin] = contract.sequenceMark
        var outcome = applyInOrder(contract, origin: origin, partition: partition, offset: offset)
        outcome.sequenceGap = missing
        return outcome
    }

    /// Applies a change that is not a duplicate; `origin` is its origin's bytes.
    private mutating func applyInOrder(_ contract: Contract, origin: ExactKey, partition: Int32, offset: Int64) -> Applied {
        let key = contract.exactKey
        // After the duplicate rule, as the writers do: a fenced change resent is then a
        // duplicate, so it is counted once.
        if let partitioning {
            var outcome = Applied()
            if let misplaced = partitioning.misplacement(ofKey: contract.key, in: partition) {
                outcome.fenced = misplaced
                outcome.misplacedBeforeAnyClaim = ownership[partition, default: PartitionOwnership()].term == 0
            } else if let fenced = ownership[partition, default: PartitionOwnership()].fence(origin: contract.origin, term: contract.ownershipTerm) {
                outcome.fenced = "\(fenced)"
            }
            if outcome.fenced != nil {
                if origin == self.origin { withdraw(key, through: contract.sequence, unreadable: &outcome.unreadable) }
                return outcome
            }
        }
        let isOwn = origin == self.origin
        if contract.action == .update, let outcome = updateReadable(key, contract, origin: origin, offset: offset, isOwn: isOwn) {
            return outcome
        }
        return applyInGeneral(key, contract, origin: origin, offset: offset, isOwn: isOwn)
    }

    /// The common case: an update of a readable entity with none of this unit's changes
    /// pending (they keep a committed state apart). Nil if that is not the case, or if
    /// the entity's conversion throws, having changed nothing: the general way then
    /// starts from the state the map still holds. The entity is copied out of the map
    /// once, changed in its own type and moved back.
    ///
    /// Kept out of line and apart from the general way, so that it asks the runtime for
    /// the metadata of the entity's map alone: unspecialised generic code requests every
    /// type it may touch on entry, each a hash lookup. So it tells pending changes from
    /// the (non-generic) log state, never from the map of committed states, which holds
    /// an entry exactly while the log state holds pending changes.
    @inline(never)
    private mutating func updateReadable(_ key: ExactKey, _ contract: Contract, origin: ExactKey, offset: Int64, isOwn: Bool) -> Applied? {
        guard var entity = entities[key] else { return nil }
        if let index = entries.index(forKey: key), !entries.values[index].pending.isEmpty { return nil }
        guard (try? entity.apply(fields: contract.fields, deltas: contract.deltas)) != nil else { return nil }
        let step = entries[key, default: ReplicaLogState()].applyFromLog(contract, origin: origin, offset: offset, isOwn: isOwn, hasVisible: true, hasCommitted: false)
        entities[key] = entity
        return step.outcome
    }

    @inline(never)
    private mutating func applyInGeneral(_ key: ExactKey, _ contract: Contract, origin: ExactKey, offset: Int64, isOwn: Bool) -> Applied {
        let visible = held(key)
        let committedState: Held? = committed.isEmpty ? nil : committed[key] ?? nil
        let step = entries[key, default: ReplicaLogState()].applyFromLog(
            contract, origin: origin, offset: offset, isOwn: isOwn, hasVisible: visible != nil, hasCommitted: committedState != nil
        )
        return finish(key, contract, step, visible: visible, committed: committedState)
    }

    /// The entity's new visible and committed states after `step`, made from `visible`
    /// (what the application saw) or `committedState` (what the log had decided, when
    /// this unit's changes were pending).
    private mutating func finish(_ key: ExactKey, _ contract: Contract, _ step: ReplicaLogState.Step, visible: Held?, committed committedState: Held?) -> Applied {
        var outcome = step.outcome
        let base = step.hadPending ? committedState : visible
        var next = base
        if step.takesEffect && !step.confirmsOnlyPending {
            if contract.action == .update, case .value(var entity)? = base, (try? entity.apply(fields: contract.fields, deltas: contract.deltas)) != nil {
                // The common case: an update of a readable entity, in the entity's own type.
                next = .value(entity)
            } else {
                let (fields, missing) = EntityEffect(contract).applied(to: base.map { Self.fields($0, failure: &outcome.unreadable) })
                outcome.missing = missing
                // A failure to convert the base stays the reason even if the result fits.
                let (held, unreadable) = Self.hold(fields)
                next = held
                outcome.unreadable = outcome.unreadable ?? unreadable
            }
        }
        if step.isEcho {
            // What the application sees is unchanged; once none is pending it is the
            // committed state.
            if step.pending.isEmpty { committed[key] = nil } else { committed[key] = .some(next) }
            return outcome
        }
        guard !step.pending.isEmpty else {
            if step.hadPending { committed[key] = nil }
            setVisible(key, next)
            return outcome
        }
        var fields = next.map { Self.fields($0, failure: &outcome.unreadable) }
        for change in step.pending {
            fields = change.effect.applied(to: fields).state
        }
        let (state, unreadable) = Self.hold(fields)
        outcome.unreadable = outcome.unreadable ?? unreadable
        committed[key] = .some(next)
        setVisible(key, state)
        return outcome
    }

    /// Takes this unit's own changes up to `sequence` off `key` when the log fenced them:
    /// the application then sees the committed state with the changes still pending on
    /// top, as every other replica will.
    private mutating func withdraw(_ key: ExactKey, through sequence: Int64, unreadable: inout String?) {
        guard let pending = entries[key]?.withdraw(through: sequence) else { return }
        let base = committed[key] ?? nil
        guard !pending.isEmpty else {
            committed[key] = nil
            setVisible(key, base)
            return
        }
        var fields = base.map { Self.fields($0, failure: &unreadable) }
        for change in pending { fields = change.effect.applied(to: fields).state }
        let (state, failure) = Self.hold(fields)
        unreadable = unreadable ?? failure
        setVisible(key, state)
    }

    /// An entity's fields. A value made from fields gives them back; a type whose
    /// conversion throws all the same has a defect the caller must hear of (a change is
    /// refused with it).
    static func fields(_ held: Held) throws -> JSONObject {
        switch held {
        case .value(let entity): try entity.fields
        case .unreadable(let fields): fields
        }
    }

    /// `fields` where the log has decided already and nothing can be refused: should the
    /// conversion throw, the state goes on from an empty object and `failure` says so
    /// (the unit logs it and counts the state as rejected, never silently).
    static func fields(_ held: Held, failure: inout String?) -> JSONObject {
        do {
            return try fields(held)
        } catch {
            failure = failure ?? "\(Entity.self) could not give its fields back (\(error)), so its state here went on from an empty object"
            return JSONObject()
        }
    }

    /// Fields as held: the entity, or the fields themselves with the reason they do not
    /// fit it.
    static func hold(_ fields: JSONObject) -> (Held, unreadable: String?) {
        do {
            return (.value(try Entity(fields: fields)), nil)
        } catch {
            return (.unreadable(fields), "\(error)")
        }
    }

    static func hold(_ fields: JSONObject?) -> (Held?, unreadable: String?) {
        guard let fields else { return (nil, nil) }
        let (held, unreadable) = hold(fields)
        return (held, unreadable)
    }
}

/// What applying one change from the log did. Apart from the generic replica, whose
/// nested types would each be generic too: unspecialised code (the replica is generic
/// over the application's entity, compiled in this module) asks the runtime for a
/// generic type's metadata at every use, a hash lookup each time.
struct ReplicaApplied: Sendable, Equatable {
    /// The change was made against a version that a peer has changed since. Log order
    /// wins; the caller counts and logs it.
    var collision: ReplicaCollision?
    /// An update of an entity that does not exist (it changed nothing).
    var missing = false
    /// The change repeats an (origin, sequence) already applied from this partition:
    /// a resend after a producer was replaced. Skipped, as the writers skip it.
    var duplicate = false
    /// A create: whether it made the entity (true) or found one and changed nothing.
    var created: Bool?
    /// Why the entity's new state does not fit the Swift type, if it does not: the
    /// replica keeps it as fields and reads see no entity.
    var unreadable: String?
    /// Why the change takes no effect in a partitioned cache (a deposed owner's, one
    /// in the wrong partition): skipped here, as every consumer skips it, and
    /// dead-lettered by the writers. This unit's own fenced change leaves its state.
    var fenced: String?
    /// The change is in the wrong partition for this partitioned cache, and no claim
    /// has been folded in that partition yet: written before the cache was
    /// partitioned (under another partitioner), not by a stray producer.
    var misplacedBeforeAnyClaim = false
    /// Numbers of the change's origin and run that came before it and are not in the
    /// log (see `SequenceContinuity`): changes lost before they reached the topic.
    var sequenceGap: Range<Int64>?
}

struct ReplicaCollision: Sendable, Equatable {
    var baseVersion: Int64
    /// The peer that changed the entity after `baseVersion`.
    var winnerOrigin: ExactKey
    var winnerVersion: Int64
}

import DequeModule
import PumphouseContracts

/// One named cache's replica, as plain state: what the data pump says in log order (the
/// committed state), plus this unit's own changes that have not come back on the pump
/// yet (pending), which the application already sees.
///
/// Every replica applies the same log in the same order, so committed states converge.
/// Keeping pending changes apart from the committed state is what makes that true for
/// this unit too: its own change is applied to the committed state exactly once, when
/// its echo arrives in log order, and in the meantime it is replayed on top, so a delta
/// is never counted twice and a concurrent change from a peer is never lost under it.
struct CacheReplica: Sendable {
    struct Entry: Sendable {
        var committed: JSONObject?
        /// The entity version: offset + 1 of the last change applied from the log (0: none).
        /// Equal on every replica, so a change can name the version it was made against.
        var version: Int64 = 0
        /// The origin of the last applied change, and the offset of the latest change by
        /// any other origin: enough to tell whether a peer changed the entity after a
        /// given version.
        var lastOrigin: ExactKey?
        var latestOther: (origin: ExactKey, offset: Int64)?
        /// This unit's changes not yet seen on the pump, in sequence order; each echo
        /// takes the oldest off the front.
        var pending: Deque<(sequence: Int64, effect: EntityEffect)> = []
        /// `committed` with `pending` applied: what the application reads.
        var visible: JSONObject?
    }

    /// What applying one change from the log did.
    struct Applied: Sendable, Equatable {
        /// The change was made against a version that a peer has changed since. Log order
        /// wins; the caller counts and logs it.
        var collision: Collision?
        /// An update of an entity that does not exist (it changed nothing).
        var missing = false
        /// The visible state changed.
        var visibleChanged = false
        /// The change repeats an (origin, sequence) already applied from this partition:
        /// a resend after a producer was replaced. Skipped, as the writers skip it.
        var duplicate = false
        /// A create: whether it made the entity (true) or found one and changed nothing.
        var created: Bool?
    }

    struct Collision: Sendable, Equatable {
        var baseVersion: Int64
        /// The peer that changed the entity after `baseVersion`.
        var winnerOrigin: ExactKey
        var winnerVersion: Int64
    }

    /// Keys and origins are identified by their bytes (``ExactKey``), as the log and
    /// the database identify them.
    let origin: ExactKey
    private(set) var entries: [ExactKey: Entry] = [:]
    private(set) var count = 0
    /// The highest sequence applied per partition and origin: the writers' rule for
    /// duplicates, so replicas and the database skip exactly the same changes.
    private var sequences: [Int32: [ExactKey: Int64]] = [:]

    init(origin: String) {
        self.origin = ExactKey(origin)
    }

    func visible(_ key: ExactKey) -> JSONObject? { entries[key]?.visible }

    func version(_ key: ExactKey) -> Int64 { entries[key]?.version ?? 0 }

    /// Sets an entity's committed state from a load (a row the database held): the base
    /// the topic is applied on from the load's offsets. Version 0 on every replica that
    /// loaded the same answer.
    mutating func loadBase(key: ExactKey, state: JSONObject) {
        count += entries[key, default: Entry()].loadBase(state)
    }

    /// Starts the duplicate rule where the writer stands: changes at or below these
    /// sequences are already in the loaded rows.
    mutating func seed(sequences: [Int32: [ExactKey: Int64]]) {
        for (partition, origins) in sequences {
            for (origin, sequence) in origins where sequence > self.sequences[partition]?[origin] ?? -1 {
                self.sequences[partition, default: [:]][origin] = sequence
            }
        }
    }

    /// Forgets everything: a load that failed half-way starts again from nothing.
    mutating func reset() {
        entries = [:]
        count = 0
        sequences = [:]
    }

    /// Applies this unit's own change at once; returns whether it was an update of a
    /// missing entity (which changes nothing and is not kept as pending).
    @discardableResult
    mutating func applyLocal(key: ExactKey, effect: EntityEffect, sequence: Int64) -> Bool {
        // Mutated where it lies in the dictionary: no copy of the entry out and back.
        let (missing, counted) = entries[key, default: Entry()].applyLocal(effect, sequence: sequence)
        count += counted
        return missing
    }

    /// Applies a change read from the pump at `offset` of `partition`, in log order.
    mutating func applyFromLog(_ contract: Contract, partition: Int32, offset: Int64) -> Applied {
        let origin = contract.exactOrigin
        guard contract.sequence > sequences[partition]?[origin] ?? -1 else {
            var outcome = Applied()
            outcome.duplicate = true
            return outcome
        }
        sequences[partition, default: [:]][origin] = contract.sequence
        let (outcome, counted) = entries[contract.exactKey, default: Entry()].applyFromLog(
            contract, origin: origin, offset: offset, isOwn: origin == self.origin
        )
        count += counted
        return outcome
    }
}

extension CacheReplica.Entry {
    /// `applyLocal` on the entry; also returns the change in visible entities (-1, 0, 1).
    mutating func applyLocal(_ effect: EntityEffect, sequence: Int64) -> (missing: Bool, counted: Int) {
        let (state, missing) = effect.applied(to: visible)
        guard !missing else { return (true, 0) }
        pending.append((sequence, effect))
        return (false, setVisible(state))
    }

    /// `applyFromLog` on the entry, with the duplicate rule already passed.
    mutating func applyFromLog(_ contract: Contract, origin: ExactKey, offset: Int64, isOwn: Bool) -> (CacheReplica.Applied, counted: Int) {
        var outcome = CacheReplica.Applied()
        let effect = EntityEffect(contract)
        let isDeltaOnly = contract.action == .update && contract.fields.isEmpty
        if contract.action == .create && committed != nil {
            // A lost create changes nothing, not even the entity's version: the log
            // decided, and no collision is counted.
            outcome.created = false
        } else {
            if contract.action == .create {
                outcome.created = true
            } else if !isDeltaOnly, let foreign = lastOrigin.flatMap({ $0 != origin ? ($0, version - 1) : nil }) ?? latestOther,
                      foreign.offset + 1 > (contract.baseVersion ?? 0) {
                // The latest change by an origin other than this change's came after the
                // version this change was made against.
                outcome.collision = CacheReplica.Collision(baseVersion: contract.baseVersion ?? 0, winnerOrigin: foreign.origin, winnerVersion: foreign.offset + 1)
            }
            let (state, missing) = effect.applied(to: committed)
            outcome.missing = missing
            committed = state
            if let last = lastOrigin, last != origin { latestOther = (last, version - 1) }
            lastOrigin = origin
            version = offset + 1
        }
        if isOwn, pending.first?.sequence == contract.sequence {
            // The echo of the oldest pending change: the log applied to the committed state
            // what the replica had applied on top of it, with the same effect, so the
            // visible state (committed with the pending changes) is what it was. O(1).
            pending.removeFirst()
            return (outcome, 0)
        }
        if isOwn {
            // An echo out of step with the pending changes (a resend after a restart, say).
            while let first = pending.first, first.sequence <= contract.sequence { pending.removeFirst() }
        }
        var state = committed
        for change in pending {
            state = change.effect.applied(to: state).state
        }
        outcome.visibleChanged = state != visible
        return (outcome, setVisible(state))
    }

    /// A loaded row as the committed state; returns the change in visible entities.
    mutating func loadBase(_ state: JSONObject) -> Int {
        committed = state
        return setVisible(state)
    }

    /// Sets what the application reads; returns the change in visible entities.
    private mutating func setVisible(_ state: JSONObject?) -> Int {
        let counted = visible == nil && state != nil ? 1 : visible != nil && state == nil ? -1 : 0
        visible = state
        return counted
    }
}

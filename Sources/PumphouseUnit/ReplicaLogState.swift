import DequeModule
import PumphouseContracts

/// What the log says of one entity beside its state in a ``CacheReplica``, and this
/// unit's changes to it still on their way round the pump.
///
/// It does not depend on the entity's type, so it is declared outside the generic
/// replica: a map of these compiles to specialised code even where the replica's own
/// code stays generic, and an entry is read and changed in place.
struct ReplicaLogState: Sendable {
    /// The entity version: offset + 1 of the last change applied from the log (0: none).
    /// Equal on every replica, so a change can name the version it was made against.
    var version: Int64 = 0
    /// The origin of the last applied change, and the offset of the latest change by any
    /// other origin: enough to tell whether a peer changed the entity after a given
    /// version.
    var lastOrigin: ExactKey?
    var latestOther: (origin: ExactKey, offset: Int64)?
    /// This unit's changes not yet seen on the pump, in sequence order; each echo takes
    /// the oldest off the front.
    var pending: Deque<(sequence: Int64, effect: EntityEffect)> = []

    /// Keeps an own change as pending. True when it is the only one: the caller then
    /// keeps the state it was made on as the committed state.
    mutating func recordLocal(_ effect: EntityEffect, sequence: Int64) -> Bool {
        pending.append((sequence, effect))
        return pending.count == 1
    }

    /// Takes the pending changes up to `sequence` off (the log fenced them); nil if none
    /// was pending, the changes that remain otherwise.
    mutating func withdraw(through sequence: Int64) -> Deque<(sequence: Int64, effect: EntityEffect)>? {
        guard let first = pending.first, first.sequence <= sequence else { return nil }
        while let first = pending.first, first.sequence <= sequence { pending.removeFirst() }
        return pending
    }

    /// What one change from the log did: its outcome, the visible state and the
    /// committed state kept beside pending changes.
    struct Step<Entity: CacheEntity> {
        typealias Held = CacheReplica<Entity>.Held
        var outcome: CacheReplica<Entity>.Applied
        var visible: VisibleChange
        var committed: CommittedChange

        enum VisibleChange {
            case unchanged
            case set(Held?)
        }

        enum CommittedChange {
            case unchanged
            /// Pending changes remain on top of this committed state.
            case keep(Held?)
            /// None remain: the visible state is the committed one.
            case drop
        }
    }

    /// Applies a change from the log (the duplicate rule already passed). `committed` is
    /// the entity's committed state when changes of this unit are pending; `visible`
    /// what the application sees.
    mutating func applyFromLog<Entity: CacheEntity>(
        _ contract: Contract, origin: ExactKey, offset: Int64, isOwn: Bool, visible: CacheReplica<Entity>.Held?, committed: CacheReplica<Entity>.Held?
    ) -> Step<Entity> {
        typealias Replica = CacheReplica<Entity>
        var outcome = Replica.Applied()
        let hadPending = !pending.isEmpty
        let isEcho = isOwn && pending.first?.sequence == contract.sequence
        let base = hadPending ? committed : visible
        var next = base
        let isDeltaOnly = contract.action == .update && contract.fields.isEmpty
        if contract.action == .create && base != nil {
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
                outcome.collision = Replica.Collision(baseVersion: contract.baseVersion ?? 0, winnerOrigin: foreign.origin, winnerVersion: foreign.offset + 1)
            }
            if isEcho && pending.count == 1 {
                // The echo of the only pending change: the log applies to the committed
                // state what the replica applied on top of it, with the same effect, so
                // the result is what the application sees already. Nothing to convert.
                outcome.missing = contract.action == .update && base == nil
            } else if contract.action == .update, case .value(var entity)? = base, (try? entity.apply(fields: contract.fields, deltas: contract.deltas)) != nil {
                // The common case: an update of a readable entity, in the entity's own type.
                next = .value(entity)
            } else {
                let (fields, missing) = EntityEffect(contract).applied(to: base.map { Replica.fields($0, failure: &outcome.unreadable) })
                outcome.missing = missing
                // A failure to convert the base stays the reason even if the result fits.
                let (held, unreadable) = Replica.hold(fields)
                next = held
                outcome.unreadable = outcome.unreadable ?? unreadable
            }
            if let last = lastOrigin, last != origin { latestOther = (last, version - 1) }
            lastOrigin = origin
            version = offset + 1
        }
        if isEcho {
            // The oldest pending change came back: O(1), and once none is pending the
            // visible state is the committed one.
            pending.removeFirst()
            return Step(outcome: outcome, visible: .unchanged, committed: pending.isEmpty ? .drop : .keep(next))
        }
        if isOwn {
            // An echo out of step with the pending changes (a resend after a restart, say).
            while let first = pending.first, first.sequence <= contract.sequence { pending.removeFirst() }
        }
        guard !pending.isEmpty else {
            return Step(outcome: outcome, visible: .set(next), committed: hadPending ? .drop : .unchanged)
        }
        var fields = next.map { Replica.fields($0, failure: &outcome.unreadable) }
        for change in pending {
            fields = change.effect.applied(to: fields).state
        }
        let (state, unreadable) = Replica.hold(fields)
        outcome.unreadable = outcome.unreadable ?? unreadable
        return Step(outcome: outcome, visible: .set(state), committed: .keep(next))
    }
}

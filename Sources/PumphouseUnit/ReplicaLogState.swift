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
    var pending: Deque<PendingChange> = []

    /// One of this unit's changes on its way round the pump.
    struct PendingChange: Sendable {
        var sequence: Int64
        var effect: EntityEffect
        /// The change's contract as published, when the caller gave it: its echo is then
        /// applied as this contract, not decoded and checked again (``CacheReplica/echo(of:sequence:)``).
        var published: Contract?
    }

    /// Keeps an own change as pending. True when it is the only one: the caller then
    /// keeps the state it was made on as the committed state.
    mutating func recordLocal(_ effect: EntityEffect, sequence: Int64, published: Contract?) -> Bool {
        pending.append(PendingChange(sequence: sequence, effect: effect, published: published))
        return pending.count == 1
    }

    /// Takes the pending changes up to `sequence` off (the log fenced them); nil if none
    /// was pending, the changes that remain otherwise.
    mutating func withdraw(through sequence: Int64) -> Deque<PendingChange>? {
        guard let first = pending.first, first.sequence <= sequence else { return nil }
        while let first = pending.first, first.sequence <= sequence { pending.removeFirst() }
        return pending
    }

    /// What the log's bookkeeping says of one change, before any entity is touched: the
    /// replica then makes the entity's new state from it. Not generic, so that applying
    /// a change asks the runtime for no generic type's metadata here.
    struct Step {
        var outcome: ReplicaApplied
        /// Whether the change applies to the entity (false: a create that lost).
        var takesEffect: Bool
        /// The echo of the only pending change: the log applies to the committed state
        /// what the replica applied on top of it, with the same effect, so the result is
        /// what the application sees already. Nothing to convert.
        var confirmsOnlyPending: Bool
        /// The echo of the oldest pending change.
        var isEcho: Bool
        /// Whether changes of this unit were pending before this one: the change then
        /// applies to the committed state, not the visible one.
        var hadPending: Bool
        /// This unit's changes still pending after this one, to replay on top.
        var pending: Deque<PendingChange>
    }

    /// Records a change from the log (the duplicate rule already passed): collisions,
    /// the entity's version, and this unit's pending changes it confirms. `hasVisible`
    /// and `hasCommitted` say whether the entity exists as the application sees it and
    /// as the log has decided it, so a create can be decided here.
    mutating func applyFromLog(_ contract: Contract, origin: ExactKey, offset: Int64, isOwn: Bool, hasVisible: Bool, hasCommitted: Bool) -> Step {
        var outcome = ReplicaApplied()
        let hadPending = !pending.isEmpty
        let isEcho = isOwn && pending.first?.sequence == contract.sequence
        let hasBase = hadPending ? hasCommitted : hasVisible
        let isDeltaOnly = contract.action == .update && contract.fields.isEmpty
        var takesEffect = true
        var confirmsOnlyPending = false
        if contract.action == .create && hasBase {
            // A lost create changes nothing, not even the entity's version: the log
            // decided, and no collision is counted.
            outcome.created = false
            takesEffect = false
        } else {
            if contract.action == .create {
                outcome.created = true
            } else if !isDeltaOnly, let foreign = lastOrigin.flatMap({ $0 != origin ? ($0, version - 1) : nil }) ?? latestOther,
                      foreign.offset + 1 > (contract.baseVersion ?? 0) {
                // The latest change by an origin other than this change's came after the
                // version this change was made against.
                outcome.collision = ReplicaCollision(baseVersion: contract.baseVersion ?? 0, winnerOrigin: foreign.origin, winnerVersion: foreign.offset + 1)
            }
            if isEcho && pending.count == 1 {
                confirmsOnlyPending = true
                outcome.missing = contract.action == .update && !hasBase
            }
            if let last = lastOrigin, last != origin { latestOther = (last, version - 1) }
            lastOrigin = origin
            version = offset + 1
        }
        if isEcho {
            // The oldest pending change came back: O(1).
            pending.removeFirst()
        } else if isOwn {
            // An echo out of step with the pending changes (a resend after a restart, say).
            while let first = pending.first, first.sequence <= contract.sequence { pending.removeFirst() }
        }
        return Step(
            outcome: outcome, takesEffect: takesEffect, confirmsOnlyPending: confirmsOnlyPending, isEcho: isEcho, hadPending: hadPending, pending: pending
        )
    }
}

/// One partition's ownership as its log has decided it so far: the fold of its
/// `OwnershipClaim`s in log order, and the rule that says whether a change takes effect.
///
/// Every consumer of a partitioned cache applies the same fold to the same log, so they
/// all discard the same changes: a change counts only if it carries the term of the
/// latest claim and comes from the unit that made it. Consumers that start in the middle
/// of the log (a writer from its committed offsets, a unit from a snapshot) start from
/// the ownership stored with those offsets, never from nothing.
package struct PartitionOwnership: Sendable, Hashable {
    /// 0 before any claim.
    package private(set) var term: Int64
    /// The unit that made the latest claim; nil before any.
    package private(set) var owner: String?

    package init() {
        term = 0
        owner = nil
    }

    /// Owners are told apart by their bytes, as everywhere a unit id is an identity.
    package static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.term == rhs.term && lhs.owner.map { ExactKey($0) } == rhs.owner.map { ExactKey($0) }
    }

    package func hash(into hasher: inout Hasher) {
        hasher.combine(term)
        hasher.combine(owner.map { ExactKey($0) })
    }

    /// As stored beside a position in the log.
    package init(term: Int64, owner: String?) {
        self.term = term
        self.owner = term > 0 ? owner : nil
    }

    package enum ClaimOutcome: Sendable, Hashable, CustomStringConvertible {
        /// The claim is the partition's new ownership.
        case adopted(previous: PartitionOwnership)
        /// The claim's term is not above the one in effect (it lost a race to another
        /// claim, or it is a replay of an old one): it changes nothing.
        case stale(current: Int64)
        /// The claim names another cache or partition than the one it was read from: it
        /// changes nothing (a claim only speaks for the partition that carries it).
        case misplaced

        /// The dead-letter reason of a claim that changes nothing; nil for an adopted one.
        package var rejection: String? {
            switch self {
            case .adopted: nil
            case .stale: "stale-claim"
            case .misplaced: "misplaced-claim"
            }
        }

        package var description: String {
            switch self {
            case .adopted(let previous): "adopted (the partition's previous ownership term was \(previous.term))"
            case .stale(let current): "stale: the partition's latest claim is already ownership term \(current); a claim must name a higher term"
            case .misplaced: "misplaced: a claim must be in the partition of the cache it names"
            }
        }
    }

    /// Folds in a claim read from `partition` of `cache`'s topic.
    package mutating func apply(_ claim: OwnershipClaim, readFrom cache: ContractName, partition: Int32) -> ClaimOutcome {
        guard claim.cache == cache, claim.partition == partition else { return .misplaced }
        guard claim.term > term else { return .stale(current: term) }
        let previous = self
        term = claim.term
        owner = claim.owner
        return .adopted(previous: previous)
    }

    /// Why a change does not take effect.
    package enum Fenced: Sendable, Hashable, CustomStringConvertible {
        /// Decided under a term that is no longer (or never was) the latest claim: a
        /// deposed owner's change, or one resent from its spool after a new claim.
        case term(change: Int64, current: Int64)
        /// Carries the current term but comes from another unit than the one that
        /// claimed it (two units claimed the same term; only the first claim counts).
        case origin(claimedBy: String)
        /// Carries no term in a partition that has an owner: made outside the ownership
        /// protocol (a unit running the cache as replicated, or another producer).
        case unowned(current: Int64)

        package var description: String {
            switch self {
            case .term(let change, let current): "fenced: decided under ownership term \(change), but the partition's latest claim is term \(current)"
            case .origin(let owner): "fenced: the partition's ownership term was claimed by \(owner), not by this change's origin"
            case .unowned(let current): "fenced: the change carries no ownership term, but the partition is owned (term \(current)); only its owner's changes take effect"
            }
        }
    }

    /// nil if the change takes effect; why not otherwise. Before any claim every change
    /// counts except one that names a term (no claim established it).
    package func fence(origin: String, term changeTerm: Int64?) -> Fenced? {
        guard let changeTerm else { return term == 0 ? nil : .unowned(current: term) }
        guard changeTerm == term else { return .term(change: changeTerm, current: term) }
        guard let owner, owner.isSameBytes(as: origin) else { return .origin(claimedBy: owner ?? "") }
        return nil
    }
}

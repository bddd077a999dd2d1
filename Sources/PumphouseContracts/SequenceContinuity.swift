/// Whether an origin's changes in one partition arrive without a hole in their sequence.
///
/// A processing unit numbers each partition's changes contiguously within a run and
/// starts every run at a number above all earlier ones (its `incarnation`, carried in
/// each contract). So, in one partition, a change of the run last seen must be the next
/// number, and the first change seen of a newer run must be that run's first number:
/// anything higher means changes that the origin published, or meant to, are not in the
/// log. Duplicates (a resent spool, a retried publish) are anything at or below the last
/// number seen, as before.
///
/// What cannot be judged is let through: a contract without an incarnation (producers
/// that number their own way are only checked for duplicates), the first change of an
/// origin a consumer sees (it may have started reading mid-run), and a run's tail (a run
/// that stops early leaves no trace the next one can check).
package enum SequenceContinuity {
    /// The last change seen of one origin in one partition.
    package struct Mark: Sendable, Hashable {
        package var sequence: Int64
        /// The run the change came from; nil if its contract carried none.
        package var incarnation: Int64?

        package init(sequence: Int64, incarnation: Int64?) {
            self.sequence = sequence
            self.incarnation = incarnation
        }
    }

    package enum Verdict: Sendable, Hashable {
        /// Not seen before: apply it and make it the mark.
        case next
        /// At or below the mark: seen before.
        case duplicate
        /// Not seen before, but the numbers in `missing` (of the change's run) came
        /// before it and are not in the log: apply it, make it the mark, and report them.
        case gap(missing: Range<Int64>)
    }

    /// Judges a change numbered `sequence` of run `incarnation` after `mark` (nil: the
    /// origin's first change seen in the partition). Without `checkingHoles` (a compacted
    /// topic, where older records of a key are removed and holes are expected) only
    /// duplicates are told apart.
    package static func judge(sequence: Int64, incarnation: Int64?, after mark: Mark?, checkingHoles: Bool = true) -> Verdict {
        guard let mark else { return .next }
        guard sequence > mark.sequence else { return .duplicate }
        guard checkingHoles, let incarnation else { return .next }
        if incarnation == mark.incarnation {
            return sequence == mark.sequence + 1 ? .next : .gap(missing: mark.sequence + 1..<sequence)
        }
        // A run that began above everything seen is a new one, and must begin at its
        // first number. One that began at or below the mark while the mark names another
        // run (or none) cannot be placed: a mixed stream, or a mark kept from before
        // incarnations existed.
        guard incarnation > mark.sequence else { return .next }
        return sequence == incarnation ? .next : .gap(missing: incarnation..<sequence)
    }
}

extension Contract {
    /// This contract's place in its origin's numbering, after `mark`.
    package func continuity(after mark: SequenceContinuity.Mark?, checkingHoles: Bool = true) -> SequenceContinuity.Verdict {
        SequenceContinuity.judge(sequence: sequence, incarnation: incarnation, after: mark, checkingHoles: checkingHoles)
    }

    /// The mark this contract leaves once applied.
    package var sequenceMark: SequenceContinuity.Mark { SequenceContinuity.Mark(sequence: sequence, incarnation: incarnation) }
}

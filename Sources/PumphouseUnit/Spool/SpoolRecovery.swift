import Logging

/// What a spool directory holds at open, every record checked.
struct SpoolRecovery {
    /// The contiguous acknowledged mark last persisted.
    let acknowledgedMark: Int64
    /// The records above the mark, in sequence order: the caller must resend them.
    let records: [SpoolRecord]
    /// The segments kept on disk (each holds records above the mark), oldest first.
    let segments: [SpoolSegment]
    let lastSequence: Int64

    /// Reads the directory, deleting what is entirely acknowledged and truncating a torn
    /// tail of the newest segment.
    ///
    /// Only the newest segment can end in a torn record: the spool fsyncs a segment
    /// before it creates the next one, so an older segment is complete, and damage in it
    /// (or anywhere but the end of the newest) is corruption and throws.
    init(directory: SpoolDirectory, logger: Logger) throws(SpoolError) {
        try directory.removeInterruptedWrites()
        let mark = try directory.readAcknowledged()
        let firstSequences = try directory.segmentSequences()
        var records: [SpoolRecord] = []
        var segments: [SpoolSegment] = []
        var previous: Int64 = 0
        for (index, first) in firstSequences.enumerated() {
            let isNewest = index == firstSequences.count - 1
            if !isNewest, firstSequences[index + 1] - 1 <= mark {
                // Wholly acknowledged (the next segment starts at or below mark + 1): left
                // unread, since none of it will be sent again and damage in it must not
                // keep the unit from starting.
                try directory.removeSegment(first)
                continue
            }
            let bytes = try directory.readSegment(first)
            let scan = SpoolSegmentFormat.scan(bytes, firstSequence: first, previousSequence: previous)
            if let damage = scan.damage {
                let path = directory.segmentPath(first)
                guard isNewest, damage.mayBeTornWrite else {
                    throw .corrupt(path: path, offset: Int64(damage.offset), reason: damage.reason)
                }
                logger.warning(
                    "spool: truncating a torn write at the end of the newest segment (the process or the machine stopped mid-write); the records before it are kept",
                    metadata: [
                        "path": "\(path)",
                        "offset": "\(damage.offset)",
                        "discardedBytes": "\(bytes.count - scan.validBytes)",
                        "reason": "\(damage.reason)",
                    ]
                )
                try directory.truncateSegment(first, to: scan.validBytes)
            }
            guard let last = scan.records.last?.sequence else {
                // Created just before a crash, nothing in it yet.
                try directory.removeSegment(first)
                continue
            }
            previous = last
            guard last > mark else {
                try directory.removeSegment(first)
                continue
            }
            records += scan.records.lazy.filter { $0.sequence > mark }
            segments.append(SpoolSegment(firstSequence: first, lastSequence: last))
        }
        self.acknowledgedMark = mark
        self.records = records
        self.segments = segments
        self.lastSequence = max(mark, previous)
    }
}

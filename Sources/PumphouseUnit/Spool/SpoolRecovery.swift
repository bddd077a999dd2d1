import Logging

/// What a spool directory holds at open, every record checked.
struct SpoolRecovery {
    /// The contiguous acknowledged mark last persisted.
    let acknowledgedMark: Int64
    /// The records above the mark, in number order: the caller must resend them.
    let records: [SpooledRecord]
    /// The segments kept on disk (each holds records above the mark), oldest first.
    let segments: [SpoolSegment]
    /// The last record number on disk or acknowledged: numbering goes on after it.
    let lastNumber: Int64
    /// The highest change sequence on disk or persisted with the mark.
    let highestSequence: Int64

    /// Reads the directory, deleting what is entirely acknowledged and truncating a torn
    /// tail of the newest segment.
    ///
    /// Only the newest segment can end in a torn record: the spool fsyncs a segment
    /// before it creates the next one, so an older segment is complete, and damage in it
    /// (or anywhere but the end of the newest) is corruption and throws.
    init(directory: SpoolDirectory, logger: Logger) throws(SpoolError) {
        try directory.removeInterruptedWrites()
        let (mark, persistedHighest) = try directory.readAcknowledged()
        let firstNumbers = try directory.segmentNumbers()
        var records: [SpooledRecord] = []
        var segments: [SpoolSegment] = []
        var lastNumber = mark
        var previousLast: Int64 = 0
        var highestSequence = persistedHighest
        for (index, first) in firstNumbers.enumerated() {
            let isNewest = index == firstNumbers.count - 1
            if !isNewest, firstNumbers[index + 1] - 1 <= mark {
                // Wholly acknowledged (the next segment starts at or below mark + 1): left
                // unread, since none of it will be sent again and damage in it must not
                // keep the unit from starting.
                try directory.removeSegment(first)
                continue
            }
            let bytes = try directory.readSegment(first)
            let scan = SpoolSegmentFormat.scan(bytes, firstNumber: first)
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
            guard let last = scan.records.last?.number else {
                // Created just before a crash, nothing in it yet.
                try directory.removeSegment(first)
                continue
            }
            guard first > previousLast else {
                throw .corrupt(path: directory.segmentPath(first), offset: 0, reason: "its name says its records start at \(first), within the segment before it (up to \(previousLast))")
            }
            guard last < SpoolSegmentFormat.numberLimit else {
                throw .corrupt(path: directory.segmentPath(first), offset: 0, reason: "its records run to number \(last), beyond the spool's numbering (below \(SpoolSegmentFormat.numberLimit))")
            }
            previousLast = last
            lastNumber = max(lastNumber, last)
            highestSequence = scan.records.reduce(highestSequence) { max($0, $1.record.sequence) }
            guard last > mark else {
                try directory.removeSegment(first)
                continue
            }
            if scan.damage == nil { try directory.syncSegment(first) }
            records += scan.records.lazy.filter { $0.number > mark }
            segments.append(SpoolSegment(firstNumber: first, lastNumber: last))
        }
        self.acknowledgedMark = mark
        self.records = records
        self.segments = segments
        self.lastNumber = lastNumber
        self.highestSequence = highestSequence
    }
}

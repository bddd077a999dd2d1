/// Turns acknowledgements that arrive in any order into one contiguous mark: the highest
/// record number at or below which every spooled record is acknowledged.
///
/// Only a contiguous mark can be persisted as one number and can decide that a segment
/// may be deleted: the broker acknowledges partitions independently, so record 9 may be
/// confirmed while 7 is still in flight, and 7 must survive a crash.
struct AcknowledgementTracker: Sendable {
    private(set) var mark: Int64
    /// Bytes of the records above the mark. A record acknowledged ahead of an older one
    /// still counts: it stays in its segment on disk until the mark passes it.
    private(set) var pendingBytes = 0
    /// Records above the mark, in number order, from `head` on. A consumed prefix is
    /// dropped only now and then, so advancing the mark is O(1) amortised.
    private var outstanding: [(number: Int64, bytes: Int)] = []
    private var head = 0
    /// Acknowledged numbers above the mark, waiting for the ones before them.
    private var acknowledgedAhead: Set<Int64> = []

    init(mark: Int64) {
        self.mark = mark
    }

    var pendingRecords: Int { outstanding.count - head }

    /// Records a spooled record; numbers arrive in increasing order.
    mutating func add(number: Int64, bytes: Int) {
        outstanding.append((number, bytes))
        pendingBytes += bytes
    }

    /// Returns whether the mark advanced. Numbers at or below the mark (repeats) and
    /// numbers never spooled are ignored.
    mutating func acknowledge(_ number: Int64) -> Bool {
        guard number > mark, isOutstanding(number) else { return false }
        acknowledgedAhead.insert(number)
        let before = head
        while head < outstanding.count, acknowledgedAhead.remove(outstanding[head].number) != nil {
            mark = outstanding[head].number
            pendingBytes -= outstanding[head].bytes
            head += 1
        }
        let advanced = head != before
        if head > 4096, head * 2 > outstanding.count {
            outstanding.removeFirst(head)
            head = 0
        }
        return advanced
    }

    private func isOutstanding(_ number: Int64) -> Bool {
        var low = head
        var high = outstanding.count
        while low < high {
            let middle = (low + high) / 2
            if outstanding[middle].number < number { low = middle + 1 } else { high = middle }
        }
        return low < outstanding.count && outstanding[low].number == number
    }
}

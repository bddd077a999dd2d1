import DequeModule

/// Pairs the changes read from a topic with the writer's ledger, to find when each was
/// committed. A stream is one origin's changes in one partition: they reach the
/// partition, and the writer applies them, in sequence order, so the ledger's highest
/// applied sequence per stream says which of them are committed.
struct CommitMatcher {
    struct Stream: Hashable {
        var origin: String
        var partition: Int32
    }

    /// What became of a change read from the topic.
    enum Reading: Equatable {
        /// Not committed yet: `committed` will settle it.
        case pending
        /// Already committed when read, at the first ledger advance that covered it.
        case committed(at: Int64)
        /// A resend of a change read before (a replaced producer sends its unacknowledged
        /// changes again); the writer gives it no second effect, so it is no sample.
        case duplicate
    }

    /// The highest sequence read per stream.
    private var highestRead: [Stream: Int64] = [:]
    /// Changes read and not yet seen committed, per stream in sequence order.
    private var pending: [Stream: Deque<(sequence: Int64, eventTime: Int64)>] = [:]
    /// Every advance of the ledger per stream, for changes read only after their commit.
    private var commits: [Stream: [(sequence: Int64, time: Int64)]] = [:]
    private(set) var outstanding = 0

    mutating func read(_ stream: Stream, sequence: Int64, eventTime: Int64) -> Reading {
        if let highest = highestRead[stream], sequence <= highest { return .duplicate }
        highestRead[stream] = sequence
        if let advances = commits[stream], let last = advances.last, last.sequence >= sequence {
            var low = 0
            var high = advances.count - 1
            while low < high {
                let middle = (low + high) / 2
                if advances[middle].sequence >= sequence { high = middle } else { low = middle + 1 }
            }
            return .committed(at: advances[low].time)
        }
        pending[stream, default: []].append((sequence, eventTime))
        outstanding += 1
        return .pending
    }

    /// The ledger showed `sequence` as the stream's highest applied at `time`. Returns
    /// the event times of the waiting changes this commits.
    mutating func committed(_ stream: Stream, through sequence: Int64, at time: Int64) -> [Int64] {
        if let last = commits[stream]?.last, last.sequence >= sequence { return [] }
        commits[stream, default: []].append((sequence, time))
        var settled: [Int64] = []
        while let first = pending[stream]?.first, first.sequence <= sequence {
            settled.append(first.eventTime)
            pending[stream]?.removeFirst()
        }
        outstanding -= settled.count
        return settled
    }
}

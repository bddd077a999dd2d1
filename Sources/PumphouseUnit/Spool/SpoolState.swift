/// What callers and the spool thread share, behind the spool's lock.
///
/// Callers only ever touch memory here; everything that involves the disk is the spool
/// thread's, so a caller never waits for I/O while holding the lock.
struct SpoolState: Sendable {
    /// A record encoded for disk (on the caller's thread, outside the lock), with the
    /// number the spool gave it.
    struct Frame: Sendable {
        var number: Int64
        var bytes: [UInt8]
    }

    /// A caller of `sync` or `close` waiting for the spool thread; resumed with the
    /// spool's failure, if any.
    typealias Waiter = CheckedContinuation<SpoolError?, Never>

    /// Appended, not yet taken by the spool thread.
    var buffered: [Frame] = []
    var acknowledgements: AcknowledgementTracker
    /// The number of the last record appended or recovered (or the mark, if higher).
    var lastNumber: Int64
    /// The highest change sequence appended, recovered or persisted with the mark.
    var highestSequence: Int64
    /// Each `sync` call takes the next ticket; the spool thread completes all tickets
    /// issued before it took a batch once that batch is durable.
    var syncTicketsIssued = 0
    var syncWaiters: [(ticket: Int, waiter: Waiter)] = []
    var closeRequested = false
    var closeWaiters: [Waiter] = []
    /// The spool thread has exited: after close, or after a failure.
    var stopped = false
    /// The first write, fsync or file failure; the spool fails every later call with it.
    var failure: SpoolError?
    /// The last number of the oldest segment the spool thread may delete (Int64.max when
    /// none), so `acknowledge` wakes the thread only when there is something to delete.
    var deletableThrough: Int64 = .max
    /// fsyncs the spool thread has done of the segment it appends to.
    var fsyncs = 0

    init(acknowledgedMark: Int64, lastNumber: Int64, highestSequence: Int64) {
        self.acknowledgements = AcknowledgementTracker(mark: acknowledgedMark)
        self.lastNumber = lastNumber
        self.highestSequence = highestSequence
    }

    /// Removes and returns the sync waiters whose ticket a committed batch covered.
    mutating func takeSyncWaiters(through ticket: Int) -> [Waiter] {
        let ready = syncWaiters.filter { $0.ticket <= ticket }.map(\.waiter)
        syncWaiters.removeAll { $0.ticket <= ticket }
        return ready
    }
}

import Logging

/// The spool thread's work: every write, fsync, segment roll and deletion after open.
///
/// It runs on one dedicated thread, not in tasks: write() and fsync block for
/// milliseconds and would stall Swift's cooperative pool, and a single thread makes the
/// order of writes, rolls and deletions simply the program order.
struct SpoolWriter {
    /// What one turn of the loop takes from the shared state.
    private struct Batch {
        var frames: [SpoolState.Frame]
        var acknowledgedMark: Int64
        var highestSequence: Int64
        /// The last sync ticket issued when the batch was taken: done once it is durable.
        var syncTicket: Int
        var closing: Bool
    }

    private struct ActiveSegment {
        var file: SpoolFile
        var segment: SpoolSegment
        var size: Int
    }

    private let shared: ConditionLock<SpoolState>
    private let directory: SpoolDirectory
    private let segmentBytes: Int
    private let syncInterval: Duration
    private let fsyncInterval: Duration
    private let logger: Logger
    private var active: ActiveSegment?
    /// Segments no longer appended to (rolled, or recovered at open), oldest first.
    private var closedSegments: [SpoolSegment]
    private var persistedMark: Int64
    private var persistedHighestSequence: Int64
    private var completedSyncTicket = 0
    private var lastCommitStart: ContinuousClock.Instant?
    /// When the active segment was last fsynced, and whether it was written since.
    private var lastFsync = ContinuousClock.now
    private var unsynced = false
    /// The frames bound for the active segment in this commit, joined so that a commit
    /// is one write() per segment.
    private var unwritten: [UInt8] = []

    init(
        shared: ConditionLock<SpoolState>,
        directory: SpoolDirectory,
        recoveredSegments: [SpoolSegment],
        persistedMark: Int64,
        persistedHighestSequence: Int64,
        configuration: SpoolConfiguration,
        logger: Logger
    ) {
        self.shared = shared
        self.directory = directory
        self.closedSegments = recoveredSegments
        self.persistedMark = persistedMark
        self.persistedHighestSequence = persistedHighestSequence
        self.segmentBytes = configuration.segmentBytes
        self.syncInterval = configuration.syncInterval
        self.fsyncInterval = configuration.fsyncInterval
        self.logger = logger
    }

    /// Returns when the spool is closed or has failed.
    mutating func run() {
        while true {
            let batch = nextBatch()
            do {
                try commit(batch.frames)
                // A sync or close asks for the disk now; otherwise the fsync waits for
                // its interval, so a steady trickle of changes costs a write each but
                // an fsync only every `fsyncInterval`.
                try syncIfDue(force: batch.syncTicket > completedSyncTicket || batch.closing)
                if batch.closing {
                    try finish(acknowledgedMark: batch.acknowledgedMark, highestSequence: batch.highestSequence)
                } else {
                    try deleteSegments(through: batch.acknowledgedMark, highestSequence: batch.highestSequence)
                }
            } catch {
                logger.error("\(error); the spool accepts no more changes until the unit restarts")
                stop(failure: error)
                return
            }
            if batch.closing {
                stop(failure: nil)
                return
            }
            publish(batch)
        }
    }

    /// Sleeps until there is work, then takes it. Records wait at most until one
    /// `syncInterval` after the previous commit started, so that appends arriving
    /// meanwhile share one write(); written records wait for their fsync at most
    /// `fsyncInterval` after the last one; a sync or close request, or segments to
    /// delete, do not wait.
    private mutating func nextBatch() -> Batch {
        let earliestCommit = lastCommitStart.map { $0 + syncInterval }
        let fsyncDue = unsynced ? lastFsync + fsyncInterval : nil
        let completedSyncTicket = completedSyncTicket
        let deletableThrough = closedSegments.first?.lastNumber ?? .max
        let batch = shared.wait { state -> ConditionLock<SpoolState>.Step<Batch> in
            let urgent = state.closeRequested
                || state.syncTicketsIssued > completedSyncTicket
                || state.acknowledgements.mark >= deletableThrough
            if !urgent {
                let now = ContinuousClock.now
                if state.buffered.isEmpty {
                    // Nothing to write: sleep until the fsync is due, or until woken.
                    guard let fsyncDue else { return .sleep(timeout: nil) }
                    if now < fsyncDue { return .sleep(timeout: fsyncDue - now) }
                } else if let earliestCommit, now < earliestCommit {
                    // The commit then fsyncs too if that is due by then.
                    return .sleep(timeout: earliestCommit - now)
                }
            }
            let frames = state.buffered
            state.buffered = []
            return .proceed(Batch(
                frames: frames,
                acknowledgedMark: state.acknowledgements.mark,
                highestSequence: state.highestSequence,
                syncTicket: state.syncTicketsIssued,
                closing: state.closeRequested
            ))
        }
        if !batch.frames.isEmpty { lastCommitStart = .now }
        return batch
    }

    /// Appends the frames to the active segment, rolling to a new one whenever the next
    /// frame would take it past `segmentBytes`. A segment is fsynced before the next one
    /// is created, so only the newest segment can ever end in a torn record; the newest
    /// is fsynced by `syncIfDue`.
    private mutating func commit(_ frames: [SpoolState.Frame]) throws(SpoolError) {
        guard !frames.isEmpty else { return }
        for frame in frames {
            if let current = active, current.size + frame.bytes.count > segmentBytes {
                try writeAndSync()
                current.file.close()
                closedSegments.append(current.segment)
                active = nil
            }
            if active == nil {
                active = ActiveSegment(
                    file: try directory.createSegment(frame.number),
                    segment: SpoolSegment(firstNumber: frame.number, lastNumber: frame.number),
                    size: 0
                )
            }
            unwritten += frame.bytes
            active?.size += frame.bytes.count
            active?.segment.lastNumber = frame.number
        }
        try write()
    }

    /// Hands the frames of this commit to the operating system: from here a kill of the
    /// process loses none of them.
    private mutating func write() throws(SpoolError) {
        guard let active, !unwritten.isEmpty else { return }
        try active.file.writeAll(unwritten)
        unwritten.removeAll()
        unsynced = true
    }

    private mutating func writeAndSync() throws(SpoolError) {
        try write()
        try syncIfDue(force: true)
    }

    /// fsyncs the active segment if it was written since its last fsync and `force` is
    /// set or `fsyncInterval` has passed.
    private mutating func syncIfDue(force: Bool) throws(SpoolError) {
        guard unsynced, let active else { return }
        let now = ContinuousClock.now
        guard force || now - lastFsync >= fsyncInterval else { return }
        try active.file.sync()
        lastFsync = now
        unsynced = false
        shared.withLock { $0.fsyncs += 1 }
    }

    /// Deletes the closed segments wholly at or below the mark. The mark is persisted
    /// first: once a segment is gone, only the mark remembers how far the numbers went.
    private mutating func deleteSegments(through mark: Int64, highestSequence: Int64) throws(SpoolError) {
        let count = closedSegments.prefix { $0.lastNumber <= mark }.count
        guard count > 0 else { return }
        try persist(mark, highestSequence: highestSequence)
        for segment in closedSegments.prefix(count) {
            try directory.removeSegment(segment.firstNumber)
        }
        closedSegments.removeFirst(count)
    }

    /// At close, the active segment is closed too, and deleted if wholly acknowledged.
    private mutating func finish(acknowledgedMark mark: Int64, highestSequence: Int64) throws(SpoolError) {
        try persist(mark, highestSequence: highestSequence)
        if let current = active {
            current.file.close()
            closedSegments.append(current.segment)
            active = nil
        }
        try deleteSegments(through: mark, highestSequence: highestSequence)
    }

    /// Persisting lazily (before deletions and at close, not on every acknowledgement) is
    /// safe because a lagging mark only makes a restart resend records that downstream
    /// already has, and it collapses those duplicates by (origin, sequence). The highest
    /// change sequence goes with it: once the segments holding it are gone, only this
    /// file remembers how far the unit's numbering went.
    private mutating func persist(_ mark: Int64, highestSequence: Int64) throws(SpoolError) {
        guard mark > persistedMark || highestSequence > persistedHighestSequence else { return }
        try directory.writeAcknowledged(mark, highestSequence: highestSequence)
        persistedMark = mark
        persistedHighestSequence = highestSequence
    }

    /// Tells the callers waiting in `sync` that their records are durable.
    private mutating func publish(_ batch: Batch) {
        completedSyncTicket = batch.syncTicket
        let deletableThrough = closedSegments.first?.lastNumber ?? .max
        let waiters = shared.withLock { state in
            state.deletableThrough = deletableThrough
            return state.takeSyncWaiters(through: batch.syncTicket)
        }
        for waiter in waiters {
            waiter.resume(returning: nil)
        }
    }

    /// Ends the thread's work, failing every waiting and later call if `failure` is set.
    private mutating func stop(failure: SpoolError?) {
        active?.file.close()
        active = nil
        directory.close()
        let waiters = shared.withLock { state in
            state.stopped = true
            state.failure = failure
            state.buffered = []
            let waiters = state.syncWaiters.map(\.waiter) + state.closeWaiters
            state.syncWaiters = []
            state.closeWaiters = []
            return waiters
        }
        for waiter in waiters {
            waiter.resume(returning: failure)
        }
    }
}

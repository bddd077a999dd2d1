import Foundation
import Logging

/// A processing unit's local, append-only, crash-safe log of every change it publishes:
/// with the Kafka broker unreachable the unit keeps accepting changes, and after a crash
/// it resends what the broker never acknowledged.
///
/// ## What survives what
///
/// `append` returns once the record is in memory; it never waits for the disk. One
/// dedicated thread takes everything appended so far as a batch and commits it: one
/// write() per segment touched. It takes the next batch `syncInterval` after it took the
/// previous one, or as soon as the previous commit returns if that took longer, and at
/// once when `sync()` or `close()` asks. It fsyncs what it wrote `fsyncInterval` after
/// the previous fsync at the latest, at once for `sync()` and `close()`, and before it
/// starts a new segment. Hence:
///
/// - **The process dies** (kill -9, a crash): records already handed to write() are in
///   the kernel's page cache and survive. Lost are the records appended since the thread
///   last took a batch: at most `syncInterval` of appends, or one commit's duration of
///   them when that is longer (an fsync included, when one was due); about the last 2 ms
///   with the defaults.
/// - **The machine dies** (OS crash, power loss): also lost is what was written but not
///   yet fsynced: up to `fsyncInterval` more, 20 ms with the defaults. The unit sends
///   each change to the broker as it spools it, so what the broker acknowledged within
///   that window is in the log anyway.
///
/// Every record appended before a `sync()` that returned survives both.
///
/// Recovery keeps every intact record; a record cut short at the end of the newest
/// segment (a crash mid-write) is truncated away with a warning in the log.
///
/// Because the last records before a crash can be lost, `highestSequence` after a
/// restart can be lower than a sequence handed out before it. A caller that publishes a
/// record to Kafka before the spool made it durable must not hand such a sequence out
/// again (downstream would take the new change for a duplicate of the lost one): it
/// either publishes only what `sync()` covered, or resumes its sequences far enough past
/// `highestSequence` to clear everything it could have appended in that window.
///
/// ## Numbers and sequences
///
/// The spool numbers records itself, in the order they are appended: acknowledgements,
/// the persisted mark and segment names use these numbers. The sequence a record carries
/// is the caller's (a unit numbers its changes per partition, so sequences from
/// different partitions interleave and repeat); the spool only keeps the highest.
///
/// ## Limits
///
/// Unacknowledged bytes are bounded by `maxPendingBytes` on disk and in memory (records
/// wait in memory only until their commit); past it `append` throws `.full`, which the
/// caller turns into back-pressure. After a failed write or fsync the spool stops and
/// fails every later call (see ``SpoolError/io(path:operation:errno:)``).
///
/// All methods may be called from any thread.
package final class DurableSpool: Sendable {
    /// Records on disk at open that the broker never acknowledged, in number (append)
    /// order. Resend them, but do not append them again: they are still spooled, count
    /// in `pendingBytes`, and are acknowledged like any other record.
    package let recovered: [SpooledRecord]

    private let shared: ConditionLock<SpoolState>
    private let maxPendingBytes: Int

    /// Opens the spool in `configuration.directory` (creating it if missing), recovering
    /// what an earlier run left there, and starts the spool thread.
    package init(configuration: SpoolConfiguration, logger: Logger) throws(SpoolError) {
        let directory = try SpoolDirectory(creatingIfMissing: configuration.directory)
        let recovery: SpoolRecovery
        do {
            recovery = try SpoolRecovery(directory: directory, logger: logger)
        } catch {
            directory.close()
            throw error
        }
        var state = SpoolState(acknowledgedMark: recovery.acknowledgedMark, lastNumber: recovery.lastNumber, highestSequence: recovery.highestSequence)
        for spooled in recovery.records {
            state.acknowledgements.add(number: spooled.number, bytes: SpoolSegmentFormat.frameSize(of: spooled.record))
        }
        state.deletableThrough = recovery.segments.first?.lastNumber ?? .max
        let shared = ConditionLock(state)
        self.shared = shared
        self.recovered = recovery.records
        self.maxPendingBytes = configuration.maxPendingBytes

        let segments = recovery.segments
        let persistedMark = recovery.acknowledgedMark
        let persistedHighestSequence = recovery.highestSequence
        let thread = Thread {
            // Named from inside: on Linux a name given before start never reaches the
            // kernel, and `top -H` or a stack dump should say whose thread this is.
            nameCurrentThread("pumphouse-spool")
            var writer = SpoolWriter(
                shared: shared,
                directory: directory,
                recoveredSegments: segments,
                persistedMark: persistedMark,
                persistedHighestSequence: persistedHighestSequence,
                configuration: configuration,
                logger: logger
            )
            writer.run()
        }
        thread.start()

        if !recovered.isEmpty {
            logger.info("spool: \(recovered.count) unacknowledged record(s) recovered from \(directory.path), numbers \(recovered[0].number) to \(recovered[recovered.count - 1].number)")
        }
    }

    /// A spool dropped without `close()` still commits what was appended and stops its
    /// thread; nobody is left to hear of a failure, though.
    deinit {
        shared.withLock { $0.closeRequested = true }
        shared.signal()
    }

    /// The highest sequence of any record appended, also across restarts (it is kept
    /// with the acknowledged mark after the last segment is deleted); 0 for a new spool.
    package var highestSequence: Int64 {
        shared.withLock { $0.highestSequence }
    }

    /// Bytes (as encoded on disk) of the records above the contiguous acknowledged mark.
    /// A record acknowledged ahead of an older unacknowledged one still counts, since it
    /// stays on disk until the mark passes it.
    package var pendingBytes: Int {
        shared.withLock { $0.acknowledgements.pendingBytes }
    }

    /// The records above the contiguous acknowledged mark, counted like `pendingBytes`.
    package var pendingRecords: Int {
        shared.withLock { $0.acknowledgements.pendingRecords }
    }

    /// fsyncs of the newest segment so far (what the fsync cadence's tests count).
    package var fsyncCount: Int {
        shared.withLock { $0.fsyncs }
    }

    /// Takes the record for the next commit without waiting for the disk, and returns
    /// the number it gave it. The record is framed and checksummed before the spool's
    /// lock is taken; under it, only the number and the limit are decided.
    ///
    /// Throws `.full` when the record would take `pendingBytes` past `maxPendingBytes`,
    /// `.closed` after `close()`, and the spool's failure after a failed write or fsync.
    @discardableResult
    package func append(_ record: SpoolRecord) throws(SpoolError) -> Int64 {
        // A record larger than the whole limit can never fit, so it is not worth encoding.
        guard SpoolSegmentFormat.frameSize(of: record) <= maxPendingBytes else {
            throw .full(pendingBytes: pendingBytes, limit: maxPendingBytes)
        }
        return try append(SpoolFrame(record))
    }

    /// Appends a record encoded beforehand (outside any of the caller's locks); the same
    /// as `append(_:)` otherwise.
    @discardableResult
    package func append(_ frame: SpoolFrame) throws(SpoolError) -> Int64 {
        let size = frame.bytes.count
        let bytes = frame.bytes
        let (number, wakeSpoolThread) = try shared.withLock { state throws(SpoolError) -> (Int64, Bool) in
            if state.closeRequested { throw .closed }
            if let failure = state.failure { throw failure }
            let pending = state.acknowledgements.pendingBytes
            guard pending + size <= maxPendingBytes else {
                throw .full(pendingBytes: pending, limit: maxPendingBytes)
            }
            guard state.lastNumber < SpoolSegmentFormat.numberLimit - 1 else { throw .numbersExhausted(limit: SpoolSegmentFormat.numberLimit) }
            state.lastNumber += 1
            state.buffered.append(SpoolState.Frame(number: state.lastNumber, bytes: bytes))
            state.acknowledgements.add(number: state.lastNumber, bytes: size)
            state.highestSequence = max(state.highestSequence, frame.sequence)
            // The thread sleeps without a deadline while nothing is buffered.
            return (state.lastNumber, state.buffered.count == 1)
        }
        if wakeSpoolThread { shared.signal() }
        return number
    }

    /// Records that the broker acknowledged record `number`. Acknowledgements may come in
    /// any order (partitions are independent); the contiguous mark advances once every
    /// record up to it is acknowledged, and segments wholly at or below it are deleted by
    /// the spool thread soon after. Repeated and unknown numbers are ignored.
    package func acknowledge(_ number: Int64) {
        acknowledge(CollectionOfOne(number))
    }

    /// Records a batch of acknowledgements under one take of the spool's lock, which
    /// every append takes too.
    package func acknowledge(_ numbers: some Sequence<Int64>) {
        let wakeSpoolThread = shared.withLock { state in
            var advanced = false
            for number in numbers where state.acknowledgements.acknowledge(number) { advanced = true }
            return advanced && state.acknowledgements.mark >= state.deletableThrough
        }
        if wakeSpoolThread { shared.signal() }
    }

    /// Returns once every record appended before the call is written and fsynced, and the
    /// segments wholly acknowledged before the call are deleted.
    package func sync() async throws(SpoolError) {
        try await awaitSpoolThread { state, waiter in
            state.syncTicketsIssued += 1
            state.syncWaiters.append((state.syncTicketsIssued, waiter))
        }
    }

    /// Commits everything appended, persists the acknowledged mark, deletes the segments
    /// wholly at or below it (the last one too) and stops the spool thread. Later appends
    /// throw `.closed`; closing again returns at once.
    package func close() async throws(SpoolError) {
        try await awaitSpoolThread { state, waiter in
            state.closeRequested = true
            state.closeWaiters.append(waiter)
        }
    }

    /// Hands the spool thread a request and waits for it without blocking a thread of the
    /// cooperative pool; answers at once if the thread has already stopped.
    private func awaitSpoolThread(_ request: (inout SpoolState, SpoolState.Waiter) -> Void) async throws(SpoolError) {
        let failure = await withCheckedContinuation { (waiter: SpoolState.Waiter) in
            let requested = shared.withLock { state in
                guard !state.stopped else { return false }
                request(&state, waiter)
                return true
            }
            if requested {
                shared.signal()
            } else {
                // Once stopped, the failure never changes.
                waiter.resume(returning: shared.withLock { $0.failure })
            }
        }
        if let failure { throw failure }
    }
}

/// Where a processing unit spools its changes and how much it may hold.
package struct SpoolConfiguration: Sendable, Hashable {
    /// The spool's own directory (created with its parents if missing). One unit per
    /// directory: two spools writing the same directory would interleave segments.
    package var directory: String
    /// Unacknowledged bytes (as encoded on disk) allowed before `append` throws `.full`.
    /// This bounds both the unit's memory and its disk while the broker is unreachable;
    /// past it the caller must push back on its own clients instead of growing.
    package var maxPendingBytes: Int
    /// A segment rolls to a new file once the next record would take it past this size.
    /// Smaller segments free disk sooner after acknowledgements (a segment is deleted only
    /// when all of it is acknowledged); larger ones mean fewer files and fsyncs of the
    /// directory.
    package var segmentBytes: Int
    /// The group-commit cadence: appends arriving within one interval share one
    /// write(). It is also how long a change may sit in the process's memory only (what
    /// a kill -9 can lose), see ``DurableSpool``.
    package var syncInterval: Duration
    /// The longest a written change waits for its fsync (what an operating-system crash
    /// or a power loss can lose on top of the above, unless the broker has it by then).
    /// At a steady trickle of changes, an fsync per write cost a unit more CPU than
    /// anything else it does per change; `sync()` still fsyncs at once.
    package var fsyncInterval: Duration

    package init(
        directory: String,
        maxPendingBytes: Int = 256 << 20,
        segmentBytes: Int = 16 << 20,
        syncInterval: Duration = .milliseconds(2),
        fsyncInterval: Duration = .milliseconds(20)
    ) {
        self.directory = directory
        self.maxPendingBytes = maxPendingBytes
        self.segmentBytes = segmentBytes
        self.syncInterval = syncInterval
        self.fsyncInterval = fsyncInterval
    }
}

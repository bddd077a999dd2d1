/// Log time, as a unit reads it: the send time of its own latest heartbeat read back
/// from the member topic. A unit counts a peer gone only once the peer has been silent
/// for the member timeout on the wall (since the unit read it last, which keeps the
/// owner's lease safe: `OwnershipLease`) and in log time too (give or take the one
/// heartbeat interval log time moves by).
///
/// The member topic has one partition, so a unit that has read its own heartbeat back
/// has read every announcement appended before it. A unit whose consumer lags (loading
/// a long topic, or starved of CPU) reads its peers' heartbeats late, and its own just
/// as late: its log time stands still, so it never counts a live peer gone because it
/// has not caught up, and never claims a live owner's partitions on that account. The
/// wall clock alone did (what made this type: a unit joining under load expired its
/// peer while it worked through the backlog, claimed the peer's partitions, and the
/// peer's changes after that claim were fenced).
///
/// Only this unit's own timestamps are compared, so no two machines' clocks are. Two of
/// its own heartbeats further apart than `gap` (the unit was paused, or the broker was
/// away) say nothing of its peers in between: every peer's silence in the log restarts
/// from the later one, as it does from the first.
struct MemberClock: Sendable {
    /// A pair of readings of the two clocks, to place a send time (wall clock
    /// milliseconds) on the continuous clock the member lists keep.
    private let origin: ContinuousClock.Instant
    private let originWall: Int64
    private let gap: Int64
    /// When this unit's latest heartbeat read back was sent (wall clock milliseconds).
    private(set) var echoed: Int64?

    init(gap: Duration, now: ContinuousClock.Instant = .now, wall: Int64 = wallClockMilliseconds()) {
        self.origin = now
        self.originWall = wall
        self.gap = gap.wholeMilliseconds
    }

    /// The log time now, once this unit has read one of its own heartbeats back.
    var now: ContinuousClock.Instant? {
        echoed.map { origin.advanced(by: .milliseconds($0 - originWall)) }
    }

    /// Records this unit's heartbeat sent at `sent`, read back. True if every peer's
    /// silence must restart from now: the first heartbeat read back, or one that follows
    /// the previous by `gap` or more.
    mutating func echo(sentAt sent: Int64) -> Bool {
        guard let previous = echoed else {
            echoed = sent
            return true
        }
        guard sent > previous else { return false }
        echoed = sent
        return sent - previous >= gap
    }

    /// Whether an announcement sent at `sent` is too old to count. Only before the first
    /// heartbeat read back: a consumer placed at the member topic's end by a broker that
    /// answers ListOffsets wrongly may start further back, and what it reads there says
    /// nothing of who is alive. After it, every announcement counts at the log time it
    /// is read.
    func isStale(sentAt sent: Int64?, wallNow: Int64 = wallClockMilliseconds(), timeout: Duration) -> Bool {
        guard echoed == nil, let sent else { return false }
        return wallNow - sent > timeout.wholeMilliseconds
    }
}

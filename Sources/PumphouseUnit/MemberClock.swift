import PumphouseBlocking

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
/// Only this unit's own timestamps are compared, so no two machines' clocks are. The
/// heartbeats read back are the lease's (`OwnershipLease`, which keeps the latest send
/// time); a gap between two of them that breaks the lease (the unit was paused, or the
/// broker was away) says nothing of its peers in between: every peer's silence in the
/// log restarts from the later one, as it does from the first.
struct MemberClock: Sendable {
    private let lease: OwnershipLease
    /// A pair of readings of the two clocks, to place a send time (wall clock
    /// milliseconds) on the continuous clock the member lists keep.
    private let origin: ContinuousClock.Instant
    private let originWall: Int64

    init(lease: OwnershipLease, now: ContinuousClock.Instant = .now, wall: Int64 = wallClockMilliseconds()) {
        self.lease = lease
        self.origin = now
        self.originWall = wall
    }

    /// The log time now, once this unit has read one of its own heartbeats back.
    var now: ContinuousClock.Instant? {
        lease.echoed.map { origin.advanced(by: .milliseconds($0 - originWall)) }
    }

    /// Whether a member record's timestamp can be one a unit sent: from the epoch to a day
    /// ahead of this unit's clock. Leases and silences subtract timestamps; a foreign
    /// producer's near Int64.min would overflow them, and one near Int64.max would keep a
    /// forged heartbeat's lease valid for ever.
    static func isPlausible(sentAt sent: Int64, wallNow: Int64 = wallClockMilliseconds()) -> Bool {
        sent >= 0 && sent <= wallNow + 86_400_000
    }

    /// Whether an announcement sent at `sent` is too old to count. Only before the first
    /// heartbeat read back: a consumer placed at the member topic's end by a broker that
    /// answers ListOffsets wrongly may start further back, and what it reads there says
    /// nothing of who is alive. After it, every announcement counts at the log time it
    /// is read.
    func isStale(sentAt sent: Int64?, wallNow: Int64 = wallClockMilliseconds(), timeout: Duration) -> Bool {
        guard lease.echoed == nil, let sent else { return false }
        return wallNow - sent > timeout.milliseconds
    }
}

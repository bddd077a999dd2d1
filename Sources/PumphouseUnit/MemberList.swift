import PumphouseContracts

/// Which units currently hold one named cache, as this unit sees it (or, in
/// `pumphouse status`, as the member topic's recent tail shows it).
///
/// Built from the announcements on the member topic (join, heartbeat, leave) and from
/// silence: a unit not heard from within the timeout drops out, so a crashed unit leaves
/// the list without saying so. Every change bumps the version, so two logs of the list
/// can be put in order.
public struct MemberList: Sendable, Equatable, CustomStringConvertible {
    public struct Member: Sendable, Hashable {
        public var id: String
        /// Where the unit serves, as it announced it (`host:port`).
        public var address: String
        /// Milliseconds since the epoch when the unit joined.
        public var since: Int64
        /// Whether it has loaded its caches and serves.
        public var loaded = false
        /// The reverse-pump answer it loaded this cache from, if any.
        public var snapshot: CacheSnapshot?
        /// Whether its latest announcement listed the partitions it owns (`owns`), as
        /// every unit does for a partitioned cache since 2026-12-06; one that does not
        /// is of an earlier version.
        public var announcesOwnership = false
        /// Whether it is stopping and handing its partitions over (`MemberAnnouncement.leaving`):
        /// alive, but no longer in the partitions' assignment.
        public var leaving = false
        /// Whether, as a successor, it waits for a leaving member's hand-over claim
        /// (`MemberAnnouncement.awaitsHandOver`); false for units of an earlier version.
        public var awaitsHandOver = false
    }

    public let cache: String
    public let this: String
    public private(set) var version: Int64 = 0
    /// By the unit id's bytes: two units whose ids are canonically equivalent are two units.
    public private(set) var members: [ExactKey: Member] = [:]
    /// Each member's changes not yet acknowledged by the broker, as its last heartbeat
    /// said. Kept apart from `members` because it changes with every heartbeat, and a
    /// change of the list is logged.
    public private(set) var unacknowledged: [ExactKey: Int] = [:]
    /// Local clock reading of the last announcement from each member.
    public private(set) var lastHeard: [ExactKey: ContinuousClock.Instant] = [:]
    /// The same in log time, where the list keeps it (a unit's own, `MemberClock`):
    /// when the announcement was read, the send time of this unit's latest heartbeat
    /// read back before it.
    public private(set) var lastHeardInLog: [ExactKey: ContinuousClock.Instant] = [:]
    /// Members that announced they leave, and when that was read: a successor's claim
    /// on their partitions is planned, not a failover. Forgotten when the member is
    /// heard again, or a member timeout after its leave.
    public private(set) var departed: [ExactKey: ContinuousClock.Instant] = [:]

    public init(cache: String, this: String) {
        self.cache = cache
        self.this = this
    }

    /// Records an announcement read at `now` (and at `logTime` in log time, if the list
    /// keeps it); true if the list changed (a join or a leave).
    @discardableResult
    package mutating func hear(_ announcement: MemberAnnouncement, at now: ContinuousClock.Instant, logTime: ContinuousClock.Instant? = nil) -> Bool {
        let id = ExactKey(announcement.member)
        switch announcement.event {
        case .leave:
            lastHeard[id] = nil
            lastHeardInLog[id] = nil
            unacknowledged[id] = nil
            guard members.removeValue(forKey: id) != nil else { return false }
            departed[id] = now
        case .join, .heartbeat:
            lastHeard[id] = now
            departed[id] = nil
            if let logTime { lastHeardInLog[id] = logTime }
            unacknowledged[id] = announcement.unacknowledged
            let member = Member(
                id: announcement.member, address: announcement.address, since: announcement.since,
                loaded: announcement.loaded, snapshot: announcement.snapshot, announcesOwnership: announcement.owns != nil,
                leaving: announcement.leaving, awaitsHandOver: announcement.awaitsHandOver
            )
            guard members[id] != member else { return false }
            members[id] = member
        }
        version += 1
        return true
    }

    /// Counts every member as heard at `now`: the unit could not judge their silence
    /// before (it had not read its own heartbeat back, or there was a gap in its own).
    package mutating func restartSilence(at now: ContinuousClock.Instant) {
        for id in lastHeard.keys { lastHeard[id] = now }
    }

    /// Counts every member as heard at `logTime` in log time: the unit could not judge
    /// their silence in the log before (it had not read its own heartbeat back, or its
    /// own heartbeats have a gap).
    package mutating func restartSilence(inLogAt logTime: ContinuousClock.Instant) {
        for id in lastHeard.keys { lastHeardInLog[id] = logTime }
    }

    /// Drops members not heard from within `timeout` (never this unit); returns them.
    /// With `logNow`, a member must also have been silent that long in log time (and
    /// one never timed in the log is not), so a reader that lags does not count a live
    /// member gone.
    package mutating func expire(now: ContinuousClock.Instant, timeout: Duration, logNow: ContinuousClock.Instant? = nil) -> [Member] {
        departed = departed.filter { now - $0.value <= timeout }
        let this = ExactKey(self.this)
        let silent = lastHeard.filter { id, heard in
            guard id != this, now - heard > timeout else { return false }
            guard let logNow else { return true }
            return lastHeardInLog[id].map { logNow - $0 > timeout } ?? false
        }.map(\.key)
        var dropped: [Member] = []
        for id in silent.sorted() {
            lastHeard[id] = nil
            lastHeardInLog[id] = nil
            unacknowledged[id] = nil
            if let member = members.removeValue(forKey: id) {
                dropped.append(member)
                version += 1
            }
        }
        return dropped
    }

    /// The list in the form operators know from data grids:
    /// `Members {size:2, ver:3} [` then one `Member address - id` line each, `this` marking this unit.
    public var description: String {
        let lines = members.values.sorted { ($0.since, $0.id) < ($1.since, $1.id) }.map { member in
            "\tMember \(member.address) - \(member.id)\(member.id.isSameBytes(as: this) ? " this" : "")\(member.loaded ? "" : " loading")\(member.leaving ? " leaving" : "")"
        }
        return "Members {size:\(members.count), ver:\(version)} [\n\(lines.joined(separator: "\n"))\n]"
    }
}

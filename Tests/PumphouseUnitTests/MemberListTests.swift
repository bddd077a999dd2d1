import PumphouseContracts
@testable import PumphouseUnit
import Testing

@Suite("Member list")
struct MemberListTests {
    static func announce(_ event: MemberAnnouncement.Event, _ member: String, since: Int64 = 1, loaded: Bool = false) -> MemberAnnouncement {
        MemberAnnouncement(
            event: event, cache: "ticketing.Seat", member: member, address: "10.0.0.\(member.count):8080", since: since,
            loaded: loaded, snapshot: loaded ? CacheSnapshot(request: "r-\(member)", offset: 7) : nil
        )
    }

    @Test("joins and leaves bump the version; heartbeats of known members do not")
    func versions() {
        var list = MemberList(cache: "ticketing.Seat", this: "u1")
        let start = ContinuousClock.now
        let changed1 = list.hear(Self.announce(.join, "u1"), at: start)
        #expect(changed1)
        let changed2 = list.hear(Self.announce(.heartbeat, "u2", since: 2), at: start)
        #expect(changed2)
        let changed3 = list.hear(Self.announce(.heartbeat, "u2", since: 2), at: start)
        #expect(!changed3)
        let changed4 = list.hear(Self.announce(.join, "u3", since: 3), at: start)
        #expect(changed4)
        // A member that finished loading is a change: joiners look for loaded peers.
        let changed4b = list.hear(Self.announce(.heartbeat, "u3", since: 3, loaded: true), at: start)
        #expect(changed4b)
        #expect(list.members["u3"]?.snapshot == CacheSnapshot(request: "r-u3", offset: 7))
        #expect(list.version == 4)
        #expect(list.description == """
            Members {size:3, ver:4} [
            \tMember 10.0.0.2:8080 - u1 this loading
            \tMember 10.0.0.2:8080 - u2 loading
            \tMember 10.0.0.2:8080 - u3
            ]
            """)
        let changed5 = list.hear(Self.announce(.leave, "u2"), at: start)
        #expect(changed5)
        let changed6 = list.hear(Self.announce(.leave, "u2"), at: start)
        #expect(!changed6)
        #expect(list.version == 5 && list.members.count == 2)
    }

    @Test("a member silent for longer than the timeout drops out; this unit never does")
    func expiry() {
        var list = MemberList(cache: "ticketing.Seat", this: "u1")
        let start = ContinuousClock.now
        list.hear(Self.announce(.join, "u1"), at: start)
        list.hear(Self.announce(.join, "u2"), at: start)
        list.hear(Self.announce(.heartbeat, "u3"), at: start.advanced(by: .seconds(4)))
        let early = list.expire(now: start.advanced(by: .seconds(3)), timeout: .seconds(5))
        #expect(early.isEmpty)
        let dropped = list.expire(now: start.advanced(by: .seconds(6)), timeout: .seconds(5))
        #expect(dropped.map(\.id) == ["u2"])
        #expect(Set(list.members.keys) == ["u1", "u3"])
        #expect(list.version == 4)
    }

    @Test("in log time, a member silent on the wall but not in the log stays (its reader lags); one never timed in the log stays; silent in both, it drops out; restarting its silence gives it a whole timeout")
    func expiryInLogTime() {
        var list = MemberList(cache: "ticketing.Seat", this: "u1")
        let start = ContinuousClock.now
        func at(_ seconds: Int) -> ContinuousClock.Instant { start.advanced(by: .seconds(seconds)) }
        list.hear(Self.announce(.join, "u1"), at: start, logTime: start)
        list.hear(Self.announce(.join, "u2"), at: start, logTime: start)
        list.hear(Self.announce(.join, "u3"), at: start)  // before the unit read its own heartbeat back
        // Ten seconds on the wall, but the unit has read only two seconds of the log.
        let lagging = list.expire(now: at(10), timeout: .seconds(5), logNow: at(2))
        #expect(lagging.isEmpty)
        // Silent in both: u2 goes; u3 was never timed in the log.
        let bothSilent = list.expire(now: at(10), timeout: .seconds(5), logNow: at(6))
        #expect(bothSilent.map(\.id) == ["u2"])
        list.restartSilence(inLogAt: at(6))
        #expect(list.lastHeardInLog["u3"] == at(6))
        let restarted = list.expire(now: at(12), timeout: .seconds(5), logNow: at(11))
        #expect(restarted.isEmpty)
        let timedOut = list.expire(now: at(12), timeout: .seconds(5), logNow: at(12))
        #expect(timedOut.map(\.id) == ["u3"])
        // A member that leaves is forgotten in both clocks.
        list.hear(Self.announce(.join, "u4"), at: at(12), logTime: at(12))
        list.hear(Self.announce(.leave, "u4"), at: at(13), logTime: at(13))
        #expect(list.lastHeard["u4"] == nil && list.lastHeardInLog["u4"] == nil)
        #expect(Set(list.members.keys) == ["u1"])
        // It said it leaves: remembered for a member timeout, forgotten if heard again.
        #expect(list.departed["u4"] == at(13))
        _ = list.expire(now: at(18), timeout: .seconds(5), logNow: at(18))
        #expect(list.departed["u4"] == at(13))
        _ = list.expire(now: at(19), timeout: .seconds(5), logNow: at(19))
        #expect(list.departed.isEmpty)
        list.hear(Self.announce(.join, "u5"), at: at(19), logTime: at(19))
        list.hear(Self.announce(.leave, "u5"), at: at(20), logTime: at(20))
        list.hear(Self.announce(.join, "u5"), at: at(21), logTime: at(21))
        #expect(list.departed.isEmpty)
    }

    @Test("announcements round-trip; anything else is ignored")
    func announcements() {
        let announcement = Self.announce(.heartbeat, "u9", since: 42)
        #expect(MemberAnnouncement(announcement.encoded()) == announcement)
        let loaded = Self.announce(.heartbeat, "u8", since: 43, loaded: true)
        #expect(MemberAnnouncement(loaded.encoded()) == loaded)
        // Announcements from units that predate `loaded` read as not loaded.
        #expect(MemberAnnouncement(Array(#"{"event":"join","cache":"c","member":"m","address":"a","since":1}"#.utf8))?.loaded == false)
        #expect(MemberAnnouncement(Array("not json".utf8)) == nil)
        #expect(MemberAnnouncement(Array(#"{"event":"dance","cache":"c","member":"m","address":"a","since":1}"#.utf8)) == nil)
    }

    @Test("spool depth and role round-trip; announcements without them read as a unit with no depth; an unknown role is ignored")
    func depthAndRole() {
        var busy = Self.announce(.heartbeat, "u7", since: 44, loaded: true)
        busy.unacknowledged = 1234
        #expect(MemberAnnouncement(busy.encoded()) == busy)
        let reader = MemberAnnouncement(event: .join, role: .reader, cache: "", member: "host-1", address: "host", since: 5)
        #expect(MemberAnnouncement(reader.encoded()) == reader)
        let old = MemberAnnouncement(Array(#"{"event":"heartbeat","cache":"c","member":"m","address":"a","since":1,"loaded":true}"#.utf8))
        #expect(old?.role == .unit && old?.unacknowledged == nil && old?.loaded == true)
        #expect(MemberAnnouncement(Array(#"{"event":"join","role":"gardener","cache":"c","member":"m","address":"a","since":1}"#.utf8)) == nil)
    }

    @Test("owned partitions round-trip with their terms, up to thousands of them; absent they read as nil; a malformed list makes the whole announcement malformed (read in part it would misroute keys)")
    func ownedPartitions() {
        var owner = Self.announce(.heartbeat, "u7", since: 44, loaded: true)
        owner.owns = [0: 3, 7: 1, 2_147_483_647: 9]
        #expect(MemberAnnouncement(owner.encoded()) == owner)
        owner.owns = [:]
        #expect(MemberAnnouncement(owner.encoded())?.owns == [:], "owning nothing is not the same as not saying")
        owner.owns = Dictionary(uniqueKeysWithValues: (0..<4_000).map { (Int32($0), Int64($0 + 1)) })
        #expect(MemberAnnouncement(owner.encoded()) == owner, "\(owner.encoded().count) bytes")
        #expect(MemberAnnouncement(Self.announce(.heartbeat, "u7").encoded())?.owns == nil)
        let prefix = #"{"event":"heartbeat","cache":"c","member":"m","address":"a","since":1,"owns":"#
        for malformed in [#"[1]"#, #"{"x":1}"#, #"{"-1":1}"#, #"{"01":1}"#, #"{"2147483648":1}"#, #"{"1":0}"#, #"{"1":"2"}"#, #"{"1":1.5}"#, #"{" 1":1}"#] {
            #expect(MemberAnnouncement(Array((prefix + malformed + "}").utf8)) == nil, "owns \(malformed)")
        }
        #expect(MemberAnnouncement(Array((prefix + #"{"0":1,"12":4}"# + "}").utf8))?.owns == [0: 1, 12: 4])
    }

    @Test("a leaving unit says so and stays a member: the flag round-trips, is absent from units that predate it, changes the list, and a leave after it removes the unit")
    func leaving() {
        var leaver = Self.announce(.heartbeat, "u3", since: 7, loaded: true)
        leaver.leaving = true
        #expect(MemberAnnouncement(leaver.encoded()) == leaver)
        #expect(MemberAnnouncement(Self.announce(.heartbeat, "u3").encoded())?.leaving == false)
        var successor = Self.announce(.heartbeat, "u4", loaded: true)
        successor.awaitsHandOver = true
        #expect(MemberAnnouncement(successor.encoded()) == successor)
        #expect(MemberAnnouncement(Self.announce(.heartbeat, "u4").encoded())?.awaitsHandOver == false, "units that predate it do not wait for a leaver's claims")
        #expect(String(decoding: Self.announce(.heartbeat, "u3").encoded(), as: UTF8.self).contains("leaving") == false, "said only when true")
        var list = MemberList(cache: "ticketing.Seat", this: "u1")
        let start = ContinuousClock.now
        let joined = list.hear(Self.announce(.heartbeat, "u3", since: 7, loaded: true), at: start)
        let saidLeaving = list.hear(leaver, at: start)
        #expect(joined && saidLeaving, "leaving is a change of the list")
        #expect(list.members[ExactKey("u3")]?.leaving == true)
        _ = list.hear(successor, at: start)
        #expect(list.members[ExactKey("u4")]?.awaitsHandOver == true)
        #expect(list.description.contains("u3 leaving"))
        let left = list.hear(Self.announce(.leave, "u3"), at: start)
        #expect(left)
        #expect(list.members[ExactKey("u3")] == nil && list.departed[ExactKey("u3")] != nil)
    }

    @Test("a heartbeat's spool depth is kept beside the list: a new depth is not a change of the list")
    func depthIsNotAChange() {
        var list = MemberList(cache: "ticketing.Seat", this: "u1")
        let start = ContinuousClock.now
        var beat = Self.announce(.heartbeat, "u2")
        beat.unacknowledged = 3
        let joined = list.hear(beat, at: start)
        #expect(joined)
        beat.unacknowledged = 9
        let changed = list.hear(beat, at: start.advanced(by: .seconds(1)))
        #expect(!changed)
        #expect(list.unacknowledged["u2"] == 9 && list.version == 1)
        #expect(list.lastHeard["u2"] == start.advanced(by: .seconds(1)))
        _ = list.expire(now: start.advanced(by: .seconds(10)), timeout: .seconds(5))
        #expect(list.unacknowledged["u2"] == nil && list.members.isEmpty)
    }
}

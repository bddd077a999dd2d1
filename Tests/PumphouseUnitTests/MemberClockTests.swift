@testable import PumphouseUnit
import Testing

@Suite("Member clock")
struct MemberClockTests {
    static let origin = ContinuousClock.now
    static let wall: Int64 = 1_800_000_000_000

    /// A clock over a lease of a 5 s member timeout: gaps of 3,750 ms break it.
    static func clock() -> (MemberClock, OwnershipLease) {
        let lease = OwnershipLease(memberTimeout: .seconds(5))
        return (MemberClock(lease: lease, now: origin, wall: wall), lease)
    }

    @Test("log time is the send time of the latest own heartbeat read back, on the continuous clock; none before the first")
    func logTime() {
        let (clock, lease) = Self.clock()
        #expect(clock.now == nil)
        let first = lease.renew(sentAt: Self.wall + 1_000)
        #expect(first, "the first heartbeat read back restarts every peer's silence")
        #expect(clock.now == Self.origin.advanced(by: .seconds(1)))
        let next = lease.renew(sentAt: Self.wall + 2_000)
        // An older heartbeat read late (another cache's, sent earlier) does not move it back.
        let older = lease.renew(sentAt: Self.wall + 1_500)
        #expect(!next && !older)
        #expect(clock.now == Self.origin.advanced(by: .seconds(2)))
    }

    @Test("a gap in the unit's own heartbeats as long as the lease restarts its peers' silence; a shorter one does not")
    func gaps() {
        let (_, lease) = Self.clock()
        lease.renew(sentAt: Self.wall)
        let shorter = lease.renew(sentAt: Self.wall + 3_749)
        let gap = lease.renew(sentAt: Self.wall + 3_749 + 3_750)
        #expect(!shorter && gap)
    }

    @Test("a member record's timestamp is taken from the epoch to a day ahead; one a foreign producer set near either end of Int64 is not")
    func plausibleTimestamps() {
        for sent in [0, Self.wall, Self.wall + 86_400_000] {
            #expect(MemberClock.isPlausible(sentAt: sent, wallNow: Self.wall), "\(sent)")
        }
        for sent in [Int64.min, -1, Self.wall + 86_400_001, Int64.max] {
            #expect(!MemberClock.isPlausible(sentAt: sent, wallNow: Self.wall), "\(sent)")
        }
    }

    @Test("announcements older than the member timeout are stale only before the unit has read its own heartbeat back")
    func staleness() {
        let (clock, lease) = Self.clock()
        #expect(clock.isStale(sentAt: Self.wall - 6_000, wallNow: Self.wall, timeout: .seconds(5)))
        #expect(!clock.isStale(sentAt: Self.wall - 4_000, wallNow: Self.wall, timeout: .seconds(5)))
        #expect(!clock.isStale(sentAt: nil, wallNow: Self.wall, timeout: .seconds(5)))
        lease.renew(sentAt: Self.wall)
        // A lagging reader still hears them: they say the peer was alive at that point of the log.
        #expect(!clock.isStale(sentAt: Self.wall - 60_000, wallNow: Self.wall, timeout: .seconds(5)))
    }
}

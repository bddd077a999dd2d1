@testable import PumphouseUnit
import Testing

@Suite("Member clock")
struct MemberClockTests {
    static let origin = ContinuousClock.now
    static let wall: Int64 = 1_800_000_000_000

    @Test("log time is the send time of the latest own heartbeat read back, on the continuous clock; none before the first")
    func logTime() {
        var clock = MemberClock(gap: .milliseconds(3_750), now: Self.origin, wall: Self.wall)
        #expect(clock.now == nil)
        let first = clock.echo(sentAt: Self.wall + 1_000)
        #expect(first, "the first heartbeat read back restarts every peer's silence")
        #expect(clock.now == Self.origin.advanced(by: .seconds(1)))
        let next = clock.echo(sentAt: Self.wall + 2_000)
        // An older heartbeat read late (another cache's, sent earlier) does not move it back.
        let older = clock.echo(sentAt: Self.wall + 1_500)
        #expect(!next && !older)
        #expect(clock.now == Self.origin.advanced(by: .seconds(2)))
    }

    @Test("a gap in the unit's own heartbeats as long as the lease restarts its peers' silence; a shorter one does not")
    func gaps() {
        var clock = MemberClock(gap: .milliseconds(3_750), now: Self.origin, wall: Self.wall)
        _ = clock.echo(sentAt: Self.wall)
        let shorter = clock.echo(sentAt: Self.wall + 3_749)
        let gap = clock.echo(sentAt: Self.wall + 3_749 + 3_750)
        #expect(!shorter && gap)
    }

    @Test("announcements older than the member timeout are stale only before the unit has read its own heartbeat back")
    func staleness() {
        var clock = MemberClock(gap: .milliseconds(3_750), now: Self.origin, wall: Self.wall)
        #expect(clock.isStale(sentAt: Self.wall - 6_000, wallNow: Self.wall, timeout: .seconds(5)))
        #expect(!clock.isStale(sentAt: Self.wall - 4_000, wallNow: Self.wall, timeout: .seconds(5)))
        #expect(!clock.isStale(sentAt: nil, wallNow: Self.wall, timeout: .seconds(5)))
        _ = clock.echo(sentAt: Self.wall)
        // A lagging reader still hears them: they say the peer was alive at that point of the log.
        #expect(!clock.isStale(sentAt: Self.wall - 60_000, wallNow: Self.wall, timeout: .seconds(5)))
    }
}

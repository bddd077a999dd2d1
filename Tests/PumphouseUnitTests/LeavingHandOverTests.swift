import Testing

@testable import PumphouseUnit

@Suite("A graceful stop: when a unit hands its partitions over and when it stops")
struct LeavingHandOverTests {
    static let start = ContinuousClock.now

    static func facts(
        owned: Int = 4, stranded: Int = 0, listened: Bool = true, earlier: [String] = [], startedAt: ContinuousClock.Instant? = nil,
        after elapsed: Duration = .zero
    ) -> LeavingHandOver.Facts {
        LeavingHandOver.Facts(
            handable: owned, stranded: stranded, hasListened: listened, earlierPeers: earlier, startedAt: startedAt, timeout: .seconds(5),
            now: start + elapsed
        )
    }

    @Test("it begins when it owns partitions, has heard every member, and every peer that could take over waits for its claims; it goes on until it owns nothing or a member timeout has passed")
    func begins() {
        #expect(LeavingHandOver.step(Self.facts()) == .begin)
        #expect(LeavingHandOver.step(Self.facts(startedAt: Self.start, after: .seconds(1))) == .carryOn)
        #expect(LeavingHandOver.step(Self.facts(owned: 0, startedAt: Self.start, after: .seconds(1))) == .stop(.ownsNothing))
        #expect(LeavingHandOver.step(Self.facts(startedAt: Self.start, after: .milliseconds(4_999))) == .carryOn)
        #expect(LeavingHandOver.step(Self.facts(startedAt: Self.start, after: .seconds(5))) == .stop(.timedOut))
    }

    @Test("it stops at once, leaving its partitions to be claimed on its leave, when it owns none, has not heard every member, has no peer to hand to, or a peer of an earlier version would hand them back")
    func stopsAtOnce() {
        #expect(LeavingHandOver.step(Self.facts(owned: 0)) == .stop(.ownsNothing))
        #expect(LeavingHandOver.step(Self.facts(listened: false)) == .stop(.notListened))
        #expect(LeavingHandOver.step(Self.facts(owned: 0, stranded: 3)) == .stop(.noSuccessor))
        #expect(LeavingHandOver.step(Self.facts(earlier: ["old-1"])) == .stop(.earlierPeers(["old-1"])))
    }

    @Test("an earlier peer that joins after the hand-over began does not end it; the timeout bounds it")
    func earlierPeerJoinsLate() {
        #expect(LeavingHandOver.step(Self.facts(earlier: ["old-1"], startedAt: Self.start, after: .seconds(2))) == .carryOn)
        #expect(LeavingHandOver.step(Self.facts(earlier: ["old-1"], startedAt: Self.start, after: .seconds(6))) == .stop(.timedOut))
    }

    @Test("it decides per cache: partitions of a cache no peer holds neither keep it waiting for the timeout nor stop the hand-over of another cache's")
    func perCache() {
        // One cache has a successor, another none: it hands the first over...
        #expect(LeavingHandOver.step(Self.facts(owned: 4, stranded: 3)) == .begin)
        #expect(LeavingHandOver.step(Self.facts(owned: 2, stranded: 3, startedAt: Self.start, after: .seconds(1))) == .carryOn)
        // ...and stops once that is done, not after the timeout, though it still owns the rest.
        #expect(LeavingHandOver.step(Self.facts(owned: 0, stranded: 3, startedAt: Self.start, after: .seconds(1))) == .stop(.noSuccessor))
        #expect(LeavingHandOver.step(Self.facts(owned: 0, stranded: 0, startedAt: Self.start, after: .seconds(1))) == .stop(.ownsNothing))
    }
}

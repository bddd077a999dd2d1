@testable import PumphouseKafka
import Testing

/// The decisions about gaps in a partition's offsets, without a broker.
@Suite("Offset continuity")
struct OffsetContinuityTests {
    let partition = KafkaTopicPartition(topic: "t", partition: 0)
    let start = ContinuousClock.now

    func at(_ milliseconds: Int) -> ContinuousClock.Instant {
        start.advanced(by: .milliseconds(milliseconds))
    }

    @Test("messages in order are delivered, from a given position or from the first one")
    func inOrder() {
        var continuity = OffsetContinuity(window: .milliseconds(500))
        #expect(continuity.check(partition, offset: 7, now: at(0)) { nil } == .deliver)
        #expect(continuity.check(partition, offset: 8, now: at(0)) { nil } == .deliver)
        continuity.placed(partition, at: 3)
        #expect(continuity.check(partition, offset: 3, now: at(0)) { nil } == .deliver)
        #expect(continuity.reread == 0 && continuity.absent == 0)
    }

    @Test("a gap is read again from its first offset, and records that arrive there are delivered as reread")
    func rereadFills() {
        var continuity = OffsetContinuity(window: .milliseconds(500))
        continuity.placed(partition, at: 10)
        #expect(continuity.check(partition, offset: 10, now: at(0)) { nil } == .deliver)
        #expect(continuity.check(partition, offset: 14, now: at(1)) { nil } == .reread(from: 11))
        // The same gap again, within the window: read again once more.
        #expect(continuity.check(partition, offset: 14, now: at(100)) { nil } == .reread(from: 11))
        #expect(continuity.check(partition, offset: 11, now: at(120)) { nil } == .deliverAfterReread(missing: 11..<14))
        for offset in Int64(12)...15 {
            #expect(continuity.check(partition, offset: offset, now: at(121)) { nil } == .deliver)
        }
        #expect(continuity.reread == 1 && continuity.absent == 0)
    }

    @Test("a gap standing for the window is absent; later gaps below the high watermark of then pass at once, above it are read again")
    func absentAfterWindow() {
        var continuity = OffsetContinuity(window: .milliseconds(500))
        continuity.placed(partition, at: 0)
        #expect(continuity.check(partition, offset: 5, now: at(0)) { 100 } == .reread(from: 0))
        #expect(continuity.check(partition, offset: 5, now: at(499)) { 100 } == .reread(from: 0))
        #expect(continuity.check(partition, offset: 5, now: at(500)) { 100 } == .deliverAfterAbsent(missing: 0..<5, confirmed: true))
        #expect(continuity.check(partition, offset: 9, now: at(501)) { 100 } == .deliverAfterAbsent(missing: 6..<9, confirmed: false))
        #expect(continuity.check(partition, offset: 100, now: at(502)) { 100 } == .deliverAfterAbsent(missing: 10..<100, confirmed: false))
        #expect(continuity.check(partition, offset: 103, now: at(503)) { 200 } == .reread(from: 101))
        #expect(continuity.absent == 3 && continuity.reread == 0)
    }

    @Test("a gap that shrinks while read again keeps its first sighting's time; an unknown watermark takes the offset found")
    func shrinkingGap() {
        var continuity = OffsetContinuity(window: .milliseconds(500))
        continuity.placed(partition, at: 0)
        #expect(continuity.check(partition, offset: 8, now: at(0)) { nil } == .reread(from: 0))
        #expect(continuity.check(partition, offset: 4, now: at(600)) { nil } == .deliverAfterAbsent(missing: 0..<4, confirmed: true))
        #expect(continuity.check(partition, offset: 8, now: at(601)) { nil } == .reread(from: 5))
    }

    @Test("placing a partition forgets its pending gap; partitions are judged apart")
    func placingResets() {
        var continuity = OffsetContinuity(window: .milliseconds(500))
        let other = KafkaTopicPartition(topic: "t", partition: 1)
        continuity.placed(partition, at: 0)
        continuity.placed(other, at: 0)
        #expect(continuity.check(partition, offset: 3, now: at(0)) { nil } == .reread(from: 0))
        #expect(continuity.check(other, offset: 0, now: at(0)) { nil } == .deliver)
        continuity.placed(partition, at: 3)
        #expect(continuity.check(partition, offset: 3, now: at(1)) { nil } == .deliver)
        continuity.removed(other)
        #expect(continuity.check(other, offset: 9, now: at(2)) { nil } == .deliver)
        #expect(continuity.reread == 0 && continuity.absent == 0)
    }

    @Test("an earlier offset than expected is delivered (nothing is skipped by going back) and does not end a pending gap")
    func goingBack() {
        var continuity = OffsetContinuity(window: .milliseconds(500))
        continuity.placed(partition, at: 5)
        #expect(continuity.check(partition, offset: 9, now: at(0)) { nil } == .reread(from: 5))
        #expect(continuity.check(partition, offset: 2, now: at(1)) { nil } == .deliver)
        #expect(continuity.check(partition, offset: 3, now: at(2)) { nil } == .deliver)
        #expect(continuity.check(partition, offset: 5, now: at(3)) { nil } == .reread(from: 4))
    }
}

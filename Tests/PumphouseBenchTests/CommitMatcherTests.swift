import Testing

@testable import PumphouseBench

/// The write-behind benchmark's pairing of changes with the writer's ledger: a sample
/// too early or too late would make every write-behind figure wrong without failing.
@Suite("Commit matcher")
struct CommitMatcherTests {
    let a0 = CommitMatcher.Stream(origin: "a", partition: 0)
    let a1 = CommitMatcher.Stream(origin: "a", partition: 1)

    @Test("changes read before their commit settle at the advance that covers them, in order")
    func readThenCommitted() {
        var matcher = CommitMatcher()
        #expect(matcher.read(a0, sequence: 1, eventTime: 10) == .pending)
        #expect(matcher.read(a0, sequence: 3, eventTime: 11) == .pending)
        #expect(matcher.read(a0, sequence: 7, eventTime: 12) == .pending)
        #expect(matcher.outstanding == 3)
        #expect(matcher.committed(a0, through: 3, at: 100) == [10, 11])
        #expect(matcher.outstanding == 1)
        #expect(matcher.committed(a0, through: 3, at: 200) == [])
        #expect(matcher.committed(a0, through: 9, at: 300) == [12])
        #expect(matcher.outstanding == 0)
    }

    @Test("a change read after its commit takes the first advance that covered it, not the latest")
    func committedThenRead() {
        var matcher = CommitMatcher()
        #expect(matcher.committed(a0, through: 2, at: 100) == [])
        #expect(matcher.committed(a0, through: 5, at: 200) == [])
        #expect(matcher.committed(a0, through: 9, at: 300) == [])
        #expect(matcher.read(a0, sequence: 1, eventTime: 1) == .committed(at: 100))
        #expect(matcher.read(a0, sequence: 3, eventTime: 1) == .committed(at: 200))
        #expect(matcher.read(a0, sequence: 5, eventTime: 1) == .committed(at: 200))
        #expect(matcher.read(a0, sequence: 9, eventTime: 1) == .committed(at: 300))
        #expect(matcher.read(a0, sequence: 10, eventTime: 1) == .pending)
        #expect(matcher.outstanding == 1)
    }

    @Test("a repeated or older ledger value neither settles nor records an advance")
    func staleLedger() {
        var matcher = CommitMatcher()
        #expect(matcher.committed(a0, through: 5, at: 100) == [])
        #expect(matcher.committed(a0, through: 4, at: 200) == [])
        #expect(matcher.committed(a0, through: 5, at: 300) == [])
        #expect(matcher.read(a0, sequence: 5, eventTime: 1) == .committed(at: 100))
    }

    @Test("streams are independent: one origin's partitions advance separately")
    func streams() {
        var matcher = CommitMatcher()
        #expect(matcher.read(a0, sequence: 4, eventTime: 10) == .pending)
        #expect(matcher.read(a1, sequence: 3, eventTime: 20) == .pending)
        #expect(matcher.committed(a1, through: 4, at: 100) == [20])
        #expect(matcher.outstanding == 1)
        #expect(matcher.committed(a0, through: 4, at: 200) == [10])
        #expect(matcher.outstanding == 0)
    }

    @Test("a change read again (a resend) is a duplicate, pending or committed, and settles once")
    func resends() {
        var matcher = CommitMatcher()
        #expect(matcher.read(a0, sequence: 1, eventTime: 10) == .pending)
        #expect(matcher.read(a0, sequence: 2, eventTime: 11) == .pending)
        #expect(matcher.read(a0, sequence: 1, eventTime: 10) == .duplicate)
        #expect(matcher.outstanding == 2)
        #expect(matcher.committed(a0, through: 2, at: 100) == [10, 11])
        #expect(matcher.read(a0, sequence: 2, eventTime: 11) == .duplicate)
        #expect(matcher.read(a1, sequence: 1, eventTime: 12) == .pending)
    }
}

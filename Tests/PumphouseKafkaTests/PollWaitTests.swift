import Testing

@testable import PumphouseKafka

/// The waits librdkafka is given, in its whole milliseconds.
@Suite("Poll waits in milliseconds")
struct PollWaitTests {
    @Test("a wait until a deadline rounds up, so the last fraction of a millisecond is waited, not polled with no wait")
    func roundedUp() {
        #expect(Duration.zero.millisecondsRoundedUp == 0)
        #expect(Duration.microseconds(-300).millisecondsRoundedUp == 0)
        #expect(Duration.nanoseconds(1).millisecondsRoundedUp == 1)
        #expect(Duration.microseconds(700).millisecondsRoundedUp == 1)
        #expect(Duration.milliseconds(20).millisecondsRoundedUp == 20)
        #expect(Duration.microseconds(20_001).millisecondsRoundedUp == 21)
        #expect(Duration.seconds(2).millisecondsRoundedUp == 2000)
        // Settings keep truncating: a configured 1.5 ms linger is 1 ms.
        #expect(Duration.microseconds(1500).milliseconds == 1)
    }
}

import PumphouseBlocking
import Testing

/// The waits librdkafka and libpq are given, in their whole milliseconds, and the
/// trimming of settings and C messages (PumphouseBlocking).
@Suite("Poll waits in milliseconds, and trimming")
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
        #expect(Duration.seconds(3).inSeconds == 3)
        #expect(Duration.milliseconds(250).inSeconds == 0.25)
    }

    @Test("a duration beyond Int64's milliseconds saturates instead of trapping (a timeout that long is for ever)")
    func saturates() {
        #expect(Duration.seconds(Int64.max).milliseconds == .max)
        #expect(Duration.seconds(Int64.max).millisecondsRoundedUp == .max)
        #expect(Duration.seconds(Int64.min).milliseconds == .min)
        #expect(Duration.seconds(Int64.max / 1000).milliseconds == Int64.max / 1000 * 1000)
        #expect(Duration.seconds(-2).milliseconds == -2000)
    }

    @Test("one trimming for settings and C libraries' messages: whitespace and newlines off both ends, none inside")
    func trimming() {
        #expect(" 127.0.0.1:9092 ".trimmingWhitespace() == "127.0.0.1:9092")
        #expect("server closed the connection unexpectedly\n\tThis probably means...\n".trimmingWhitespace() == "server closed the connection unexpectedly\n\tThis probably means...")
        #expect("a, b".split(separator: ",").map { $0.trimmingWhitespace() } == ["a", "b"])
        #expect(" \n ".trimmingWhitespace().isEmpty)
    }
}

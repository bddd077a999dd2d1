import ArgumentParser

/// What a benchmark at a set rate takes: the rate, a warm-up, the measured window, and
/// the suffix of its figures' keys.
struct RateWindowOptions: ParsableArguments {
    @Option(help: "Changes (or messages) per second, over all units (or members).")
    var rate: Int

    @Option(help: "Seconds measured, after the warm-up.")
    var seconds: Int = 20

    @Option(help: "Seconds of traffic before the measured window.")
    var warmupSeconds: Int = 3

    @Option(help: "Suffix of the figures' keys, e.g. 10k.")
    var label: String

    func validate() throws {
        guard rate > 0 else { throw ValidationError("--rate must be at least 1") }
        guard seconds > 0, warmupSeconds >= 0 else { throw ValidationError("--seconds must be at least 1 and --warmup-seconds at least 0") }
        guard !label.isEmpty, label.allSatisfy({ $0.isLetter || $0.isNumber }) else { throw ValidationError("--label must be letters and digits, e.g. 10k") }
    }

    /// Lets the traffic run through the warm-up, and then until `warmedUp` returns, then
    /// through the window, calling `recording` with true and the wall-clock millisecond
    /// as it opens and with false as it closes; returns the window's bounds. The window
    /// is a span of time to measure over, not a wait for an event.
    func measure(warmedUp: () async throws -> Void = {}, _ recording: (_ on: Bool, _ atMilliseconds: Int64) -> Void) async throws -> (start: Int64, end: Int64) {
        try await Task.sleep(for: .seconds(warmupSeconds))
        try await warmedUp()
        let start = CommitObserver.nowMicroseconds() / 1000
        recording(true, start)
        try await Task.sleep(for: .seconds(seconds))
        let end = CommitObserver.nowMicroseconds() / 1000
        recording(false, end)
        return (start, end)
    }
}

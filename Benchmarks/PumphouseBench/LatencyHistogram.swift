import Histogram
import Synchronization

/// Latency samples in microseconds, every one kept (HDR, three significant digits),
/// shared between the tasks that record and the one that reads percentiles.
final class LatencyHistogram: Sendable {
    private let histogram = Mutex(Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three))
    /// Samples taken while this is off (start-up, warm-up, drain) are dropped.
    let isRecording: Atomic<Bool>

    init(recording: Bool) {
        isRecording = Atomic(recording)
    }

    func record(microseconds: Int64) {
        guard isRecording.load(ordering: .relaxed) else { return }
        histogram.withLock { _ = $0.record(UInt64(max(0, microseconds))) }
    }

    var count: UInt64 { histogram.withLock { $0.totalCount } }

    /// The value at `percentile` (0–100) in milliseconds.
    func milliseconds(at percentile: Double) -> Double {
        histogram.withLock { Double($0.valueAtPercentile(percentile)) / 1000 }
    }

    var maxMilliseconds: Double { histogram.withLock { Double($0.max) / 1000 } }
}

import CoreMetrics

/// The metrics backend of the latency benchmark's process. A unit records replication
/// lag (change made at a peer to change applied here) as a timer; this keeps every
/// sample in an HDR histogram, where /metrics would only give bucket bounds. Other
/// metrics go nowhere.
final class ReplicationLagCapture: MetricsFactory, Sendable {
    static let label = "pumphouse_unit_replication_lag_seconds"
    let lag = LatencyHistogram(recording: false)

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler { NOOPMetricsHandler.instance }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler { NOOPMetricsHandler.instance }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        label == Self.label ? LagTimer(capture: self) : NOOPMetricsHandler.instance
    }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}

    private final class LagTimer: TimerHandler, Sendable {
        let capture: ReplicationLagCapture
        init(capture: ReplicationLagCapture) { self.capture = capture }
        func recordNanoseconds(_ duration: Int64) {
            capture.lag.record(microseconds: duration / 1000)
        }
    }
}

import CoreMetrics
import MetricsTestKit

/// swift-metrics' backend in the test process. It can be bootstrapped once per process,
/// so every suite that reads a metric shares this one; only metrics made after its first
/// use are recorded (a suite touches `shared` before it makes the units or routers whose
/// metrics it reads).
public enum TestMetricsBackend {
    /// Bootstraps it, if this is the first use in the process.
    public static func bootstrap() { _ = shared }

    public static let shared: TestMetrics = {
        let metrics = TestMetrics()
        MetricsSystem.bootstrap(metrics)
        return metrics
    }()

    /// The total of the counter `label` with exactly `dimensions`, in order; 0 if it was
    /// never made (a counter is made on first use).
    public static func counter(_ label: String, _ dimensions: [(String, String)]) -> Int64 {
        (try? shared.expectCounter(label, dimensions).totalValue) ?? 0
    }
}

import PumphouseCommandLine
import Testing

@testable import PumphouseCLI

/// The pieces of `plan collisions --from-pipeline` that need no pipeline: reading a
/// scrape's samples and the quantile of the replication-lag histogram.
@Suite("Collision sampling: samples and quantiles")
struct CollisionSamplingTests {
    @Test("samples of one metric with their labels, escapes decoded; other metrics, prefixes of the name and malformed lines are passed over")
    func samples() {
        let text = """
            # TYPE pumphouse_unit_changes_total counter
            pumphouse_unit_changes_total{unit="u-1",cache="bench.Account"} 42
            pumphouse_unit_changes_total{unit="u\\"2",cache="shop.Cart\\\\x"} 7.5
            pumphouse_unit_changes_total_extra{unit="u-1"} 9
            pumphouse_unit_changes_total 3
            pumphouse_unit_changes_total{unit="broken} 1
            pumphouse_unit_changes_total{unit="u-3"} not-a-number
            other_metric{unit="u-1"} 1
            """
        let samples = PrometheusSample.samples(of: "pumphouse_unit_changes_total", in: text)
        #expect(samples.map(\.value) == [42, 7.5, 3])
        #expect(samples[0].label("cache") == "bench.Account" && samples[0].label("unit") == "u-1")
        #expect(samples[1].label("unit") == "u\"2" && samples[1].label("cache") == "shop.Cart\\x")
        #expect(samples[2].labels.isEmpty && samples[0].label("le") == nil)
    }

    @Test("the p99 of a cumulative histogram is interpolated within its bucket, as histogram_quantile does; above the last finite bound it is that bound; an empty histogram has none")
    func quantile() {
        // 100 samples: 50 up to 5 ms, 90 up to 10 ms, 100 up to 20 ms.
        let histogram: [Double: Double] = [0.005: 50, 0.01: 90, 0.02: 100, .infinity: 100]
        #expect(CollisionSampling.quantile(0.5, of: histogram) == .milliseconds(5))
        let p99 = CollisionSampling.quantile(0.99, of: histogram).map { $0 / .microseconds(1) }
        #expect(p99.map { abs($0 - 19_000) < 1 } == true, "\(String(describing: p99)) µs")
        #expect(CollisionSampling.quantile(0.99, of: [0.005: 10, .infinity: 100]) == .milliseconds(5))
        #expect(CollisionSampling.quantile(0.99, of: [:]) == nil && CollisionSampling.quantile(0.99, of: [0.01: 0, .infinity: 0]) == nil)
    }

    @Test("the plan warns a replicated cache is a poor fit from one update in a thousand colliding at the peak, forecast or counted")
    func poorFit() {
        func plan(units: Int, rate: Double, size: Int, latencyMs: Int64, changes: Double, counted: Int) -> CollisionPlan {
            CollisionPlan(cache: "bench.Account", measurement: CollisionSampling.Measurement(
                cache: "bench.Account", units: units, window: .seconds(10), intervals: 1, changes: changes, normalRate: rate, peakRate: rate, minimumRate: rate, cacheSize: size,
                replicationLatencyP99: .milliseconds(latencyMs), peerChangesApplied: 100, collisionsCounted: counted, unreachable: []
            ))
        }
        // The chapter's examples: 0.02% is a fit, 0.1% (10,000 rows) is not.
        #expect(!plan(units: 5, rate: 20, size: 50_000, latencyMs: 100, changes: 200, counted: 0).poorFit)
        #expect(plan(units: 5, rate: 20, size: 10_000, latencyMs: 100, changes: 200, counted: 0).poorFit)
        #expect(plan(units: 5, rate: 20, size: 50_000, latencyMs: 100, changes: 200, counted: 1).poorFit, "1 counted in 200 changes")
        #expect(plan(units: 5, rate: 20, size: 10_000, latencyMs: 100, changes: 200, counted: 0).text.contains("warning: at this load 0.1% or more"))
        #expect(CollisionPlan(cache: "bench.Account", measurement: nil).text.contains("no loaded unit announced itself"))
    }
}

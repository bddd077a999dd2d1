import Foundation
import PumphouseCommandLine

/// What the demo measured and checked, printed as one table at the end.
struct DemoReport {
    var failures: [String] = []
    var checks: [(name: String, problem: String?)] = []
    /// One on-sale burst as the buyers saw it.
    struct Burst {
        /// Seat labels per concert id.
        var labels: [String: [String]] = [:]
        var outcome = OnSale.Outcome()
        var duration: Duration = .zero
        var latencies: [Duration] = []
        /// Buyers told 201, per contested seat label.
        var contestedWins: [String: Int] = [:]
    }

    var units = Burst()
    /// The same on-sale against the database-first twin, when it ran.
    var twin: Burst?
    var contestedSeats = 0
    /// The routing table the units agreed on before the on-sale: `cache[partition] owner@term`.
    var routing: [String] = []
    var unitMetrics = PrometheusText()
    var writeBehindSamples: [Int64] = []
    var rebuild: Duration = .zero
    var drain: Duration = .zero
    var sales = 0
    var deadLetters = 0
    /// Ownership claims that lost a race for their term: dead letters that change nothing.
    var staleClaims = 0

    mutating func check(_ name: String, _ problem: String?) {
        checks.append((name, problem))
        if let problem { failures.append("\(name): \(problem)") }
    }


    func print(logs: String) {
        func ms(_ d: Duration) -> String { String(format: "%.1f ms", d / .milliseconds(1)) }
        func percentile(_ sorted: [Duration], _ p: Double) -> String {
            sorted.isEmpty ? "n/a" : ms(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))])
        }
        func rate(_ count: Int, _ burst: Burst) -> Double { Double(count) / max(burst.duration / .seconds(1), 0.001) }
        func figures(_ burst: Burst) -> (orders: String, requests: String, latency: String) {
            let sorted = burst.latencies.sorted()
            let outcome = burst.outcome
            return (
                "\(outcome.orders.count) (\(String(format: "%.0f", rate(outcome.orders.count, burst)))/s over \(String(format: "%.1f", burst.duration / .seconds(1))) s)",
                "\(outcome.requests) (\(String(format: "%.0f", rate(outcome.requests, burst)))/s); taken-seat refusals \(outcome.conflicts); unconfirmed \(outcome.unconfirmed); errors \(outcome.errors.count)",
                "p50 \(percentile(sorted, 0.50)), p99 \(percentile(sorted, 0.99)) (\(sorted.count) requests)"
            )
        }
        let samples = writeBehindSamples.sorted()
        let mine = figures(units)
        var rows: [(String, String)] = [
            ("routing", routing.isEmpty ? "no partitioned cache" : routing.joined(separator: ", ")),
            ("orders", mine.orders),
            ("requests", mine.requests),
            ("request latency", mine.latency),
            ("contested seats", "\(contestedSeats) seats, each wanted by two buyers at two units at once: \(units.contestedWins.count) sold, \(units.contestedWins.values.filter { $0 > 1 }.count) confirmed twice"),
            ("collisions", "\(Int(unitMetrics.sum("pumphouse_unit_collisions_total"))) (concurrent changes resolved by log order)"),
            ("replication lag", "p99 \(unitMetrics.quantile("pumphouse_unit_replication_lag_seconds", 0.99).map { String(format: "≤ %.1f ms", $0 * 1000) } ?? "n/a") (histogram buckets, all units)"),
            ("write-behind lag", samples.isEmpty ? "n/a" : "p50 \(samples[samples.count / 2]) ms, p99 \(samples[min(samples.count - 1, samples.count * 99 / 100)]) ms (age of the newest sale in PostgreSQL, \(samples.count) samples)"),
            ("rebuild", "\(String(format: "%.1f", rebuild / .seconds(1))) s from restart to three units loaded"),
            ("writer drained", "\(String(format: "%.1f", drain / .seconds(1))) s after the rebuild, \(sales) sales in PostgreSQL"),
            ("dead letters", "\(deadLetters)\(staleClaims > 0 ? " (and \(staleClaims) ownership claim(s) that lost a race for their term, which change nothing)" : "")"),
        ]
        if let twin {
            // The same buyers against the database-first twin: the comparison a user makes
            // before adopting Pumphouse (a closed burst here; `make bench` measures both
            // open loop, at offered rates).
            let theirs = figures(twin)
            rows += [
                ("twin orders", theirs.orders),
                ("twin requests", theirs.requests),
                ("twin latency", theirs.latency),
                ("units : twin", String(format: "%.2fx the twin's requests/s", rate(units.outcome.requests, units) / max(rate(twin.outcome.requests, twin), 0.001))),
            ]
        }
        rows += checks.map { ($0.problem == nil ? "✔ check" : "✘ check", $0.problem.map { "\($0)" } ?? $0.name) }
        let width = rows.map(\.0.count).max() ?? 0
        var text = "\nPumphouse ticketing demo\n"
        for (name, value) in rows { text += name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value + "\n" }
        text += failures.isEmpty ? "\nevery check passed\n" : "\nFAILED:\n" + failures.map { "  - \($0)\n" }.joined() + "logs: \(logs)\n"
        Swift.print(text)
    }
}

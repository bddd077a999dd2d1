/// Just enough of the Prometheus text format to add up counters and histograms across
/// the /metrics of a demo's processes.
package struct PrometheusText {
    private var values: [String: Double] = [:]  // metric name (with `le` for buckets) to summed value

    package init() {}

    package mutating func add(_ text: String) {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            let series = line[..<space]
            let name = series.firstIndex(of: "{").map { String(series[..<$0]) } ?? String(series)
            var key = name
            if let le = series.range(of: "le=\"") {
                key += "@" + series[le.upperBound...].prefix { $0 != "\"" }
            }
            values[key, default: 0] += value
        }
    }

    package func sum(_ name: String) -> Double { values[name] ?? 0 }

    /// The upper bound of the bucket holding quantile `q`, in the histogram's unit.
    package func quantile(_ name: String, _ q: Double) -> Double? {
        let buckets = values.compactMap { key, value -> (Double, Double)? in
            guard key.hasPrefix(name + "_bucket@"), let bound = Double(key.dropFirst(name.count + 8)) else { return nil }
            return (bound, value)
        }.sorted { $0.0 < $1.0 }
        guard let total = values[name + "_bucket@+Inf"] ?? buckets.last?.1, total > 0 else { return nil }
        return buckets.first { $0.1 >= q * total }?.0
    }
}

extension PrometheusText {
    /// A metric summed over its series in `text`, leaving out series whose labels hold
    /// any of `excluding` (`name="value"` pairs).
    package static func sum(_ metric: String, in text: String, excluding: [String] = []) -> Int {
        var total = PrometheusText()
        total.add(excluding.isEmpty ? text : text.split(separator: "\n").filter { line in !excluding.contains { line.contains($0) } }.joined(separator: "\n"))
        return Int(total.sum(metric))
    }
}

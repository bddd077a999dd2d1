/// Just enough of the Prometheus text format to add up counters and histograms across
/// the /metrics of a demo's processes.
package struct PrometheusText {
    private var values: [String: Double] = [:]  // metric name (with `le` for buckets) to summed value

    package init() {}

    package mutating func add(_ text: String) {
        for line in text.split(separator: "\n") {
            guard let (name, sample) = PrometheusSample.parse(line) else { continue }
            values[sample.label("le").map { "\(name)@\($0)" } ?? String(name), default: 0] += sample.value
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

/// One sample of a metric in the Prometheus text format: its labels as written and its
/// value.
package struct PrometheusSample: Sendable, Equatable {
    package var labels: [Label]
    package var value: Double

    package struct Label: Sendable, Equatable {
        package var name: String
        package var value: String
    }

    /// The value of label `name` (names told apart by their bytes), nil if absent.
    package func label(_ name: String) -> String? {
        labels.first { $0.name.utf8.elementsEqual(name.utf8) }?.value
    }

    /// The samples of `metric` in `text` (a /metrics answer), in order. Lines that are not
    /// well-formed samples are passed over: a scrape is read for what it holds.
    package static func samples(of metric: String, in text: String) -> [PrometheusSample] {
        text.split(separator: "\n").compactMap { line in
            parse(line).flatMap { $0.name.utf8.elementsEqual(metric.utf8) ? $0.sample : nil }
        }
    }

    /// One line of the text format as a sample and its metric's name; nil for a comment
    /// or a line that is not a well-formed sample.
    package static func parse(_ line: Substring) -> (name: Substring, sample: PrometheusSample)? {
        let utf8 = line.utf8
        guard !line.hasPrefix("#"),
              let nameEnd = utf8.firstIndex(where: { $0 == UInt8(ascii: "{") || $0 == UInt8(ascii: " ") }), nameEnd != utf8.startIndex
        else { return nil }
        var index = nameEnd
        var labels: [Label] = []
        if utf8[nameEnd] == UInt8(ascii: "{") {
            guard let parsed = Self.labels(Substring(utf8[utf8.index(after: nameEnd)...]), end: &index) else { return nil }
            labels = parsed
        }
        let valueText = Substring(utf8[index...]).trimmingCharacters(in: .whitespaces)
        guard let value = Double(valueText.split(separator: " ").first ?? "") else { return nil }
        return (Substring(utf8[..<nameEnd]), PrometheusSample(labels: labels, value: value))
    }

    /// `name="value",...}` (the text after a sample's brace): its labels, and in `end` the
    /// position after the closing brace; nil if malformed.
    private static func labels(_ text: Substring, end: inout Substring.UTF8View.Index) -> [Label]? {
        var labels: [Label] = []
        var utf8 = text.utf8[...]
        while true {
            if utf8.first == UInt8(ascii: "}") {
                end = utf8.index(after: utf8.startIndex)
                return labels
            }
            guard let equals = utf8.firstIndex(of: UInt8(ascii: "=")), utf8[utf8.index(after: equals)...].first == UInt8(ascii: "\"") else { return nil }
            let name = String(Substring(utf8[..<equals]))
            var value: [UInt8] = []
            var cursor = utf8.index(equals, offsetBy: 2)
            while cursor < utf8.endIndex, utf8[cursor] != UInt8(ascii: "\"") {
                if utf8[cursor] == UInt8(ascii: "\\"), utf8.index(after: cursor) < utf8.endIndex {
                    cursor = utf8.index(after: cursor)
                    value.append(utf8[cursor] == UInt8(ascii: "n") ? 0x0A : utf8[cursor])
                } else {
                    value.append(utf8[cursor])
                }
                cursor = utf8.index(after: cursor)
            }
            guard cursor < utf8.endIndex else { return nil }
            labels.append(Label(name: name, value: String(decoding: value, as: UTF8.self)))
            utf8 = utf8[utf8.index(after: cursor)...]
            if utf8.first == UInt8(ascii: ",") { utf8 = utf8.dropFirst() }
        }
    }
}

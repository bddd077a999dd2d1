import Foundation

/// How a benchmark hands its results to the run: a `key=value` line on standard output
/// per figure, and a readable line on standard error.
enum Figures {
    static func report(_ key: String, _ value: Double) {
        let text = value.rounded() == value || abs(value) >= 1000 ? String(Int64(value.rounded())) : String(format: "%.3f", value)
        print("\(key)=\(text)")
    }

    static func say(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// Waits for `condition` by polling it, for measuring the moment something settles (the
/// poll interval bounds the error); gives up after `timeout` with an error naming `what`.
func awaitCondition(_ what: String, timeout: Duration, every interval: Duration = .milliseconds(1), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw BenchmarkFailure("gave up after \(timeout) waiting for \(what)") }
        try await Task.sleep(for: interval)
    }
}

struct BenchmarkFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

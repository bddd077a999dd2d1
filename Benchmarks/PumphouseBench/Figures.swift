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

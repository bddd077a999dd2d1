/// A benchmark that cannot produce its figure says why, instead of printing a wrong one.
struct BenchmarkFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

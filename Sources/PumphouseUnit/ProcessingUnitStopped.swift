/// The unit stopped before its caches were loaded: `loaded()` will never return.
public struct ProcessingUnitStopped: Error, CustomStringConvertible {
    public let unit: String
    /// What stopped it; nil when it was shut down.
    public let cause: (any Error)?

    public init(unit: String, cause: (any Error)?) {
        self.unit = unit
        self.cause = cause
    }

    public var description: String {
        "unit \(unit) stopped before its caches were loaded" + (cause.map { ": \($0)" } ?? "")
    }
}

import Logging

/// A log handler that hands every event to the test, for tests that check what was
/// logged (a truncation named, a handle destroyed on its owner's thread).
public struct RecordingLogHandler: LogHandler {
    public var logLevel: Logger.Level = .trace
    public var metadata: Logger.Metadata = [:]
    private let record: @Sendable (LogEvent) -> Void

    public init(_ record: @escaping @Sendable (LogEvent) -> Void) {
        self.record = record
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        record(event)
    }
}

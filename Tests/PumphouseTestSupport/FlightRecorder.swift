import Foundation
import Logging
import Synchronization

/// Keeps the last lines units logged, at info and above, so a test that fails only now
/// and then (on a loaded CI machine, say) shows what the units did just before, without
/// making every passing run verbose.
public final class FlightRecorder: Sendable {
    private let lines = Mutex<[String]>([])
    private let capacity: Int
    private let started = ContinuousClock.now

    public init(capacity: Int = 200) {
        self.capacity = capacity
    }

    /// A logger for one unit whose lines this recorder keeps, and that still logs as
    /// `TestStack.logger` does.
    public func logger(_ label: String, unit: String) -> Logger {
        let forwarded = TestStack.logger(label)
        var logger = Logger(label: label) { [self] _ in
            RecordingLogHandler { event in
                self.record("\(unit) \(event.level): \(event.message)")
                if event.level >= forwarded.logLevel {
                    forwarded.log(level: event.level, event.message, metadata: event.metadata, source: event.source, file: event.file, function: event.function, line: event.line)
                }
            }
        }
        logger.logLevel = min(.info, forwarded.logLevel)
        return logger
    }

    /// Adds a line, stamped with the seconds since the recorder was made.
    public func record(_ line: String) {
        let elapsed = ContinuousClock.now - started
        let stamp = String(format: "%8.3f", Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        lines.withLock { lines in
            if lines.count == capacity { lines.removeFirst() }
            lines.append("\(stamp) \(line)")
        }
    }

    /// The lines kept, oldest first.
    public var dump: String {
        lines.withLock { $0.joined(separator: "\n") }
    }
}

/// A test failure with what the units logged before it.
public struct Diagnosed: Error, CustomStringConvertible {
    public var failure: any Error
    public var log: String

    public init(failure: any Error, log: String) {
        self.failure = failure
        self.log = log
    }

    public var description: String { "\(failure)\n--- what the units logged last ---\n\(log)" }
}

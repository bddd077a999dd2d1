import Foundation
import Logging

extension TestStack {
    /// A logger for test fixtures: warnings and errors only, so a passing run stays
    /// readable and a failing one still shows what the clients complained about.
    /// `PUMPHOUSE_TEST_LOG_LEVEL` (trace ... critical) lowers it to chase a failure.
    public static func logger(_ label: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = ProcessInfo.processInfo.environment["PUMPHOUSE_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        return logger
    }
}

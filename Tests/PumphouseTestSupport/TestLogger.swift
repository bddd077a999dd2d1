import Logging

extension TestStack {
    /// A logger for test fixtures: warnings and errors only, so a passing run stays
    /// readable and a failing one still shows what the clients complained about.
    public static func logger(_ label: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = .warning
        return logger
    }
}

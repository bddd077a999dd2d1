import Logging

/// How a process logs, chosen by `PUMPHOUSE_LOG_FORMAT` (`text`, the default, or
/// `json`) and `PUMPHOUSE_LOG_LEVEL` (swift-log's levels; default `info`).
package struct LogSettings: Sendable, Hashable {
    package enum Format: String, Sendable, CaseIterable {
        case text, json
    }

    package var format: Format
    package var level: Logger.Level

    package struct Invalid: Error, CustomStringConvertible {
        package let description: String
    }

    package static func from(environment: [String: String]) throws(Invalid) -> LogSettings {
        var settings = LogSettings(format: .text, level: .info)
        if let text = environment["PUMPHOUSE_LOG_FORMAT"], !text.isEmpty {
            guard let format = Format(rawValue: text.lowercased()) else {
                throw Invalid(description: "PUMPHOUSE_LOG_FORMAT=\(text) is not a log format; use text or json")
            }
            settings.format = format
        }
        if let text = environment["PUMPHOUSE_LOG_LEVEL"], !text.isEmpty {
            guard let level = Logger.Level(rawValue: text.lowercased()) else {
                throw Invalid(description: "PUMPHOUSE_LOG_LEVEL=\(text) is not a log level; use one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            settings.level = level
        }
        return settings
    }

    /// Installs the handler for the whole process; call once, before any logger is made.
    package func bootstrap() {
        let (format, level) = (self.format, self.level)
        LoggingSystem.bootstrap { label in
            switch format {
            case .json:
                return JSONLogHandler(label: label, level: level)
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        }
    }
}

import Foundation
import Logging

/// One JSON object per line on standard error, for log collectors that index fields
/// (Loki, Elasticsearch, Cloud Logging) instead of parsing text.
///
/// Fields: `time` (ISO 8601, UTC, milliseconds), `level`, `logger` (the label),
/// `message`, `source` (the module), and every metadata key at the top level, so a
/// writer's `caches` or `group` can be filtered on directly. Metadata that would clash
/// with a fixed field is prefixed with `meta.`.
package struct JSONLogHandler: LogHandler {
    package var logLevel: Logger.Level
    package var metadata: Logger.Metadata = [:]
    package var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let sink: @Sendable (Data) -> Void

    private static let fixedFields: Set<String> = ["time", "level", "logger", "message", "source"]

    package init(label: String, level: Logger.Level, metadataProvider: Logger.MetadataProvider? = nil, sink: @escaping @Sendable (Data) -> Void = JSONLogHandler.standardError) {
        self.label = label
        self.logLevel = level
        self.metadataProvider = metadataProvider
        self.sink = sink
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        var fields: [String: String] = [
            "time": Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)),
            "level": event.level.rawValue,
            "logger": label,
            "message": "\(event.message)",
            "source": event.source,
        ]
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        for (key, value) in merged {
            fields[Self.fixedFields.contains(key) ? "meta.\(key)" : key] = "\(value)"
        }
        guard var line = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        line.append(0x0A)
        sink(line)
    }

    package static let standardError: @Sendable (Data) -> Void = { FileHandle.standardError.write($0) }
}

/// A problem in the pipeline file, naming the setting (as a dotted path) and the fix.
public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    public let file: String
    /// e.g. `caches.bench.Account.partitions`; empty for the file as a whole.
    public let setting: String
    public let message: String

    public init(file: String, setting: String, message: String) {
        self.file = file
        self.setting = setting
        self.message = message
    }

    public var description: String {
        setting.isEmpty ? "\(file): \(message)" : "\(file): \(setting): \(message)"
    }
}

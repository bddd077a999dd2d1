import Foundation
import PumphouseContracts
import PumphouseKafka

/// Typed, strict access to one mapping of the pipeline file. Every accessor names the
/// setting in its error, and `finish` rejects keys nobody asked for, so a misspelled
/// setting is an error instead of a silently ignored default.
struct ConfigurationReader {
    let file: String
    let path: String
    let object: JSONObject
    private var consumed = Set<String>()

    /// With `keys`, unknown keys are reported at once: a misspelled key explains a
    /// "missing" one better than the missing one does.
    init(file: String, path: String, value: JSONValue, keys: [String]? = nil) throws(ConfigurationError) {
        guard case .object(let object) = value else {
            throw ConfigurationError(file: file, setting: path, message: "must be a mapping, not \(value.typeName)")
        }
        self.file = file
        self.path = path
        self.object = object
        if let keys, let unknown = object.first(where: { !keys.contains($0.name) }) {
            throw fail(unknown.name, "is not a setting here; known settings: \(keys.sorted().joined(separator: ", "))")
        }
    }

    /// A reader for an absent section, so its required keys report themselves.
    static func empty(file: String, path: String) -> ConfigurationReader {
        ConfigurationReader(file: file, path: path, object: JSONObject())
    }

    private init(file: String, path: String, object: JSONObject) {
        self.file = file
        self.path = path
        self.object = object
    }

    func setting(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func fail(_ key: String, _ message: String) -> ConfigurationError {
        ConfigurationError(file: file, setting: setting(key), message: message)
    }

    mutating func value(_ key: String) -> JSONValue? {
        consumed.insert(key)
        return object[key]
    }

    mutating func string(_ key: String) throws(ConfigurationError) -> String? {
        guard let value = value(key) else { return nil }
        switch value {
        case .string(let text) where !text.isEmpty: return text
        case .int(let i): return String(i)
        default: throw fail(key, "must be a non-empty string, not \(value.typeName)")
        }
    }

    /// One of a fixed set of words, told apart by their bytes as every name the pipeline
    /// file compares; any other word is an error that lists the set.
    mutating func choice<Choice: RawRepresentable & CaseIterable>(_ key: String, of _: Choice.Type) throws(ConfigurationError) -> Choice?
    where Choice.RawValue == String {
        guard let word = try string(key) else { return nil }
        guard let chosen = Choice.allCases.first(where: { $0.rawValue.isSameBytes(as: word) }) else {
            let names = Choice.allCases.map(\.rawValue)
            let listed = names.count > 1 ? "\(names.dropLast().joined(separator: ", ")) or \(names.last!)" : names.joined()
            throw fail(key, "must be \(listed), not \"\(word)\"")
        }
        return chosen
    }

    /// A topic name Kafka accepts: a bad one would otherwise fail `topics create` half-way.
    mutating func topic(_ key: String) throws(ConfigurationError) -> String? {
        guard let name = try string(key) else { return nil }
        if let problem = KafkaTopicSpecification.nameProblem(name) { throw fail(key, problem) }
        return name
    }

    /// The topic `key` names, or else `derived`, which is held to the same rules: a long
    /// name it is derived from (`from`) can make it too long.
    mutating func topic(_ key: String, derivedAs derived: String, from origin: String) throws(ConfigurationError) -> String {
        if let name = try topic(key) { return name }
        if let problem = KafkaTopicSpecification.nameProblem(derived) {
            throw fail(key, "derived from \(origin) as \(problem); set \(key) to a shorter name")
        }
        return derived
    }

    mutating func requiredString(_ key: String, hint: String) throws(ConfigurationError) -> String {
        guard let text = try string(key) else { throw fail(key, "is required: \(hint)") }
        return text
    }

    mutating func integer(_ key: String, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int? {
        guard let value = value(key) else { return nil }
        guard case .int(let i) = value, range.contains(Int(i)) else {
            throw fail(key, "must be a whole number from \(range.lowerBound) to \(range.upperBound), not \(Self.render(value))")
        }
        return Int(i)
    }

    mutating func strings(_ key: String) throws(ConfigurationError) -> [String]? {
        guard let value = value(key) else { return nil }
        if case .string(let single) = value { return [single] }
        guard case .array(let items) = value else { throw fail(key, "must be a list of strings") }
        var result: [String] = []
        for item in items {
            guard case .string(let text) = item, !text.isEmpty else { throw fail(key, "must be a list of non-empty strings") }
            result.append(text)
        }
        return result
    }

    /// A string that may be given inline, or as `{file: PATH}` or `{env: NAME}` so that
    /// secrets stay out of the file. Files are read relative to the pipeline file.
    mutating func secret(_ key: String, environment: [String: String], baseDirectory: String) throws(ConfigurationError) -> String? {
        guard let value = value(key) else { return nil }
        return try Self.resolveSecret(value, setting: setting(key), file: file, environment: environment, baseDirectory: baseDirectory)
    }

    static func resolveSecret(_ value: JSONValue, setting: String, file: String, environment: [String: String], baseDirectory: String) throws(ConfigurationError) -> String {
        switch value {
        case .string(let text): return text
        case .int(let i): return String(i)
        case .object(let source) where source.count == 1:
            if case .string(let path)? = source["file"] {
                let full = path.hasPrefix("/") ? path : "\(baseDirectory)/\(path)"
                guard let text = try? String(contentsOfFile: full, encoding: .utf8) else {
                    throw ConfigurationError(file: file, setting: setting, message: "cannot read the secret file \(full)")
                }
                return String(text.reversed().drop(while: \.isNewline).reversed())
            }
            if case .string(let name)? = source["env"] {
                guard let text = environment[name], !text.isEmpty else {
                    throw ConfigurationError(file: file, setting: setting, message: "environment variable \(name) is not set")
                }
                return text
            }
            fallthrough
        default:
            throw ConfigurationError(file: file, setting: setting, message: "must be a string, {file: PATH} or {env: NAME}")
        }
    }

    mutating func mapping(_ key: String, keys: [String]? = nil) throws(ConfigurationError) -> ConfigurationReader? {
        guard let value = value(key) else { return nil }
        return try ConfigurationReader(file: file, path: setting(key), value: value, keys: keys)
    }

    /// Fails on any key that was not read.
    func finish() throws(ConfigurationError) {
        if let unknown = object.first(where: { !consumed.contains($0.name) }) {
            let known = consumed.sorted().joined(separator: ", ")
            throw fail(unknown.name, "is not a setting here; known settings: \(known)")
        }
    }

    static func render(_ value: JSONValue) -> String {
        (try? JSONWriter.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? value.typeName
    }
}

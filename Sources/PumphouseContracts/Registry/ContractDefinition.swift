/// What `Schemas/<contract>/contract.yaml` declares about a contract, besides its schemas.
///
/// ```yaml
/// topic: bench.account          # default: the contract name
/// key: id                       # the field that holds the entity key
/// compatibility: BACKWARD       # default BACKWARD
/// upcast:                       # one entry per version step, oldest first
///   - from: 1                   # v1 -> v2
///     rename: { acct: id }
///     defaults: { currency: EUR }
///     widen: { balance: number }
/// ```
public struct ContractDefinition: Sendable, Hashable {
    public var topic: String
    public var keyField: String
    public var compatibility: CompatibilityMode
    /// Declarative steps keyed by the version they start from.
    public var upcasts: [Int: UpcastStep]

    public init(topic: String, keyField: String, compatibility: CompatibilityMode = .backward, upcasts: [Int: UpcastStep] = [:]) {
        self.topic = topic
        self.keyField = keyField
        self.compatibility = compatibility
        self.upcasts = upcasts
    }

    static let keys: Set<String> = ["topic", "key", "compatibility", "upcast"]

    package static func parse(_ text: String, contract: ContractName, file: String) throws(ContractDefinitionError) -> ContractDefinition {
        guard case .object(let root) = try YAMLDocument.parse(text, file: file) else {
            throw ContractDefinitionError(file: file, pointer: "", message: "must be a mapping with at least \"key\"")
        }
        func fail(_ pointer: String, _ message: String) -> ContractDefinitionError {
            ContractDefinitionError(file: file, pointer: pointer, message: message)
        }
        if let unknown = root.first(where: { !keys.contains($0.name) }) {
            throw fail("/\(unknown.name)", "unknown key \"\(unknown.name)\"; allowed: \(keys.sorted().joined(separator: ", "))")
        }
        guard case .string(let key)? = root["key"], !key.isEmpty else {
            throw fail("/key", "required: the name of the field that holds the entity key")
        }
        var topic = contract.rawValue
        if let value = root["topic"] {
            guard case .string(let text) = value, !text.isEmpty else { throw fail("/topic", "must be a topic name") }
            topic = text
        }
        var mode = CompatibilityMode.backward
        if let value = root["compatibility"] {
            guard case .string(let text) = value, let parsed = CompatibilityMode(parsing: text) else {
                throw fail("/compatibility", "must be one of \(CompatibilityMode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            mode = parsed
        }
        var upcasts: [Int: UpcastStep] = [:]
        if let value = root["upcast"] {
            guard case .array(let steps) = value else { throw fail("/upcast", "must be a list of steps") }
            for (index, step) in steps.enumerated() {
                let parsed = try UpcastStep.parse(step, file: file, pointer: "/upcast/\(index)")
                guard upcasts[parsed.fromVersion] == nil else {
                    throw fail("/upcast/\(index)/from", "a step from v\(parsed.fromVersion) is declared twice")
                }
                upcasts[parsed.fromVersion] = parsed
            }
        }
        return ContractDefinition(topic: topic, keyField: key, compatibility: mode, upcasts: upcasts)
    }
}

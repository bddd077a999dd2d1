/// One problem found in a Schemas/ directory: which contract, version, field and rule.
public struct SchemaProblem: Sendable, Hashable, CustomStringConvertible {
    public let contract: String
    public let version: Int?
    /// JSON pointer of the field or keyword, when there is one.
    public let pointer: String
    /// e.g. `BACKWARD TYPE_NARROWED`, `VERSION_GAP`, `PUBLISHED_VERSION_EDITED`.
    public let rule: String
    public let message: String
    /// For a breaking change, the earlier version `version` was compared with.
    public var against: Int?
    /// The file the problem is in (a version's schema, the contract's contract.yaml, or
    /// the folder), as the repository was given it; nil where there is none.
    public var file: String?
    /// The 1-based line of `pointer` in `file`, for a JSON schema file.
    public var line: Int?

    public init(contract: String, version: Int? = nil, pointer: String = "", rule: String, message: String, against: Int? = nil) {
        self.contract = contract
        self.version = version
        self.pointer = pointer
        self.rule = rule
        self.message = message
        self.against = against
    }

    /// How to make the change without breaking readers or writers, for a rule that has
    /// a known way (SchemaAdvice).
    public var advice: String? { SchemaAdvice.advice(forRule: rule) }

    public var description: String {
        var place = contract
        if let version { place += " v\(version)" }
        if let against { place += " (against v\(against))" }
        if !pointer.isEmpty { place += " \(pointer)" }
        return "\(place): \(rule): \(message)"
    }
}

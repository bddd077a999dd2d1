/// One problem found in a Schemas/ directory: which contract, version, field and rule.
public struct SchemaProblem: Sendable, Hashable, CustomStringConvertible {
    public let contract: String
    public let version: Int?
    /// JSON pointer of the field or keyword, when there is one.
    public let pointer: String
    /// e.g. `BACKWARD TYPE_NARROWED`, `VERSION_GAP`, `PUBLISHED_VERSION_EDITED`.
    public let rule: String
    public let message: String

    public init(contract: String, version: Int? = nil, pointer: String = "", rule: String, message: String) {
        self.contract = contract
        self.version = version
        self.pointer = pointer
        self.rule = rule
        self.message = message
    }

    public var description: String {
        var place = contract
        if let version { place += " v\(version)" }
        if !pointer.isEmpty { place += " \(pointer)" }
        return "\(place): \(rule): \(message)"
    }
}

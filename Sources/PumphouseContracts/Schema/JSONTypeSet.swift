/// A `type` keyword as bits: checking a value's type is one AND, where a
/// `Set<JSONType>` would hash the type on every value.
struct JSONTypeSet: OptionSet, Sendable, Hashable {
    let rawValue: UInt8

    init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    init(_ type: JSONType) {
        switch type {
        case .null: rawValue = 1 << 0
        case .boolean: rawValue = 1 << 1
        case .integer: rawValue = 1 << 2
        case .number: rawValue = 1 << 3
        case .string: rawValue = 1 << 4
        case .array: rawValue = 1 << 5
        case .object: rawValue = 1 << 6
        }
    }

    init(_ types: Set<JSONType>) {
        self = types.reduce(into: []) { $0.insert(JSONTypeSet($1)) }
    }

    static let integer = JSONTypeSet(.integer)
    static let number = JSONTypeSet(.number)
    static let numeric: JSONTypeSet = [.integer, .number]
    static let all = JSONTypeSet(Set(JSONType.allCases))
}

/// A JSON document in memory.
///
/// Integers that fit 64 bits stay exact (`int`); other numbers are `double`. Objects keep
/// member order, so a payload re-encodes the way it arrived.
///
/// Strings and member names compare by their UTF-8 bytes in `==`, `hash` and
/// `jsonEquals`: a change from one Unicode spelling of a value to a canonically
/// equivalent one is a change, as it is to PostgreSQL.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// The JSON type name used in schemas and error messages.
    public var typeName: String { schemaType.rawValue }

    /// The schema type of the value: `typeName` as a `JSONType`, so a validator compares
    /// enum cases rather than strings.
    public var schemaType: JSONType {
        switch self {
        case .null: .null
        case .bool: .boolean
        case .int: .integer
        case .double(let d): d.rounded(.towardZero) == d && d.isFinite ? .integer : .number
        case .string: .string
        case .array: .array
        case .object: .object
        }
    }

    /// The number as a Double, for numeric comparisons.
    public var numberValue: Double? {
        switch self {
        case .int(let i): Double(i)
        case .double(let d): d
        default: nil
        }
    }

    public var stringValue: String? {
        if case .string(let s) = self { s } else { nil }
    }

    public var objectValue: JSONObject? {
        if case .object(let o) = self { o } else { nil }
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { a } else { nil }
    }

    /// JSON equality: `1` equals `1.0`; object member order does not matter.
    public func jsonEquals(_ other: JSONValue) -> Bool {
        switch (self, other) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.string(let a), .string(let b)): return a.isSameBytes(as: b)
        case (.array(let a), .array(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.jsonEquals($1) }
        case (.object(let a), .object(let b)):
            return a.count == b.count && a.allSatisfy { member in b[member.name].map { member.value.jsonEquals($0) } ?? false }
        case (.int(let a), .int(let b)): return a == b
        case (.int(let a), .double(let b)), (.double(let b), .int(let a)):
            // Exact: an integer beyond 2^53 is not equal to every double near it.
            guard b.rounded() == b, b >= -9.223372036854775808e18, b < 9.223372036854775808e18 else { return false }
            return Int64(b) == a
        case (.double(let a), .double(let b)): return a == b
        default:
            return false
        }
    }

    /// A hash consistent with `jsonEquals`: `1` and `1.0` hash alike, and objects hash
    /// independently of member order.
    public var jsonHash: Int {
        var hasher = Hasher()
        switch self {
        case .null: hasher.combine(0)
        case .bool(let b): hasher.combine(b)
        case .int(let i): hasher.combine(Double(i))
        case .double(let d): hasher.combine(d)
        case .string(let s): hasher.combine(ExactKey(s))
        case .array(let items):
            hasher.combine(items.count)
            for item in items { hasher.combine(item.jsonHash) }
        case .object(let object):
            hasher.combine(object.count)
            hasher.combine(object.reduce(0) { $0 ^ (ExactKey($1.name).hashValue &* 31 &+ $1.value.jsonHash) })
        }
        return hasher.finalize()
    }

    /// Exact equality: the same type and value, strings by bytes, objects member by
    /// member in order.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.int(let a), .int(let b)): a == b
        case (.double(let a), .double(let b)): a == b
        case (.string(let a), .string(let b)): a.isSameBytes(as: b)
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)): a == b
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0 as UInt8)
        case .bool(let b): hasher.combine(b)
        case .int(let i): hasher.combine(i)
        case .double(let d): hasher.combine(d)
        case .string(let s): hasher.combine(ExactKey(s))
        case .array(let items): hasher.combine(items)
        case .object(let object): hasher.combine(object)
        }
    }
}

/// A JSON object: members in order, names unique (the parser rejects duplicates, since
/// two readers could otherwise see two different values).
public struct JSONObject: Sendable, Hashable, RandomAccessCollection {
    public struct Member: Sendable, Hashable {
        public var name: String
        public var value: JSONValue
        public init(name: String, value: JSONValue) {
            self.name = name
            self.value = value
        }

        public static func == (lhs: Self, rhs: Self) -> Bool {
            lhs.name.isSameBytes(as: rhs.name) && lhs.value == rhs.value
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(ExactKey(name))
            hasher.combine(value)
        }
    }

    public private(set) var members: [Member]

    public init(_ members: [Member] = []) {
        self.members = members
    }

    public init(_ pairs: KeyValuePairs<String, JSONValue>) {
        self.members = pairs.map { Member(name: $0.key, value: $0.value) }
    }

    public var startIndex: Int { members.startIndex }
    public var endIndex: Int { members.endIndex }
    public subscript(position: Int) -> Member { members[position] }

    /// The member's value; linear, which beats hashing at contract sizes (tens of fields).
    public subscript(name: String) -> JSONValue? {
        get { members.first { $0.name.isSameBytes(as: name) }?.value }
        set {
            if let index = members.firstIndex(where: { $0.name.isSameBytes(as: name) }) {
                if let newValue { members[index].value = newValue } else { members.remove(at: index) }
            } else if let newValue {
                members.append(Member(name: name, value: newValue))
            }
        }
    }

    public var names: [String] { members.map(\.name) }

    /// Whether a member of that name is present (names compare by bytes).
    public func contains(name: String) -> Bool {
        members.contains { $0.name.isSameBytes(as: name) }
    }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(elements.map { Member(name: $0.0, value: $0.1) })
    }
}

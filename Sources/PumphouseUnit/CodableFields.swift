import PumphouseContracts

/// Codable straight to and from `JSONValue`: what `CodableCacheEntity` and
/// `CodableCacheFieldValue` convert through, so a change never becomes JSON text only to
/// be parsed back (Foundation's coders know no other target).
///
/// It follows Foundation's `JSONEncoder` and `JSONDecoder` with their default strategies
/// where a contract can tell: nil optionals are left out, integers stay exact, an
/// integral number reads as an integer, NaN and infinities are refused. Types that
/// Foundation's coders special-case (`Data` as base64, `URL` as a string) encode here
/// through their own `Codable`, as `Date` does under the default strategy.
public enum CodableFields {
    /// The JSON value `value` encodes as.
    public static func encode<Value: Encodable>(_ value: Value) throws -> JSONValue {
        let encoder = ValueEncoder(codingPath: [])
        try value.encode(to: encoder)
        return encoder.node?.resolved ?? .object(JSONObject())
    }

    /// The value `json` decodes as.
    public static func decode<Value: Decodable>(_ type: Value.Type, from json: JSONValue) throws -> Value {
        try Value(from: ValueDecoder(value: json, codingPath: []))
    }

    /// A coding error as a `CacheFieldError`: the type, the field's path, and what is wrong
    /// in the terms `@CacheFields` uses.
    static func fieldError(_ error: any Error, type: String, encoding: Bool) -> any Error {
        /// `home.city`, `scores[1]`: the field and the way into it.
        func path(_ codingPath: [any CodingKey]) -> String {
            var text = ""
            for key in codingPath {
                if let index = key.intValue {
                    text += "[\(index)]"
                } else {
                    text += text.isEmpty ? key.stringValue : "." + key.stringValue
                }
            }
            return text
        }
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return CacheFieldError(type: type, field: path(context.codingPath + [key]), problem: .missing, encoding: false)
        case DecodingError.valueNotFound(_, let context), DecodingError.typeMismatch(_, let context),
            DecodingError.dataCorrupted(let context):
            return CacheFieldError(type: type, field: path(context.codingPath), problem: .invalid(context.debugDescription), encoding: false)
        case EncodingError.invalidValue(_, let context):
            return CacheFieldError(type: type, field: path(context.codingPath), problem: .invalid(context.debugDescription), encoding: true)
        default:
            return error
        }
    }
}

/// A Codable type that a `@CacheFields` property can hold, converted through
/// `CodableFields`: `extension Address: CodableCacheFieldValue {}`. Slower than a nested
/// `@CacheFields` struct, still without JSON text.
public protocol CodableCacheFieldValue: CacheFieldValue, Codable {}

extension CodableCacheFieldValue {
    public func cacheFieldValue() throws(CacheFieldProblem) -> JSONValue? {
        do {
            return try CodableFields.encode(self)
        } catch {
            throw .nested(CodableFields.fieldError(error, type: "\(Self.self)", encoding: true))
        }
    }

    public init(cacheFieldValue value: JSONValue?) throws(CacheFieldProblem) {
        guard let value else { throw .missing }
        do {
            self = try CodableFields.decode(Self.self, from: value)
        } catch {
            throw .nested(CodableFields.fieldError(error, type: "\(Self.self)", encoding: false))
        }
    }
}

// MARK: Encoding

/// What an encoder has written so far. Containers are classes so that a nested container
/// handed out earlier still writes into its parent.
private enum Node {
    case value(JSONValue)
    case object(ObjectNode)
    case array(ArrayNode)

    var resolved: JSONValue {
        switch self {
        case .value(let value): value
        case .object(let object): .object(JSONObject(object.members.map { JSONObject.Member(name: $0.name, value: $0.node.resolved) }))
        case .array(let array): .array(array.items.map(\.resolved))
        }
    }
}

private final class ObjectNode {
    var members: [(name: String, node: Node)] = []

    /// Replaces a member of the same name (by bytes), as a re-encoded key does.
    func set(_ name: String, _ node: Node) {
        if let index = members.firstIndex(where: { $0.name.isSameBytes(as: name) }) {
            members[index].node = node
        } else {
            members.append((name, node))
        }
    }

    func child(_ name: String) -> Node? {
        members.first { $0.name.isSameBytes(as: name) }?.node
    }
}

private final class ArrayNode {
    var items: [Node] = []
}

private struct IndexKey: CodingKey {
    var intValue: Int?
    var stringValue: String { "\(intValue ?? 0)" }
    init(_ index: Int) { intValue = index }
    init?(intValue: Int) { self.intValue = intValue }
    init?(stringValue: String) { nil }
}

private func exactInteger<T: BinaryInteger>(_ value: T, _ codingPath: [any CodingKey]) throws -> JSONValue {
    guard let exact = Int64(exactly: value) else {
        throw EncodingError.invalidValue(value, .init(codingPath: codingPath, debugDescription: "holds \(value), beyond the 64-bit signed integers JSON fields hold here"))
    }
    return .int(exact)
}

private func finite(_ value: Double, _ codingPath: [any CodingKey]) throws -> JSONValue {
    guard value.isFinite else {
        throw EncodingError.invalidValue(value, .init(codingPath: codingPath, debugDescription: "is \(value), which JSON cannot hold"))
    }
    return .double(value)
}

private final class ValueEncoder: Encoder {
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    var node: Node?

    init(codingPath: [any CodingKey]) {
        self.codingPath = codingPath
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let object: ObjectNode
        if case .object(let existing)? = node {
            object = existing
        } else {
            object = ObjectNode()
            node = .object(object)
        }
        return KeyedEncodingContainer(KeyedEncoding<Key>(object: object, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let array: ArrayNode
        if case .array(let existing)? = node {
            array = existing
        } else {
            array = ArrayNode()
            node = .array(array)
        }
        return UnkeyedEncoding(array: array, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleValueEncoding(encoder: self)
    }

    /// The node a nested value encodes as.
    static func node<T: Encodable>(of value: T, at codingPath: [any CodingKey]) throws -> Node {
        let encoder = ValueEncoder(codingPath: codingPath)
        try value.encode(to: encoder)
        return encoder.node ?? .object(ObjectNode())
    }
}

private struct KeyedEncoding<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let object: ObjectNode
    let codingPath: [any CodingKey]

    func encodeNil(forKey key: Key) throws { object.set(key.stringValue, .value(.null)) }
    func encode(_ value: Bool, forKey key: Key) throws { object.set(key.stringValue, .value(.bool(value))) }
    func encode(_ value: String, forKey key: Key) throws { object.set(key.stringValue, .value(.string(value))) }
    func encode(_ value: Double, forKey key: Key) throws { object.set(key.stringValue, .value(try finite(value, codingPath + [key]))) }
    func encode(_ value: Float, forKey key: Key) throws { object.set(key.stringValue, .value(try finite(Double(value), codingPath + [key]))) }
    func encode(_ value: Int, forKey key: Key) throws { object.set(key.stringValue, .value(.int(Int64(value)))) }
    func encode(_ value: Int8, forKey key: Key) throws { object.set(key.stringValue, .value(.int(Int64(value)))) }
    func encode(_ value: Int16, forKey key: Key) throws { object.set(key.stringValue, .value(.int(Int64(value)))) }
    func encode(_ value: Int32, forKey key: Key) throws { object.set(key.stringValue, .value(.int(Int64(value)))) }
    func encode(_ value: Int64, forKey key: Key) throws { object.set(key.stringValue, .value(.int(value))) }
    func encode(_ value: UInt, forKey key: Key) throws { object.set(key.stringValue, .value(try exactInteger(value, codingPath + [key]))) }
    func encode(_ value: UInt8, forKey key: Key) throws { object.set(key.stringValue, .value(.int(Int64(value)))) }
    func encode(_ value: UInt16, forKey key: Key) throws { object.set(key.stringValue, .value(.int(Int64(value)))) }
    func encode(_ value: UInt32, forKey key: Key) throws { object.set(key.stringValue, .value(.int(Int64(value)))) }
    func encode(_ value: UInt64, forKey key: Key) throws { object.set(key.stringValue, .value(try exactInteger(value, codingPath + [key]))) }
    func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        object.set(key.stringValue, try ValueEncoder.node(of: value, at: codingPath + [key]))
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let nested = ObjectNode()
        object.set(key.stringValue, .object(nested))
        return KeyedEncodingContainer(KeyedEncoding<NestedKey>(object: nested, codingPath: codingPath + [key]))
    }

    func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = ArrayNode()
        object.set(key.stringValue, .array(nested))
        return UnkeyedEncoding(array: nested, codingPath: codingPath + [key])
    }

    func superEncoder() -> any Encoder { superEncoder(name: "super") }
    func superEncoder(forKey key: Key) -> any Encoder { superEncoder(name: key.stringValue) }

    private func superEncoder(name: String) -> any Encoder {
        // Written into the object as soon as the super encoder makes its container.
        let object = ObjectNode()
        self.object.set(name, .object(object))
        let encoder = ValueEncoder(codingPath: codingPath)
        encoder.node = .object(object)
        return encoder
    }
}

private struct UnkeyedEncoding: UnkeyedEncodingContainer {
    let array: ArrayNode
    let codingPath: [any CodingKey]
    var count: Int { array.items.count }

    private var nextPath: [any CodingKey] { codingPath + [IndexKey(count)] }

    mutating func encodeNil() throws { array.items.append(.value(.null)) }
    mutating func encode(_ value: Bool) throws { array.items.append(.value(.bool(value))) }
    mutating func encode(_ value: String) throws { array.items.append(.value(.string(value))) }
    mutating func encode(_ value: Double) throws { array.items.append(.value(try finite(value, nextPath))) }
    mutating func encode(_ value: Float) throws { array.items.append(.value(try finite(Double(value), nextPath))) }
    mutating func encode(_ value: Int) throws { array.items.append(.value(.int(Int64(value)))) }
    mutating func encode(_ value: Int8) throws { array.items.append(.value(.int(Int64(value)))) }
    mutating func encode(_ value: Int16) throws { array.items.append(.value(.int(Int64(value)))) }
    mutating func encode(_ value: Int32) throws { array.items.append(.value(.int(Int64(value)))) }
    mutating func encode(_ value: Int64) throws { array.items.append(.value(.int(value))) }
    mutating func encode(_ value: UInt) throws { array.items.append(.value(try exactInteger(value, nextPath))) }
    mutating func encode(_ value: UInt8) throws { array.items.append(.value(.int(Int64(value)))) }
    mutating func encode(_ value: UInt16) throws { array.items.append(.value(.int(Int64(value)))) }
    mutating func encode(_ value: UInt32) throws { array.items.append(.value(.int(Int64(value)))) }
    mutating func encode(_ value: UInt64) throws { array.items.append(.value(try exactInteger(value, nextPath))) }
    mutating func encode<T: Encodable>(_ value: T) throws { array.items.append(try ValueEncoder.node(of: value, at: nextPath)) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let nested = ObjectNode()
        let path = nextPath
        array.items.append(.object(nested))
        return KeyedEncodingContainer(KeyedEncoding<NestedKey>(object: nested, codingPath: path))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nested = ArrayNode()
        let path = nextPath
        array.items.append(.array(nested))
        return UnkeyedEncoding(array: nested, codingPath: path)
    }

    mutating func superEncoder() -> any Encoder {
        let object = ObjectNode()
        let encoder = ValueEncoder(codingPath: nextPath)
        array.items.append(.object(object))
        encoder.node = .object(object)
        return encoder
    }
}

private struct SingleValueEncoding: SingleValueEncodingContainer {
    let encoder: ValueEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }

    private func set(_ value: JSONValue) { encoder.node = .value(value) }

    func encodeNil() throws { set(.null) }
    func encode(_ value: Bool) throws { set(.bool(value)) }
    func encode(_ value: String) throws { set(.string(value)) }
    func encode(_ value: Double) throws { set(try finite(value, codingPath)) }
    func encode(_ value: Float) throws { set(try finite(Double(value), codingPath)) }
    func encode(_ value: Int) throws { set(.int(Int64(value))) }
    func encode(_ value: Int8) throws { set(.int(Int64(value))) }
    func encode(_ value: Int16) throws { set(.int(Int64(value))) }
    func encode(_ value: Int32) throws { set(.int(Int64(value))) }
    func encode(_ value: Int64) throws { set(.int(value)) }
    func encode(_ value: UInt) throws { set(try exactInteger(value, codingPath)) }
    func encode(_ value: UInt8) throws { set(.int(Int64(value))) }
    func encode(_ value: UInt16) throws { set(.int(Int64(value))) }
    func encode(_ value: UInt32) throws { set(.int(Int64(value))) }
    func encode(_ value: UInt64) throws { set(try exactInteger(value, codingPath)) }
    func encode<T: Encodable>(_ value: T) throws { encoder.node = try ValueEncoder.node(of: value, at: codingPath) }
}

// MARK: Decoding

private struct ValueDecoder: Decoder {
    let value: JSONValue
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let object) = value else { throw mismatch(value, [String: Any].self, codingPath) }
        if let (one, other) = Self.equivalentNames(in: object) {
            // A `[String: V]` property is decoded by the standard library, whose dictionary
            // keeps one of two such names: one member's value would be lost.
            throw DecodingError.dataCorrupted(.init(
                codingPath: codingPath,
                debugDescription: "has members \(one.debugDescription) and \(other.debugDescription), whose names differ only in Unicode normalization; Swift takes them for one name, so rename one"
            ))
        }
        return KeyedDecodingContainer(KeyedDecoding<Key>(object: object, codingPath: codingPath))
    }

    /// Two member names Swift's `String` takes for equal though their bytes differ. Only
    /// a name with a byte above ASCII can be one of them, so all-ASCII objects (nearly
    /// every one) are passed over without hashing.
    static func equivalentNames(in object: JSONObject) -> (String, String)? {
        guard object.contains(where: { !$0.name.utf8.allSatisfy { $0 < 0x80 } }) else { return nil }
        // Keyed by String on purpose: an object's names differ by bytes already, so a
        // name String finds here is one that differs from an earlier one only so.
        var seen: [String: String] = [:]
        for member in object {
            if let earlier = seen.updateValue(member.name, forKey: member.name) { return (earlier, member.name) }
        }
        return nil
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let items) = value else { throw mismatch(value, [Any].self, codingPath) }
        return UnkeyedDecoding(items: items, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleValueDecoding(value: value, codingPath: codingPath)
    }
}

private func mismatch(_ value: JSONValue, _ type: Any.Type, _ codingPath: [any CodingKey]) -> DecodingError {
    if case .null = value {
        return .valueNotFound(type, .init(codingPath: codingPath, debugDescription: "holds null where \(type) needs a value"))
    }
    return .typeMismatch(type, .init(codingPath: codingPath, debugDescription: "holds a JSON \(value.typeName) where \(type) needs another type"))
}

/// The scalar readings every container shares.
private func decodeScalar<T>(_ type: T.Type, from value: JSONValue, _ codingPath: [any CodingKey]) throws -> T {
    switch type {
    case is String.Type:
        if case .string(let string) = value { return string as! T }
    case is Bool.Type:
        if case .bool(let bool) = value { return bool as! T }
    case is Double.Type:
        if let number = value.numberValue { return number as! T }
    case is Float.Type:
        if let number = value.numberValue {
            let float = Float(number)
            guard float.isFinite else {
                throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "holds \(number), beyond Float's range"))
            }
            return float as! T
        }
    default:
        break
    }
    throw mismatch(value, type, codingPath)
}

private func decodeInteger<T: FixedWidthInteger>(_ type: T.Type, from value: JSONValue, _ codingPath: [any CodingKey]) throws -> T {
    switch value {
    case .int(let integer):
        if let exact = T(exactly: integer) { return exact }
        throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "holds \(integer), which \(T.self) cannot hold"))
    case .double(let double):
        if let exact = T(exactly: double) { return exact }
        throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "holds \(double), which is not a \(T.self)"))
    default:
        throw mismatch(value, type, codingPath)
    }
}

private struct KeyedDecoding<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let object: JSONObject
    let codingPath: [any CodingKey]

    var allKeys: [Key] { object.compactMap { Key(stringValue: $0.name) } }

    func contains(_ key: Key) -> Bool { object.contains(name: key.stringValue) }

    private func member(_ key: Key) throws -> JSONValue {
        guard let value = object[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "no member \"\(key.stringValue)\""))
        }
        return value
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        guard let value = object[key.stringValue] else { return true }
        if case .null = value { return true }
        return false
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decodeScalar(type, from: member(key), codingPath + [key]) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try decodeScalar(type, from: member(key), codingPath + [key]) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decodeScalar(type, from: member(key), codingPath + [key]) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try decodeScalar(type, from: member(key), codingPath + [key]) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decodeInteger(type, from: member(key), codingPath + [key]) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try decodeInteger(type, from: member(key), codingPath + [key]) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try decodeInteger(type, from: member(key), codingPath + [key]) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try decodeInteger(type, from: member(key), codingPath + [key]) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decodeInteger(type, from: member(key), codingPath + [key]) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try decodeInteger(type, from: member(key), codingPath + [key]) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try decodeInteger(type, from: member(key), codingPath + [key]) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try decodeInteger(type, from: member(key), codingPath + [key]) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try decodeInteger(type, from: member(key), codingPath + [key]) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try decodeInteger(type, from: member(key), codingPath + [key]) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try T(from: ValueDecoder(value: member(key), codingPath: codingPath + [key]))
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try ValueDecoder(value: member(key), codingPath: codingPath + [key]).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try ValueDecoder(value: member(key), codingPath: codingPath + [key]).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        ValueDecoder(value: object["super"] ?? .null, codingPath: codingPath)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        ValueDecoder(value: object[key.stringValue] ?? .null, codingPath: codingPath + [key])
    }
}

private struct UnkeyedDecoding: UnkeyedDecodingContainer {
    let items: [JSONValue]
    let codingPath: [any CodingKey]
    var currentIndex = 0

    init(items: [JSONValue], codingPath: [any CodingKey]) {
        self.items = items
        self.codingPath = codingPath
    }

    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    private var path: [any CodingKey] { codingPath + [IndexKey(currentIndex)] }

    private mutating func next(_ type: Any.Type) throws -> JSONValue {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(type, .init(codingPath: path, debugDescription: "the array has only \(items.count) elements"))
        }
        defer { currentIndex += 1 }
        return items[currentIndex]
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, case .null = items[currentIndex] else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { let at = path; return try decodeScalar(type, from: next(type), at) }
    mutating func decode(_ type: String.Type) throws -> String { let at = path; return try decodeScalar(type, from: next(type), at) }
    mutating func decode(_ type: Double.Type) throws -> Double { let at = path; return try decodeScalar(type, from: next(type), at) }
    mutating func decode(_ type: Float.Type) throws -> Float { let at = path; return try decodeScalar(type, from: next(type), at) }
    mutating func decode(_ type: Int.Type) throws -> Int { let at = path; return try decodeInteger(type, from: next(type), at) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { let at = path; return try decodeInteger(type, from: next(type), at) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { let at = path; return try decodeInteger(type, from: next(type), at) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { let at = path; return try decodeInteger(type, from: next(type), at) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { let at = path; return try decodeInteger(type, from: next(type), at) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { let at = path; return try decodeInteger(type, from: next(type), at) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { let at = path; return try decodeInteger(type, from: next(type), at) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { let at = path; return try decodeInteger(type, from: next(type), at) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { let at = path; return try decodeInteger(type, from: next(type), at) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { let at = path; return try decodeInteger(type, from: next(type), at) }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let at = path
        return try T(from: ValueDecoder(value: next(type), codingPath: at))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let at = path
        return try ValueDecoder(value: next(type), codingPath: at).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let at = path
        return try ValueDecoder(value: next([Any].self), codingPath: at).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let at = path
        return ValueDecoder(value: try next(Any.self), codingPath: at)
    }
}

private struct SingleValueDecoding: SingleValueDecodingContainer {
    let value: JSONValue
    let codingPath: [any CodingKey]

    func decodeNil() -> Bool {
        if case .null = value { return true }
        return false
    }

    func decode(_ type: Bool.Type) throws -> Bool { try decodeScalar(type, from: value, codingPath) }
    func decode(_ type: String.Type) throws -> String { try decodeScalar(type, from: value, codingPath) }
    func decode(_ type: Double.Type) throws -> Double { try decodeScalar(type, from: value, codingPath) }
    func decode(_ type: Float.Type) throws -> Float { try decodeScalar(type, from: value, codingPath) }
    func decode(_ type: Int.Type) throws -> Int { try decodeInteger(type, from: value, codingPath) }
    func decode(_ type: Int8.Type) throws -> Int8 { try decodeInteger(type, from: value, codingPath) }
    func decode(_ type: Int16.Type) throws -> Int16 { try decodeInteger(type, from: value, codingPath) }
    func decode(_ type: Int32.Type) throws -> Int32 { try decodeInteger(type, from: value, codingPath) }
    func decode(_ type: Int64.Type) throws -> Int64 { try decodeInteger(type, from: value, codingPath) }
    func decode(_ type: UInt.Type) throws -> UInt { try decodeInteger(type, from: value, codingPath) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try decodeInteger(type, from: value, codingPath) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try decodeInteger(type, from: value, codingPath) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try decodeInteger(type, from: value, codingPath) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decodeInteger(type, from: value, codingPath) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try T(from: ValueDecoder(value: value, codingPath: codingPath))
    }
}

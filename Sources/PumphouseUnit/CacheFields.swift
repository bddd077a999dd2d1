import PumphouseContracts

/// Writes a struct's `fields`, `init(fields:)` and `apply(fields:deltas:)`, one line per
/// stored property, and conforms it to `CacheFieldObject` if it does not already conform
/// (a `CacheEntity` does). `apply` changes only the properties an update names, in
/// place, which is how a replica applies a peer's update to an entity; a struct with a
/// `let` that a change could set applies through `fields` and `init(fields:)` instead.
///
/// A change is converted on every put and update, on the request path, so the conversion
/// is worth what a hand-written one costs; `CodableCacheEntity` pays an encoder's
/// bookkeeping instead. Each property's type says how its value converts, through
/// `CacheFieldValue`: a property of a type that does not conform is a compile error at
/// the extension the macro writes.
///
/// JSON names are the property names. To rename, declare `CodingKeys` as for Codable
/// (`case holdUntil = "hold_until"`): the macro reads the raw values, and a property
/// `CodingKeys` leaves out is not converted (it needs an initial value, as Codable
/// requires). An optional property that is nil is left out of the fields, and reads
/// back as nil when absent or null; any other property must be present.
@attached(extension, conformances: CacheFieldObject, names: named(fields), named(init(fields:)), named(apply(fields:deltas:)))
public macro CacheFields() = #externalMacro(module: "PumphouseUnitMacros", type: "CacheFieldsMacro")

/// A value that converts to and from contract fields: an entity, or an object nested in
/// one.
public protocol CacheFieldObject: CacheFieldValue {
    /// The value as contract fields. A value that cannot give them throws, and the
    /// change it was part of is refused rather than published with fields missing.
    var fields: JSONObject { get throws }
    /// Rebuilds a value from contract fields (after upcasting to the latest version).
    init(fields: JSONObject) throws
}

extension CacheFieldObject {
    /// Applies an update by converting: the value's fields, with `fields` set and numeric
    /// `deltas` added, made into a value again. What an in-place `apply(fields:deltas:)`
    /// must agree with, and what it falls back to.
    public mutating func applyConverting(fields: JSONObject, deltas: JSONObject) throws {
        guard let updated = EntityEffect.update(fields: fields, deltas: deltas).applied(to: try self.fields).state else { return }
        self = try Self(fields: updated)
    }

    @inlinable
    public func cacheFieldValue() throws(CacheFieldProblem) -> JSONValue? {
        do {
            return .object(try fields)
        } catch {
            throw .nested(error)
        }
    }

    @inlinable
    public init(cacheFieldValue value: JSONValue?) throws(CacheFieldProblem) {
        guard case .object(let object)? = value else { throw .mismatch(value, expected: .object, swiftType: Self.self) }
        do {
            try self.init(fields: object)
        } catch {
            throw .nested(error)
        }
    }
}

/// A Swift type that a contract field can hold: what `@CacheFields` converts each
/// property through.
///
/// The standard scalar types, `Optional`, `Array` and dictionaries keyed by `String` or
/// `ExactKey` conform here. A `RawRepresentable` enum conforms with an empty extension
/// (`extension Status: CacheFieldValue {}`), and so does a struct marked `@CacheFields`
/// (it becomes a nested object); a Codable type can conform through
/// `CodableCacheFieldValue`.
public protocol CacheFieldValue {
    /// The JSON value, or nil to leave the member out (an optional that is nil).
    func cacheFieldValue() throws(CacheFieldProblem) -> JSONValue?
    /// The Swift value of a member; `value` is nil when the member is absent.
    init(cacheFieldValue value: JSONValue?) throws(CacheFieldProblem)
}

/// What is wrong with one field's value, without the entity and field that
/// `CacheFieldError` adds.
public indirect enum CacheFieldProblem: Error, Sendable, CustomStringConvertible {
    /// A required member is absent.
    case missing
    /// The member's JSON type is not one the Swift type reads.
    case wrongType(expected: JSONType, found: JSONType, swiftType: String)
    /// A number that does not fit the Swift type, or a Swift number no JSON integer holds.
    case outOfRange(value: String, swiftType: String)
    /// NaN or an infinity, which JSON has no number for.
    case notFinite(Double)
    /// A value of the right JSON type that the Swift type still refuses (an unknown
    /// enum raw value, say).
    case invalid(String)
    /// Two member names of an object are different bytes but the same Swift `String`,
    /// so a `[String: …]` dictionary would keep only one of them.
    case equivalentNames(String)
    /// The problem is in an element of an array or a member of a nested object.
    case inElement(String, CacheFieldProblem)
    /// A nested object's own conversion failed.
    case nested(any Error)

    /// `missing` when there is no value, else the wrong type.
    @inlinable
    public static func mismatch<T>(_ value: JSONValue?, expected: JSONType, swiftType: T.Type) -> CacheFieldProblem {
        guard let value else { return .missing }
        return .wrongType(expected: expected, found: value.schemaType, swiftType: "\(T.self)")
    }

    public var description: String {
        switch self {
        case .missing:
            "is missing; give the contract field a value, or make the property optional"
        case .wrongType(let expected, let found, let swiftType):
            "holds \(found == .null ? "null" : "a JSON \(found.rawValue)") where \(swiftType) needs a JSON \(expected.rawValue); fix what wrote it, or change the property's type"
        case .outOfRange(let value, let swiftType):
            "holds \(value), which \(swiftType) cannot hold exactly; widen the property's type (JSON integers here are 64-bit signed)"
        case .notFinite(let value):
            "is \(value), which JSON cannot hold; store a finite number, or make the property optional and leave it nil"
        case .invalid(let reason):
            reason
        case .equivalentNames(let name):
            "has two member names spelled \"\(name)\" in different Unicode bytes, which a String-keyed dictionary would merge; key the dictionary by ExactKey"
        case .inElement(let path, let problem):
            "at \(path): \(problem)"
        case .nested(let error):
            "is a nested object that does not convert: \(error)"
        }
    }
}

/// A field that did not convert, naming the Swift type and the field (by its JSON name).
public struct CacheFieldError: Error, Sendable, CustomStringConvertible {
    /// The Swift type being converted.
    public var type: String
    /// The field's JSON name.
    public var field: String
    public var problem: CacheFieldProblem
    /// Whether it happened while encoding the Swift value (else while reading fields).
    public var encoding: Bool

    public init(type: String, field: String, problem: CacheFieldProblem, encoding: Bool) {
        self.type = type
        self.field = field
        self.problem = problem
        self.encoding = encoding
    }

    public var description: String {
        "\(type)\(field.isEmpty ? "" : " field \"\(field)\""): \(problem)\(encoding ? " (while encoding the Swift value)" : "")"
    }
}

/// What `@CacheFields` expands to calls: a member's conversion with the error named.
/// Public only because macro-generated code lives in the application's module.
public enum CacheFieldCoding {
    /// `JSONObject`, named here so generated code needs only `import PumphouseUnit`.
    public typealias Fields = JSONObject
    public typealias Member = JSONObject.Member

    @inlinable
    public static func append<Value: CacheFieldValue, Owner>(
        _ value: Value, as name: String, of owner: Owner.Type, to members: inout [JSONObject.Member]
    ) throws(CacheFieldError) {
        do {
            if let converted = try value.cacheFieldValue() {
                members.append(JSONObject.Member(name: name, value: converted))
            }
        } catch {
            throw CacheFieldError(type: "\(Owner.self)", field: name, problem: error, encoding: true)
        }
    }

    /// Whether a member is the field `name`: compared by bytes, as every field name is.
    @inlinable
    public static func names(_ member: Member, _ name: String) -> Bool {
        member.name.isSameBytes(as: name)
    }

    /// Whether an update sets and adds to the same field: then the sum is taken on the
    /// JSON value that was set, before any property type reads it, so only applying
    /// through fields gives the log's result.
    @inlinable
    public static func overlap(_ fields: Fields, _ deltas: Fields) -> Bool {
        guard !fields.isEmpty && !deltas.isEmpty else { return false }
        return deltas.contains { delta in fields.contains { $0.name.isSameBytes(as: delta.name) } }
    }

    /// A property's new value from an update's member.
    @inlinable
    public static func value<Value: CacheFieldValue, Owner>(
        of member: Member, of owner: Owner.Type
    ) throws(CacheFieldError) -> Value {
        do {
            return try Value(cacheFieldValue: member.value)
        } catch {
            throw CacheFieldError(type: "\(Owner.self)", field: member.name, problem: error, encoding: false)
        }
    }

    /// A property with an update's delta added, as the log adds it to the field (exact
    /// for integers, a double once they overflow), read back into the property's type.
    @inlinable
    public static func adding<Value: CacheFieldValue, Owner>(
        _ delta: Member, to current: Value, of owner: Owner.Type
    ) throws(CacheFieldError) -> Value {
        let base: JSONValue?
        do {
            base = try current.cacheFieldValue()
        } catch {
            throw CacheFieldError(type: "\(Owner.self)", field: delta.name, problem: error, encoding: true)
        }
        do {
            return try Value(cacheFieldValue: sum(base, delta.value))
        } catch {
            throw CacheFieldError(type: "\(Owner.self)", field: delta.name, problem: error, encoding: false)
        }
    }

    /// The log's addition of a delta to a field's value.
    public static func sum(_ base: JSONValue?, _ delta: JSONValue) -> JSONValue {
        EntityEffect.add(base, delta)
    }

    @inlinable
    public static func value<Value: CacheFieldValue, Owner>(
        in fields: JSONObject, _ name: String, of owner: Owner.Type
    ) throws(CacheFieldError) -> Value {
        do {
            return try Value(cacheFieldValue: fields[name])
        } catch {
            throw CacheFieldError(type: "\(Owner.self)", field: name, problem: error, encoding: false)
        }
    }
}

// MARK: Scalars

extension String: CacheFieldValue {
    @inlinable
    public func cacheFieldValue() throws(CacheFieldProblem) -> JSONValue? { .string(self) }

    @inlinable
    public init(cacheFieldValue value: JSONValue?) throws(CacheFieldProblem) {
        guard case .string(let string)? = value else { throw .mismatch(value, expected: .string, swiftType: String.self) }
        self = string
    }
}

extension Bool: CacheFieldValue {
    @inlinable
    public func cacheFieldValue() throws(CacheFieldProblem) -> JSONValue? { .bool(self) }

    @inlinable
    public init(cacheFieldValue value: JSONValue?) throws(CacheFieldProblem) {
        guard case .bool(let bool)? = value else { throw .mismatch(value, expected: .boolean, swiftType: Bool.self) }
        self = bool
    }
}

/// The integer types: JSON integers are read as Int64 (the parser keeps them exact up
/// to there), so each type checks its own range; an integral double (`3.0`) reads as
/// its integer, as Codable reads it.
public protocol CacheFieldInteger: CacheFieldValue, FixedWidthInteger {}

extension CacheFieldInteger {
    @inlinable
    public func cacheFieldValue() throws(CacheFieldProblem) -> JSONValue? {
        guard let exact = Int64(exactly: self) else { throw .outOfRange(value: "\(self)", swiftType: "\(Self.self)") }
        return .int(exact)
    }

    @inlinable
    public init(cacheFieldValue value: JSONValue?) throws(CacheFieldProblem) {
        switch value {
        case .int(let integer)?:
            guard let exact = Self(exactly: integer) else { throw .outOfRange(value: "\(integer)", swiftType: "\(Self.self)") }
            self = exact
        case .double(let double)?:
            guard let exact = Self(exactly: double) else {
                throw double.rounded() == double ? .outOfRange(value: "\(double)", swiftType: "\(Self.self)") : .mismatch(value, expected: .integer, swiftType: Self.self)
            }
            self = exact
        default:
            throw .mismatch(value, expected: .integer, swiftType: Self.self)
        }
    }
}

extension Int: CacheFieldInteger {}
extension Int8: CacheFieldInteger {}
extension Int16: CacheFieldInteger {}
extension Int32: CacheFieldInteger {}
extension Int64: CacheFieldInteger {}
extension UInt: CacheFieldInteger {}
extension UInt8: CacheFieldInteger {}
extension UInt16: CacheFieldInteger {}
extension UInt32: CacheFieldInteger {}
extension UInt64: CacheFieldInteger {}

extension Double: CacheFieldValue {
    @inlinable
    public func cacheFieldValue() throws(CacheFieldProblem) -> JSONValue? {
        guard isFinite else { throw .notFinite(self) }
        return .double(self)
    }

    @inlinable
    public init(cacheFieldValue value: JSONValue?) throws(CacheFieldProblem) {
        switch value {
        case .double(let double)?: self = double
        case .int(let integer)?: self = Double(integer)
        default: throw .mismatch(value, expected: .number, swiftType: Double.self)
        }
    }
}

extension Float: CacheFieldValue {
    @inlinable
    public func cacheFieldValue() throws(CacheFieldProblem) -> JSONValue? {
        guard isFinite else { throw .notFinite(Double(self)) }
        return .double(Double(self))
    }

    @inlinable
    public init(cacheFieldValue value: JSONValue?) throws(CacheFieldProblem) {
        let double = try Double(cacheFieldValue: value)
        let float = Float(double)
        guard float.isFinite else { throw .outOfRange(value: "\(double)", swiftType: "Float") }
        self = float
    }
}

// MARK: Containers

extension Optional: CacheFieldValue where Wrapped: CacheFieldValue {
    /// Nil is left out, as Codable's synthesised `encodeIfPresent` leaves it out.
    @inlinable
    public func cacheFieldValue() throws(CacheFieldProblem) -> JSONValue? {
        guard let self else { return nil }
        return try self.cacheFieldValue()
    }

    /// Absent and null both read as nil.
    @inlinable
    public init(cacheFieldValue value: JSONValue?) throws(CacheFieldProblem) {
        switch value {
        case nil, .null?: self = nil
        default: self = try Wrapped(cacheFieldValue: value)
        }
    }
}

extension Array: CacheFieldValue where Element: CacheFieldValue {
    /// A nil element is written as null: an array has no way to leave one out.
    @inlinable
    public func cacheFieldValue() throws(CacheFieldProblem) -> JSONValue? {
        var items: [JSONValue] = []
        items.reserveCapacity(count)
        for (index, element) in enumerated() {
            do {
                items.append(try element.cacheFieldValue() ?? .null)
            } catch {
                throw .inElement("[\(index)]", error)
            }
        }
        return .array(items)
    }

    @inlinable
    public init(cacheFieldValue value: JSONValue?) throws(CacheFieldProblem) {
        guard case .array(let items)? = value else { throw .mismatch(value, expected: .array, swiftType: Self.self) }
        var elements: [Element] = []
        elements.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            do {
                elements.append(try Element(cacheFieldValue: item))
            } catch {
                throw .inElement("[\(index)]", error)
            }
        }
        self = elements
    }
}

/// A dictionary key a JSON object's member names convert to.
public protocol CacheFieldKey: Hashable {
    init(memberName: String)
    var memberName: String { get }
}

extension String: CacheFieldKey {
    @inlinable public init(memberName: String) { self = memberName }
    @inlinable public var memberName: String { self }
}

extension ExactKey: CacheFieldKey {
    @inlinable public init(memberName: String) { self.init(memberName) }
    @inlinable public var memberName: String { text }
}

extension Dictionary: CacheFieldValue where Key: CacheFieldKey, Value: CacheFieldValue {
    /// Members in byte order of their names, so the same dictionary always gives the
    /// same fields; a nil value is written as null.
    @inlinable
    public func cacheFieldValue() throws(CacheFieldProblem) -> JSONValue? {
        var members: [JSONObject.Member] = []
        members.reserveCapacity(count)
        for (key, value) in self {
            do {
                members.append(JSONObject.Member(name: key.memberName, value: try value.cacheFieldValue() ?? .null))
            } catch {
                throw .inElement("[\"\(key.memberName)\"]", error)
            }
        }
        members.sort { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        return .object(JSONObject(members))
    }

    /// Refuses an object two of whose names a `String` key would merge, rather than
    /// silently keeping one of the two values.
    @inlinable
    public init(cacheFieldValue value: JSONValue?) throws(CacheFieldProblem) {
        guard case .object(let object)? = value else { throw .mismatch(value, expected: .object, swiftType: Self.self) }
        var dictionary: [Key: Value] = [:]
        dictionary.reserveCapacity(object.count)
        for member in object {
            let before = dictionary.count
            do {
                dictionary[Key(memberName: member.name)] = try Value(cacheFieldValue: member.value)
            } catch {
                throw .inElement("[\"\(member.name)\"]", error)
            }
            guard dictionary.count > before else { throw .equivalentNames(member.name) }
        }
        self = dictionary
    }
}

// MARK: Enums

extension CacheFieldValue where Self: RawRepresentable, RawValue: CacheFieldValue {
    @inlinable
    public func cacheFieldValue() throws(CacheFieldProblem) -> JSONValue? {
        try rawValue.cacheFieldValue()
    }

    @inlinable
    public init(cacheFieldValue value: JSONValue?) throws(CacheFieldProblem) {
        let raw = try RawValue(cacheFieldValue: value)
        guard let converted = Self(rawValue: raw) else { throw .invalid("holds \(raw), which is not a \(Self.self); use one of its raw values") }
        self = converted
    }
}

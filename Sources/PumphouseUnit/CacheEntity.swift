import PumphouseContracts

/// A type whose values live in a named cache: one entity of one contract.
///
/// Conversions go through the contract's fields (a JSON object at the schema's latest
/// version) because that is what travels on the data pump and what every replica and
/// writer agrees on; the Swift type is the application's view of it. Every put and
/// update converts, so the conversion is on the request path: write it by hand, let
/// `@CacheFields` write the same code, or take `CodableCacheEntity`'s slower default.
public protocol CacheEntity: CacheFieldObject, Sendable, Equatable {
    /// The contract, and so the named cache, this type belongs to.
    static var contract: ContractName { get }
    /// The entity key: the Kafka message key, so all of an entity's changes stay in order.
    var key: String { get }
    /// Applies an update from the log in place: `fields` set, numeric `deltas` added.
    /// Replicas hold each entity once, as this type, so every peer's update goes through
    /// here. The default converts through `fields` and `init(fields:)`
    /// (`applyConverting`); `@CacheFields` writes it field by field, and so may a type
    /// by hand, giving exactly what that conversion gives and throwing where it would
    /// throw (the replica then keeps the state as fields).
    mutating func apply(fields: JSONObject, deltas: JSONObject) throws
}

extension CacheEntity {
    public mutating func apply(fields: JSONObject, deltas: JSONObject) throws {
        try applyConverting(fields: fields, deltas: deltas)
    }
}

/// A `CacheEntity` whose fields come from `Codable`, for types that already are Codable
/// or need custom coding: the conversion runs the type's `Codable` against
/// `JSONValue` directly (`CodableFields`), with no JSON text, but pays a coder's
/// dynamic dispatch for every member. `@CacheFields` on the type replaces this default
/// with the direct conversion.
public protocol CodableCacheEntity: CacheEntity, Codable {}

extension CodableCacheEntity {
    public var fields: JSONObject {
        get throws {
            let encoded: JSONValue
            do {
                encoded = try CodableFields.encode(self)
            } catch {
                throw CodableFields.fieldError(error, type: "\(Self.self)", encoding: true)
            }
            guard case .object(let object) = encoded else {
                throw CacheError.invalid(cache: Self.contract, key: key, reason: "\(Self.self) does not encode as a JSON object, so it has no contract fields; encode it through a keyed container")
            }
            return object
        }
    }

    public init(fields: JSONObject) throws {
        do {
            self = try CodableFields.decode(Self.self, from: .object(fields))
        } catch {
            throw CodableFields.fieldError(error, type: "\(Self.self)", encoding: false)
        }
    }
}

extension CacheEntity {
    /// `fields` as a change needs them: a failure is the change's refusal, naming the
    /// cache, the key and the reason.
    var changeFields: JSONObject {
        get throws(CacheError) {
            do {
                return try fields
            } catch let error as CacheError {
                throw error
            } catch {
                throw CacheError.invalid(cache: Self.contract, key: key, reason: "\(Self.self) cannot be encoded as contract fields: \(error)")
            }
        }
    }
}

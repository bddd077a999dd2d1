import Foundation
import PumphouseContracts

/// A type whose values live in a named cache: one entity of one contract.
///
/// Conversions go through the contract's fields (a JSON object at the schema's latest
/// version) because that is what travels on the data pump and what every replica and
/// writer agrees on; the Swift type is the application's view of it.
public protocol CacheEntity: Sendable, Equatable {
    /// The contract, and so the named cache, this type belongs to.
    static var contract: ContractName { get }
    /// The entity key: the Kafka message key, so all of an entity's changes stay in order.
    var key: String { get }
    /// The full state as contract fields. A value that cannot give them throws, and the
    /// change it was part of is refused rather than published with fields missing.
    var fields: JSONObject { get throws }
    /// Rebuilds a value from contract fields (after upcasting to the latest version).
    init(fields: JSONObject) throws
    /// Applies an update from the log in place: `fields` set, numeric `deltas` added.
    /// Replicas hold each entity once, as this type, so every peer's update goes through
    /// here. The default converts through `fields` and `init(fields:)`; a type on a hot
    /// path may do it field by field, giving exactly what that conversion gives and
    /// throwing where it would throw (the replica then keeps the state as fields).
    mutating func apply(fields: JSONObject, deltas: JSONObject) throws
}

extension CacheEntity {
    public mutating func apply(fields: JSONObject, deltas: JSONObject) throws {
        guard let updated = EntityEffect.update(fields: fields, deltas: deltas).applied(to: try self.fields).state else { return }
        self = try Self(fields: updated)
    }
}

/// A `CacheEntity` whose fields come from `Codable`, for types that do not need the last
/// microsecond: the conversion goes through JSON text.
public protocol CodableCacheEntity: CacheEntity, Codable {}

extension CodableCacheEntity {
    public var fields: JSONObject {
        get throws {
            guard case .object(let object) = try JSONParser().parse(Array(JSONEncoder().encode(self))) else {
                throw CacheError.invalid(cache: Self.contract, key: key, reason: "\(Self.self) does not encode as a JSON object, so it has no contract fields")
            }
            return object
        }
    }

    public init(fields: JSONObject) throws {
        self = try JSONDecoder().decode(Self.self, from: Data(try JSONWriter.encode(.object(fields))))
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

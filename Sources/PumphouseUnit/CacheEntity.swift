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
    /// The full state as contract fields.
    var fields: JSONObject { get }
    /// Rebuilds a value from contract fields (after upcasting to the latest version).
    init(fields: JSONObject) throws
}

/// A `CacheEntity` whose fields come from `Codable`, for types that do not need the last
/// microsecond: the conversion goes through JSON text.
public protocol CodableCacheEntity: CacheEntity, Codable {}

extension CodableCacheEntity {
    public var fields: JSONObject {
        guard let data = try? JSONEncoder().encode(self),
              case .object(let object)? = try? JSONParser().parse(Array(data))
        else { return JSONObject() }
        return object
    }

    public init(fields: JSONObject) throws {
        self = try JSONDecoder().decode(Self.self, from: Data(try JSONWriter.encode(.object(fields))))
    }
}

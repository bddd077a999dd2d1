import PumphouseContracts
import PumphouseUnit

/// A sold seat, keyed by the seat. Sales are only ever created (`ReplicatedCache.create`),
/// so the first sale of a seat in log order is the only one, on every unit and in
/// PostgreSQL: that is what makes selling a seat twice impossible.
@CacheFields
public struct Sale: CodableCacheEntity, Hashable {
    public static let contract = try! ContractName("ticketing.Sale")
    /// The seat's key, `<concert>/<row>-<number>`.
    public var seat: String
    public var order: String
    public var concert: String
    public var buyer: String
    /// In cents.
    public var price: Int64
    /// The processing unit that sold it.
    public var unit: String
    /// Milliseconds since the Unix epoch.
    public var soldAt: Int64
    public var key: String { seat }
}

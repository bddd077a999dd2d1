import PumphouseContracts
import PumphouseUnit

/// A sold seat, keyed by the seat. Sales are only ever created (`ReplicatedCache.create`),
/// so the first sale of a seat in log order is the only one, on every unit and in
/// PostgreSQL: that is what makes selling a seat twice impossible.
@CacheFields
package struct Sale: CodableCacheEntity, Hashable {
    package static let contract = try! ContractName("ticketing.Sale")
    /// The seat's key, `<concert>/<row>-<number>`.
    package var seat: String
    package var order: String
    package var concert: String
    package var buyer: String
    /// In cents.
    package var price: Int64
    /// The processing unit that sold it.
    package var unit: String
    /// Milliseconds since the Unix epoch.
    package var soldAt: Int64
    package var key: String { seat }
}

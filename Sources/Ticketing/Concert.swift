import PumphouseContracts
import PumphouseUnit

/// A concert on sale. `sold` changes only by deltas, so units selling seats of the same
/// concert at once never overwrite each other's count.
@CacheFields
package struct Concert: CodableCacheEntity, Hashable {
    package static let contract = try! ContractName("ticketing.Concert")
    package var id: String
    package var name: String
    package var venue: String
    /// Milliseconds since the Unix epoch.
    package var startsAt: Int64
    /// The price of a seat, in cents.
    package var price: Int64
    package var seats: Int
    package var sold: Int64
    package var key: String { id }
}

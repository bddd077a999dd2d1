import PumphouseContracts
import PumphouseUnit

/// A concert on sale. `sold` changes only by deltas, so units selling seats of the same
/// concert at once never overwrite each other's count.
@CacheFields
public struct Concert: CodableCacheEntity, Hashable {
    public static let contract = try! ContractName("ticketing.Concert")
    public var id: String
    public var name: String
    public var venue: String
    /// Milliseconds since the Unix epoch.
    public var startsAt: Int64
    /// The price of a seat, in cents.
    public var price: Int64
    public var seats: Int
    public var sold: Int64
    public var key: String { id }
}

import PumphouseContracts
import PumphouseUnit

/// An auction, keyed by its id. It holds what does not change; its standing (the high
/// bid, the leader) is its bids', so one accepted bid is one change in the log, never
/// two that a crash could split.
@CacheFields
public struct Auction: CodableCacheEntity, Hashable {
    public static let contract = try! ContractName("auction.Auction")
    public var id: String
    public var title: String
    public var seller: String
    /// In cents: the lowest first bid.
    public var startingPrice: Int64
    /// In cents: the least a bid must raise the one before it.
    public var increment: Int64
    /// Milliseconds since the Unix epoch; bids are refused from then on.
    public var endsAt: Int64
    public var key: String { id }

    public init(id: String, title: String, seller: String, startingPrice: Int64, increment: Int64, endsAt: Int64) {
        (self.id, self.title, self.seller, self.startingPrice, self.increment, self.endsAt) = (id, title, seller, startingPrice, increment, endsAt)
    }
}

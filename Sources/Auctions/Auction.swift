import PumphouseContracts
import PumphouseUnit

/// An auction, keyed by its id. It holds what does not change; its standing (the high
/// bid, the leader) is its bids', so one accepted bid is one change in the log, never
/// two that a crash could split.
@CacheFields
package struct Auction: CodableCacheEntity, Hashable {
    package static let contract = try! ContractName("auction.Auction")
    package var id: String
    package var title: String
    package var seller: String
    /// In cents: the lowest first bid.
    package var startingPrice: Int64
    /// In cents: the least a bid must raise the one before it.
    package var increment: Int64
    /// Milliseconds since the Unix epoch; bids are refused from then on.
    package var endsAt: Int64
    package var key: String { id }

    package init(id: String, title: String, seller: String, startingPrice: Int64, increment: Int64, endsAt: Int64) {
        (self.id, self.title, self.seller, self.startingPrice, self.increment, self.endsAt) = (id, title, seller, startingPrice, increment, endsAt)
    }
}

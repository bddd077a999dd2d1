import PumphouseContracts
import PumphouseUnit

/// An accepted bid, keyed `<number>@<auction>`. Bids are only ever created, numbered from
/// 1 per auction: bid n + 1 is created only over bid n, and the first create of a key
/// wins, so two bids can never both be an auction's n + 1. The cache places keys by their
/// part after `@` (`partition_key_after`), so every bid lies in its auction's partition
/// and the auction's owner decides them all.
@CacheFields
package struct Bid: CodableCacheEntity, Hashable {
    package static let contract = try! ContractName("auction.Bid")
    package var id: String
    package var auction: String
    package var number: Int64
    package var bidder: String
    /// In cents.
    package var amount: Int64
    /// The processing unit that accepted it.
    package var unit: String
    /// Milliseconds since the Unix epoch.
    package var placedAt: Int64
    package var key: String { id }

    package init(id: String, auction: String, number: Int64, bidder: String, amount: Int64, unit: String, placedAt: Int64) {
        (self.id, self.auction, self.number, self.bidder, self.amount, self.unit, self.placedAt) = (id, auction, number, bidder, amount, unit, placedAt)
    }

    package static func key(auction: String, number: Int64) -> String { "\(number)@\(auction)" }
}

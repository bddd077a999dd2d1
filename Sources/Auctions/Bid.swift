import PumphouseContracts
import PumphouseUnit

/// An accepted bid, keyed `<number>@<auction>`. Bids are only ever created, numbered from
/// 1 per auction: bid n + 1 is created only over bid n, and the first create of a key
/// wins, so two bids can never both be an auction's n + 1. The cache places keys by their
/// part after `@` (`partition_key_after`), so every bid lies in its auction's partition
/// and the auction's owner decides them all.
@CacheFields
public struct Bid: CodableCacheEntity, Hashable {
    public static let contract = try! ContractName("auction.Bid")
    public var id: String
    public var auction: String
    public var number: Int64
    public var bidder: String
    /// In cents.
    public var amount: Int64
    /// The processing unit that accepted it.
    public var unit: String
    /// Milliseconds since the Unix epoch.
    public var placedAt: Int64
    public var key: String { id }

    public static func key(auction: String, number: Int64) -> String { "\(number)@\(auction)" }
}

import PumphouseContracts
import PumphouseUnit

/// An auction.Bid as a test's second cache: a unit holding two partitioned caches
/// needs a second contract, and the unit tests do not build on the auction sample.
@CacheFields
struct TestBid: CodableCacheEntity, Hashable {
    static let contract = try! ContractName("auction.Bid")
    var id: String
    var auction: String
    var number: Int64
    var bidder: String
    var amount: Int64
    var unit: String
    var placedAt: Int64
    var key: String { id }

    init(number: Int64, auction: String = "a1") {
        id = "\(number)@\(auction)"
        self.auction = auction
        self.number = number
        bidder = "bidder-\(number)"
        amount = 1_000 * number
        unit = "tests"
        placedAt = 1_795_000_000_000
    }
}

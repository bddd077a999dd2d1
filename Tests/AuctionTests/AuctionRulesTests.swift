import Auctions
import PumphouseContracts
import PumphouseUnitHTTP
import Testing

/// The checks on an auction's and a bid's numbers: within ranges no sum of them can
/// overflow, and a minimum bid that never traps, whatever another producer put in the log.
@Suite("Auction rules on amounts and times")
struct AuctionRulesTests {
    static func auction(startingPrice: Int64 = 1_000, increment: Int64 = 100, endsAt: Int64 = 1_795_000_000_000) -> Auction {
        Auction(id: "a-1", title: "Lot", seller: "s", startingPrice: startingPrice, increment: increment, endsAt: endsAt)
    }

    @Test("prices, increments and end times beyond their ranges are refused, naming the field and its range")
    func ranges() throws {
        try AuctionRules.check(Self.auction(startingPrice: AuctionRules.maximumCents, increment: AuctionRules.maximumCents, endsAt: RequestBounds.latestInstant))
        for (auction, field) in [
            (Self.auction(startingPrice: AuctionRules.maximumCents + 1), "startingPrice"),
            (Self.auction(startingPrice: .max), "startingPrice"),
            (Self.auction(increment: .max), "increment"),
            (Self.auction(increment: 0), "increment"),
            (Self.auction(endsAt: RequestBounds.latestInstant + 1), "endsAt"),
            (Self.auction(endsAt: 0), "endsAt"),
        ] {
            #expect {
                try AuctionRules.check(auction)
            } throws: { error in
                guard case .badRequest(let named, let problem)? = error as? AuctionError else { return false }
                return named == field && (problem.contains("\(AuctionRules.maximumCents)") || problem.contains("\(RequestBounds.latestInstant)"))
            }
        }
        #expect(throws: AuctionError.badRequest(field: "amount", problem: "must be a positive number of cents up to \(AuctionRules.maximumCents), not \(Int64.max)")) {
            try AuctionRules.checkCents(.max, field: "amount")
        }
    }

    @Test("the minimum bid after a bid near Int64's limit saturates instead of trapping")
    func minimumSaturates() throws {
        func bid(_ amount: Int64) throws -> Bid {
            try Bid(fields: ["id": .string("1@a-1"), "auction": .string("a-1"), "number": .int(1), "bidder": .string("b"), "amount": .int(amount), "unit": .string("u"), "placedAt": .int(0)])
        }
        #expect(AuctionHouse.minimum(after: nil, of: Self.auction()) == 1_000)
        #expect(AuctionHouse.minimum(after: try bid(5_000), of: Self.auction()) == 5_100)
        #expect(AuctionHouse.minimum(after: try bid(.max - 1), of: Self.auction(increment: .max)) == .max)
        #expect(AuctionHouse.minimum(after: try bid(.max), of: Self.auction()) == .max)
    }
}

import Foundation
import PumphouseContracts
import PumphouseUnit
import PumphouseUnitHTTP
import Synchronization

/// The online-auction logic of one processing unit, over two partitioned, co-partitioned
/// caches: auctions, and their bids placed by the auction's id. The unit owning an
/// auction's partition decides its bids in memory, at once, and answers once the broker
/// holds the bid (`.brokerAcknowledged`), so an accepted bid survives the loss of the
/// owner's machine: its backup, already warm, takes the partition over with every bid
/// the broker acknowledged.
///
/// A bid is accepted by creating bid n + 1 over the auction's latest bid n, with an
/// amount of at least bid n's plus the increment. The create is the whole decision: the
/// first create of a key wins, so two bids racing for the same number get one winner,
/// and the loser is measured again against the new high bid. Bids are therefore
/// numbered 1, 2, 3... without gaps, each higher than the last, on every unit, in the
/// log and in PostgreSQL.
package struct AuctionHouse: Sendable {
    package let unit: ProcessingUnit
    package let auctions: ReplicatedCache<Auction>
    package let bids: ReplicatedCache<Bid>
    /// How long a change waits for the broker's acknowledgement.
    package var confirmTimeout: Duration
    private let latest = LatestBids()

    /// Opens the two caches; call before the unit runs.
    package init(unit: ProcessingUnit, confirmTimeout: Duration = .seconds(5)) throws {
        self.unit = unit
        self.auctions = try unit.cache(Auction.self)
        self.bids = try unit.cache(Bid.self)
        self.confirmTimeout = confirmTimeout
    }

    static func now() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

    // MARK: Auctions

    /// An auction with its standing, as bidders see it.
    package struct Standing: Codable, Sendable, Equatable {
        package var auction: Auction
        package var open: Bool
        package var bids: Int64
        /// In cents; nil before the first bid.
        package var highBid: Int64?
        package var leader: String?
        /// The least the next bid may be.
        package var minimumBid: Int64
        /// Whether this unit owns the auction (a backup's answer may lag the owner's).
        package var decidedHere: Bool
    }

    /// Creates the auction on the unit owning its partition, once the broker holds it.
    /// Opening it again with the same details answers with its standing, so a retry is
    /// safe.
    package func open(_ auction: Auction) async throws(AuctionError) -> Standing {
        try checkLoaded()
        try AuctionRules.check(auction)
        let created = try await cacheCall { () async throws(CacheError) in
            try await auctions.create(auction, timeout: confirmTimeout, confirmation: .brokerAcknowledged)
        }
        guard created || auctions[auction.id].map({ Self.sameDetails($0, auction) }) == true else {
            throw .conflict("auction \(auction.id) exists already, with other details")
        }
        return try standing(auction.id)
    }

    /// Texts by their bytes, as the log and the database tell them apart.
    static func sameDetails(_ a: Auction, _ b: Auction) -> Bool {
        a.id.isSameBytes(as: b.id) && a.title.isSameBytes(as: b.title) && a.seller.isSameBytes(as: b.seller)
            && a.startingPrice == b.startingPrice && a.increment == b.increment && a.endsAt == b.endsAt
    }

    package func standing(_ id: String) throws(AuctionError) -> Standing {
        try checkLoaded()
        let read = auctions.read(id)
        guard read.source != .notHeld else { throw misdirected(Auction.contract, id, owner: read.owner) }
        guard let auction = read.value else { throw .notFound("auction \(id)") }
        let high = latestBid(of: id)
        return Standing(
            auction: auction, open: Self.now() < auction.endsAt, bids: high?.number ?? 0, highBid: high?.bid.amount, leader: high?.bid.bidder,
            minimumBid: Self.minimum(after: high?.bid, of: auction), decidedHere: read.source == .owner
        )
    }

    /// The auction's accepted bids, first to last.
    package func history(_ id: String) throws(AuctionError) -> [Bid] {
        _ = try standing(id)
        var history: [Bid] = []
        while let bid = bids[Bid.key(auction: id, number: Int64(history.count + 1))] { history.append(bid) }
        return history
    }

    // MARK: Bids

    /// Places a bid of `amount` cents: decided here if this unit owns the auction, and
    /// answered once the broker holds it. A bidder asking again with the same amount
    /// while their bid leads gets that bid back, so a bid that timed out can be retried.
    package func bid(auction id: String, bidder: String, amount: Int64) async throws(AuctionError) -> Bid {
        try checkLoaded()
        try AuctionRules.checkBidder(bidder)
        try AuctionRules.checkCents(amount, field: "amount")
        // Only the owner decides: a backup's view may lag it by the bids in flight.
        let read = auctions.read(id)
        guard read.source == .owner else { throw misdirected(Auction.contract, id, owner: read.owner) }
        guard let auction = read.value else { throw .notFound("auction \(id)") }
        // Bids racing for the same number lose to one another at most this often before
        // the caller is told to retry; each loss means another bid was accepted.
        for _ in 0..<32 {
            let now = Self.now()
            guard now < auction.endsAt else { throw .closed(at: auction.endsAt) }
            let high = latestBid(of: id)
            if let high = high?.bid, high.bidder.isSameBytes(as: bidder), high.amount == amount { return high }
            let minimum = Self.minimum(after: high?.bid, of: auction)
            guard amount >= minimum else { throw .tooLow(minimum: minimum) }
            let number = (high?.number ?? 0) + 1
            let bid = Bid(id: Bid.key(auction: id, number: number), auction: id, number: number, bidder: bidder, amount: amount, unit: unit.id, placedAt: now)
            let accepted = try await cacheCall { () async throws(CacheError) in
                try await bids.create(bid, timeout: confirmTimeout, confirmation: .brokerAcknowledged)
            }
            if accepted {
                latest.note(number, of: id)
                return bid
            }
        }
        throw .unavailable("bids on auction \(id) keep overtaking this one; retry")
    }

    /// Saturating: the API keeps amounts and increments far below Int64's range, but an
    /// auction or bid another producer put in the log need not, and must not crash the
    /// unit reading it (no bid can meet a minimum of Int64.max).
    package static func minimum(after high: Bid?, of auction: Auction) -> Int64 {
        guard let high else { return auction.startingPrice }
        let (sum, overflow) = high.amount.addingReportingOverflow(auction.increment)
        return overflow ? .max : sum
    }

    /// The auction's latest bid and the number its key holds: found from the last number
    /// this unit knew, forwards while a later bid exists (accepted elsewhere, before a
    /// failover), and backwards while the known one does not (a bid of this unit's that
    /// the log fenced). The next bid is numbered from the key, which the walk counted,
    /// not from the record's `number` field, which another producer may have set to
    /// anything (Int64.max would trap the next bid on every unit holding the auction).
    private func latestBid(of auction: String) -> (number: Int64, bid: Bid)? {
        var number = latest.number(of: auction)
        var bid: Bid?
        while number > 0 {
            bid = bids[Bid.key(auction: auction, number: number)]
            if bid != nil { break }
            number -= 1
        }
        while let next = bids[Bid.key(auction: auction, number: number + 1)] {
            number += 1
            bid = next
        }
        latest.note(number, of: auction)
        return bid.map { (number, $0) }
    }

    // MARK: Helpers

    private func checkLoaded() throws(AuctionError) {
        guard unit.isLoaded else { throw .unavailable("this unit is still loading its caches; retry in a moment or send the request to another unit") }
    }

    private func cacheCall<T>(_ body: () async throws(CacheError) -> T) async throws(AuctionError) -> T {
        do { return try await body() } catch { throw translate(error) }
    }

    private func misdirected(_ cache: ContractName, _ key: String, owner: String?, partition: Int32? = nil) -> AuctionError {
        let route = unit.routingTable(of: cache)?.route(ofKey: key)
        return .misdirected(Misdirection(owner: owner, address: owner == nil ? nil : route?.address, cache: cache.rawValue, partition: partition ?? route?.partition ?? 0))
    }

    func translate(_ error: CacheError) -> AuctionError {
        switch error {
        case .missing(_, let key): .notFound(key)
        case .invalid(_, let key, let reason): .badRequest(field: "request", problem: "\(key): \(reason)")
        case .notOwner(let cache, let key, let partition, let owner): misdirected(cache, key, owner: owner, partition: partition)
        case .backPressure, .closed, .archiveTimeout, .archiveFailed, .unconfirmed: .unavailable("\(error)")
        }
    }
}

/// The last bid number this unit knew per auction, by the id's bytes: where the search for
/// an auction's latest bid starts, so it costs one or two lookups, not one per bid.
final class LatestBids: Sendable {
    private let numbers = Mutex<[ExactKey: Int64]>([:])

    func number(of auction: String) -> Int64 { numbers.withLock { $0[ExactKey(auction)] ?? 0 } }

    func note(_ number: Int64, of auction: String) {
        numbers.withLock { $0[ExactKey(auction)] = number }
    }
}

/// The checks on a request before it touches the caches.
package enum AuctionRules {
    package static func check(_ spec: Auction) throws(AuctionError) {
        guard spec.id.unicodeScalars.count <= 40, !spec.id.isEmpty, spec.id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
            throw .badRequest(field: "id", problem: "use 1 to 40 ASCII letters, digits or '-', not \"\(spec.id)\"")
        }
        guard !spec.title.isEmpty, spec.title.unicodeScalars.count <= 200 else { throw .badRequest(field: "title", problem: "give 1 to 200 characters") }
        guard !spec.seller.isEmpty, spec.seller.unicodeScalars.count <= 200 else { throw .badRequest(field: "seller", problem: "give 1 to 200 characters") }
        try checkCents(spec.startingPrice, field: "startingPrice")
        try checkCents(spec.increment, field: "increment")
        guard (1...RequestBounds.latestInstant).contains(spec.endsAt) else {
            throw .badRequest(field: "endsAt", problem: "must be milliseconds since the Unix epoch, up to \(RequestBounds.latestInstant) (the end of year 9999), not \(spec.endsAt)")
        }
    }

    /// The most cents a price, an increment or a bid may be: far below Int64's range, so
    /// a bid plus the increment can never overflow, and within PostgreSQL's bigint.
    package static let maximumCents: Int64 = 1_000_000_000_000_000

    package static func checkCents(_ cents: Int64, field: String) throws(AuctionError) {
        guard (1...maximumCents).contains(cents) else {
            throw .badRequest(field: field, problem: "must be a positive number of cents up to \(maximumCents), not \(cents)")
        }
    }

    package static func checkBidder(_ bidder: String) throws(AuctionError) {
        guard !bidder.isEmpty, bidder.unicodeScalars.count <= 200 else { throw .badRequest(field: "bidder", problem: "give 1 to 200 characters") }
    }
}

import Auctions
import Foundation
import Logging
import PumphouseCommandLine
import PumphouseContracts
import PumphousePipeline
import PumphousePostgres
import PumphouseReplay

/// The auction demo's verdict: what bidders were told against PostgreSQL (read with plain
/// SQL), and PostgreSQL against a replay of the topics.
struct AuctionDemoChecks {
    let configuration: PipelineConfiguration
    let auctions: [String]
    let timeout: Duration
    let logger: Logger

    func run(report: inout AuctionDemoReport) async throws {
        let told = report.bids.accepted
        report.check("bidders got bids accepted", told.isEmpty ? "no bid was accepted" : nil)
        report.check("no bid failed unexpectedly", report.bids.failures.first.map { "\(report.bids.failures.count) failure(s), e.g. \($0)" })
        report.check("no two bidders were told they placed the same bid", Self.toldTwice(told))
        let db = try await PostgresConnection.connect(configuration: configuration.postgres, logger: logger)
        do {
            try await check(told, db: db, report: &report)
        } catch {
            await db.close()
            throw error
        }
        await db.close()
    }

    private func check(_ told: [AcceptedBid], db: PostgresConnection, report: inout AuctionDemoReport) async throws {
        // The writer drains: PostgreSQL equals a replay of both topics.
        let draining = ContinuousClock.now
        for contract in [Auction.contract, Bid.contract] {
            let replay = try TopicReplay(configuration: configuration, cache: contract, logger: logger)
            var differences: [TopicReplay.Difference] = []
            var entities = 0
            var gaps = 0
            let deadline = ContinuousClock.now + timeout
            repeat {
                let state = try await replay.fold(timeout: timeout)
                differences = try await replay.verify(state, on: db)
                entities = state.entities.count
                gaps = state.sequenceGaps.count
                if differences.isEmpty { break }
                try await Task.sleep(for: .milliseconds(500))
            } while ContinuousClock.now < deadline
            report.check("PostgreSQL equals a replay of \(contract)'s topic (\(entities) entities)", differences.first.map { "\(differences.count) difference(s), e.g. \($0)" })
            report.check("no change a unit numbered is missing from \(contract)'s topic", gaps == 0 ? nil : "\(gaps) sequence gap(s)")
        }
        report.drain = ContinuousClock.now - draining

        let rows = try await db.query(
            """
            SELECT b.auction, b.number, b.bidder, b.amount_cents, a.starting_price_cents, a.increment_cents
            FROM auction_bid b JOIN auction_auction a ON a.id = b.auction
            WHERE b.auction = ANY($1) ORDER BY b.auction, b.number
            """,
            [auctions]
        ).rows
        var stored: [ExactKey: [Int64: (bidder: String, amount: Int64)]] = [:]
        var ladderProblems: [String] = []
        var previous: (auction: String, number: Int64, amount: Int64)?
        for row in rows {
            guard let auction = row[0], let number = row[1].flatMap(Int64.init), let bidder = row[2], let amount = row[3].flatMap(Int64.init),
                  let start = row[4].flatMap(Int64.init), let increment = row[5].flatMap(Int64.init)
            else { continue }
            stored[ExactKey(auction), default: [:]][number] = (bidder, amount)
            let isFirst = previous.map { !$0.auction.isSameBytes(as: auction) } ?? true
            let expectedNumber = isFirst ? 1 : previous!.number + 1
            let minimum = isFirst ? start : previous!.amount + increment
            if number != expectedNumber { ladderProblems.append("\(auction): bid \(number) follows bid \(isFirst ? 0 : previous!.number)") }
            if amount < minimum { ladderProblems.append("\(auction): bid \(number) of \(amount) is below \(minimum)") }
            previous = (auction, number, amount)
        }
        report.storedBids = rows.count
        report.check("each auction's bids in PostgreSQL are numbered 1...n and each raises the last by the increment (\(rows.count) bids)", ladderProblems.first.map { "\(ladderProblems.count) problem(s), e.g. \($0)" })
        let lost = told.filter { bid in
            guard let row = stored[ExactKey(bid.auction)]?[bid.number] else { return true }
            return !row.bidder.isSameBytes(as: bid.bidder) || row.amount != bid.amount
        }
        report.check("every bid a bidder was told was accepted is in PostgreSQL, as told (\(told.count))", lost.first.map { "\(lost.count) missing or different, e.g. \($0.number)@\($0.auction)" })
    }

    /// Two answers naming the same bid number of an auction but not the same bid.
    static func toldTwice(_ told: [AcceptedBid]) -> String? {
        let byNumber = Dictionary(grouping: told) { "\($0.number)@\($0.auction)" }
        let twice = byNumber.filter { Set($0.value.map { "\($0.bidder)/\($0.amount)" }).count > 1 }
        return twice.keys.sorted().first.map { "\(twice.count) bid number(s) told to two bidders, e.g. \($0)" }
    }
}

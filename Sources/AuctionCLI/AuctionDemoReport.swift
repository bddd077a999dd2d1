import Foundation

/// The auction demo's summary: the routing table, what bidders were told, the failover,
/// and every check with its verdict.
struct AuctionDemoReport {
    var routing: [String] = []
    var bids = BidTally.Snapshot()
    var storedBids = 0
    /// From the kill until the survivors agreed on new owners.
    var failoverSettled: Duration?
    var drain: Duration?
    /// Changes the writer dead-lettered as fenced: the killed owner's resent changes.
    var fenced = 0
    var checks: [(name: String, problem: String?)] = []
    var failures: [String] = []

    mutating func check(_ name: String, _ problem: String?) {
        checks.append((name, problem))
        if let problem { failures.append("\(name): \(problem)") }
    }

    func print(logs: String) {
        var lines = ["", "auction demo summary", "  routing table of auction.Auction (auction.Bid is co-partitioned, placed by the part after \"@\"):"]
        lines += routing.map { "    \($0)" }
        // A bidder retrying a bid whose first answer was lost is answered with that bid
        // again: count bids, not answers.
        let distinct = Set(bids.accepted.map { "\($0.number)@\($0.auction)" }).count
        lines.append("  bids accepted: \(distinct) (\(bids.accepted.count) answers 201), outbid (409): \(bids.outbid), retried (421, 503, unreachable unit): \(bids.retried); bids in PostgreSQL: \(storedBids)")
        if let settled = failoverSettled { lines.append("  owner killed: the survivors agreed on new owners after \(Self.milliseconds(settled)) ms") }
        if let failover = bids.failover { lines.append("  first bid accepted in the killed owner's partition \(Self.milliseconds(failover)) ms after the kill") }
        if let drain { lines.append("  PostgreSQL equal to the topics \(Self.milliseconds(drain)) ms after the bidding ended") }
        lines.append("  fenced by the log (the killed owner's unacknowledged changes, resent after its successor's claim; dead-lettered by the writer): \(fenced)")
        for check in checks { lines.append("  \(check.problem == nil ? "✓" : "✗") \(check.name)\(check.problem.map { ": \($0)" } ?? "")") }
        for failure in failures where !checks.contains(where: { failure.hasPrefix($0.name) }) { lines.append("  ✗ \(failure)") }
        lines.append(failures.isEmpty ? "  every check passed" : "  \(failures.count) check(s) failed; logs in \(logs)")
        FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }

    static func milliseconds(_ duration: Duration) -> Int { Int(duration / .milliseconds(1)) }
}

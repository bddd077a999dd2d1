import PumphouseUnitHTTP

/// Why the auction house refused a request. Each case maps to one HTTP status, and its
/// description tells the bidder (or the operator) what to do.
package enum AuctionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Malformed input: `field` names the part of the request, `problem` the fix.
    case badRequest(field: String, problem: String)
    case notFound(String)
    /// The auction exists already, with other details.
    case conflict(String)
    /// The bid is below what the auction takes now: the starting price, or the high bid
    /// plus the increment.
    case tooLow(minimum: Int64)
    /// The auction ended at `at` (milliseconds since the Unix epoch).
    case closed(at: Int64)
    /// The unit cannot decide now: still loading, shutting down, the broker did not
    /// acknowledge the bid in time, or bids keep overtaking this one. Retry later.
    case unavailable(String)
    /// Another unit decides this auction (it owns the auction's partition): the unit
    /// forwards the request there once, to its address if it knows it.
    case misdirected(Misdirection)

    package var code: String {
        switch self {
        case .badRequest: "bad-request"
        case .notFound: "not-found"
        case .conflict: "conflict"
        case .tooLow: "too-low"
        case .closed: "closed"
        case .unavailable: "unavailable"
        case .misdirected: "misdirected"
        }
    }

    package var description: String {
        switch self {
        case .badRequest(let field, let problem): "\(field): \(problem)"
        case .notFound(let what): "\(what) does not exist"
        case .conflict(let reason): reason
        case .tooLow(let minimum): "the auction takes bids of \(minimum) cents or more now; bid again"
        case .closed(let at): "the auction ended at \(at) (ms since the epoch)"
        case .unavailable(let reason): reason
        case .misdirected(let misdirection):
            if let owner = misdirection.owner {
                "unit \(owner)\(misdirection.address.map { " at \($0)" } ?? "") decides this auction; send the request there (GET /routing names every partition's owner and address)"
            } else {
                "no unit decides this auction right now (its ownership is moving); retry in a moment"
            }
        }
    }
}

extension AuctionError: MisdirectedRequestError {
    package var misdirection: Misdirection? {
        if case .misdirected(let misdirection) = self { misdirection } else { nil }
    }
}

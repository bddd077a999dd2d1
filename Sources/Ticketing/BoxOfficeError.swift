import PumphouseUnitHTTP

/// Why the box office refused a request. Each case maps to one HTTP status, and its
/// description tells the buyer (or the operator) what to do.
package enum BoxOfficeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Malformed input: `field` names the part of the request, `problem` the fix.
    case badRequest(field: String, problem: String)
    case notFound(String)
    /// The seat (or concert) is taken: sold, held by someone else, or existing already.
    case conflict(String)
    /// The buyer's own hold lapsed before the purchase.
    case holdExpired(seat: String, at: Int64)
    /// The unit cannot decide now: still loading, shutting down, or the log has not
    /// confirmed a sale yet. Retry later: a purchase retried by the same buyer answers
    /// with the sale once the log has decided that the first attempt won.
    case unavailable(String)
    /// Another unit decides this request (it owns the key's partition of a partitioned
    /// cache): the unit forwards it there once, to its address if it knows it.
    case misdirected(Misdirection)
    /// Another unit's share of a request that spans every partition (a seat map, a
    /// concert's counts) could not be had: its status and reason.
    case fanOut(FanOutFailed)

    package var code: String {
        switch self {
        case .badRequest: "bad-request"
        case .notFound: "not-found"
        case .conflict: "conflict"
        case .holdExpired: "hold-expired"
        case .unavailable: "unavailable"
        case .misdirected: "misdirected"
        case .fanOut(let failure): failure.code
        }
    }

    package var description: String {
        switch self {
        case .badRequest(let field, let problem): "\(field): \(problem)"
        case .notFound(let what): "\(what) does not exist"
        case .conflict(let reason): reason
        case .holdExpired(let seat, let at): "the hold on \(seat) lapsed at \(at) (ms since the epoch); reserve it again"
        case .unavailable(let reason): reason
        case .fanOut(let failure): failure.description
        case .misdirected(let misdirection):
            if let owner = misdirection.owner {
                "unit \(owner) decides this seat; send the request there (GET /routing names every partition's owner and address)"
            } else {
                "no unit decides this seat right now (its ownership is moving); retry in a moment"
            }
        }
    }
}

extension BoxOfficeError: MisdirectedRequestError {
    package var misdirection: Misdirection? {
        if case .misdirected(let misdirection) = self { misdirection } else { nil }
    }
}

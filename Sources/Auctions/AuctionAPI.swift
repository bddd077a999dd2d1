import Foundation
import Hummingbird
import PumphouseObservability
import PumphouseUnitHTTP

/// The auction house over HTTP: JSON in and out, every error as
/// `{"error": code, "detail": text}` with its status, plus `/routing` (which unit decides
/// which auctions), /metrics, /healthz and /readyz.
///
/// A request for an auction another unit owns is forwarded there once
/// (`OwnerForwarding`), and answered 421 where it cannot be (a forwarded request at a
/// non-owner, an owner with no known address); a smart client routes by `/routing` and
/// sends each auction's requests to its owner, saving the hop.
package enum AuctionAPI {
    package static func router(_ house: AuctionHouse) -> Router<BasicRequestContext> {
        let router = Router()
        // Requests in flight and their latency per route, for the autoscaler.
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: OwnerForwarding(unit: house.unit.id))
        ServiceEndpoints.addRoutes(to: router) {
            house.unit.isLoaded ? Readiness(isReady: true, reason: "loaded") : Readiness(isReady: false, reason: "loading the caches")
        }
        RoutingEndpoints.addRoutes(to: router, unit: house.unit)
        router.post("/auctions") { request, context in
            let auction = try await decode(Auction.self, request, context)
            return try await respond(status: .created) { () async throws(AuctionError) in try await house.open(auction) }
        }
        router.get("/auctions/:auction") { _, context in
            let id = try context.parameters.require("auction")
            return try await respond { () throws(AuctionError) in try house.standing(id) }
        }
        router.get("/auctions/:auction/bids") { _, context in
            let id = try context.parameters.require("auction")
            return try await respond { () throws(AuctionError) in try house.history(id) }
        }
        router.post("/auctions/:auction/bids") { request, context in
            let id = try context.parameters.require("auction")
            let body = try await decode(BidRequest.self, request, context)
            return try await respond(status: .created) { () async throws(AuctionError) in
                try await house.bid(auction: id, bidder: body.bidder, amount: body.amount)
            }
        }
        return router
    }

    struct BidRequest: Decodable {
        var bidder: String
        var amount: Int64
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ request: Request, _ context: BasicRequestContext) async throws -> T {
        try await request.decodeJSON(type, context: context) { AuctionError.badRequest(field: "body", problem: $0) }
    }

    private static func respond<T: Encodable>(status: HTTPResponse.Status = .ok, _ body: () async throws(AuctionError) -> T) async throws -> EditedResponse<JSONResponse<T>> {
        EditedResponse(status: status, response: JSONResponse(try await body()))
    }
}

extension AuctionError: JSONAPIError {
    package var status: HTTPResponse.Status {
        switch self {
        case .badRequest: .badRequest
        case .notFound: .notFound
        case .conflict, .tooLow: .conflict
        case .closed: .gone
        case .unavailable: .serviceUnavailable
        case .misdirected: .misdirectedRequest
        }
    }
}

import Foundation
import Hummingbird
import PumphouseContracts
import PumphouseObservability
import PumphouseUnit
import PumphouseUnitHTTP

/// The box office over HTTP: JSON in and out, every error as
/// `{"error": code, "detail": text}` with its status, plus /metrics, /healthz and
/// /readyz (ready once the unit has loaded its caches).
package enum TicketingAPI {
    /// The units' router: the shared routes, `/routing`, and two routes that are not
    /// public, behind `admin` (``AdminOnly``: refused without its bearer token, and
    /// always when `admin` is nil): `/admin/state` (every entity of the caches, buyers
    /// included) and `/admin/undecided` (creates whose outcome the log has yet to bring
    /// back).
    package static func router(_ office: BoxOffice, admin: AdminCredential?) -> Router<BasicRequestContext> {
        let router = routes(office, forwarding: OwnerForwarding(unit: office.unit.id))
        // Which unit decides which seats' sales: for smart clients and proxies. No
        // entity data, so it is as public as the box office itself.
        RoutingEndpoints.addRoutes(to: router, unit: office.unit)
        addOwnerShares(to: router, office)
        let nonPublic = router.group("/admin").add(middleware: AdminOnly(admin))
        nonPublic.get("/state") { _, _ in
            try CacheState(office)
        }
        // A sale's follow-up (the concert's counter, the seat's hold) runs in the unit
        // that made it once the log decides it; a planned stop waits for zero here.
        nonPublic.get("/undecided") { _, _ in
            JSONResponse(["creates": office.unit.undecidedCreates])
        }
        return router
    }

    /// Where seats are partitioned, a request spanning a concert's seats asks each owner
    /// for its share: these routes answer for the partitions named in `?partitions=`
    /// and refuse (421) any this unit does not own (`OwnerFanOut`). They reveal nothing
    /// the public routes do not.
    static func addOwnerShares(to router: Router<BasicRequestContext>, _ office: BoxOffice) {
        let shares = router.group("/grid/concerts/:concert")
        shares.get("/seats") { request, context in
            let (concert, partitions) = try share(request, context)
            return try await respond { () async throws(BoxOfficeError) in try await office.seatMap(concert, partitions: partitions) }
        }
        shares.get("/summary") { request, context in
            let (concert, partitions) = try share(request, context)
            return try await respond { () async throws(BoxOfficeError) in try await office.summary(concert, partitions: partitions) }
        }
        shares.post("/layout") { request, context in
            let (concert, partitions) = try share(request, context)
            let spec = try await decode(BoxOffice.NewConcert.self, request, context)
            guard spec.id.isSameBytes(as: concert) else { throw BoxOfficeError.badRequest(field: "id", problem: "the body's id must be the concert of the path, \(concert)") }
            return try await respond { () async throws(BoxOfficeError) in
                try await office.layOut(spec, partitions: partitions)
                return LaidOut(concert: concert, partitions: partitions)
            }
        }
    }

    private static func share(_ request: Request, _ context: BasicRequestContext) throws -> (concert: String, partitions: [Int32]) {
        guard let partitions = try OwnerFanOut.partitions(askedBy: request) else {
            throw BoxOfficeError.badRequest(field: OwnerFanOut.partitionsParameter, problem: "name the partitions this unit is asked for, as ?partitions=0,2")
        }
        return (try context.parameters.require("concert"), partitions)
    }

    struct LaidOut: Encodable { var concert: String; var partitions: [Int32] }

    /// The box-office routes over any storage, with /metrics, /healthz and /readyz;
    /// `forwarding` passes requests another unit decides to that unit.
    package static func routes(_ office: some BoxOfficeService, forwarding: OwnerForwarding? = nil) -> Router<BasicRequestContext> {
        let router = Router()
        // Requests in flight and their latency per route: what the deployment's
        // autoscaler scales units on (deploy/kubernetes/autoscaling), not CPU.
        router.add(middleware: MetricsMiddleware())
        if let forwarding { router.add(middleware: forwarding) }
        ServiceEndpoints.addRoutes(to: router) { office.readiness }
        router.get("/concerts") { _, _ in try await respond { () async throws(BoxOfficeError) in try await office.list() } }
        router.post("/concerts") { request, context in
            let spec = try await decode(BoxOffice.NewConcert.self, request, context)
            return try await respond(status: .created) { () async throws(BoxOfficeError) in try await office.open(spec) }
        }
        router.get("/concerts/:concert/summary") { _, context in
            let concert = try context.parameters.require("concert")
            return try await respond { () async throws(BoxOfficeError) in try await office.summary(concert) }
        }
        router.get("/concerts/:concert/seats") { _, context in
            let concert = try context.parameters.require("concert")
            return try await respond { () async throws(BoxOfficeError) in try await office.seatMap(concert) }
        }
        router.post("/concerts/:concert/seats/:seat/reserve") { request, context in
            let (concert, seat) = (try context.parameters.require("concert"), try context.parameters.require("seat"))
            let body = try await decode(ReserveRequest.self, request, context)
            return try await respond(status: .created) { () async throws(BoxOfficeError) in try await office.reserve(concert: concert, seat: seat, buyer: body.buyer) }
        }
        router.post("/concerts/:concert/seats/:seat/purchase") { request, context in
            let (concert, seat) = (try context.parameters.require("concert"), try context.parameters.require("seat"))
            let body = try await decode(PurchaseRequest.self, request, context)
            return try await respond(status: .created) { () async throws(BoxOfficeError) in
                try await office.purchase(concert: concert, seat: seat, hold: body.hold, buyer: body.buyer)
            }
        }
        router.post("/concerts/:concert/seats/:seat/release") { request, context in
            let (concert, seat) = (try context.parameters.require("concert"), try context.parameters.require("seat"))
            let body = try await decode(ReleaseRequest.self, request, context)
            return try await respond { () async throws(BoxOfficeError) in
                try await office.release(concert: concert, seat: seat, hold: body.hold)
                return Released(released: seat)
            }
        }
        return router
    }

    struct ReserveRequest: Decodable { var buyer: String }
    struct PurchaseRequest: Decodable { var hold: String; var buyer: String }
    struct ReleaseRequest: Decodable { var hold: String }
    struct Released: Encodable { var released: String }

    /// Every entity of the three caches, as contract fields by key: what the demo compares
    /// across units, with the database and with a replay of the topics.
    struct CacheState: ResponseGenerator {
        let body: [UInt8]

        init(_ office: BoxOffice) throws(BoxOfficeError) {
            var caches = JSONObject()
            do {
                caches[Concert.contract.rawValue] = .object(JSONObject(try office.concerts.values.map { .init(name: $0.key, value: .object(try $0.fields)) }))
                caches[Seat.contract.rawValue] = .object(JSONObject(try office.seats.values.map { .init(name: $0.key, value: .object(try $0.fields)) }))
                caches[Sale.contract.rawValue] = .object(JSONObject(try office.sales.values.map { .init(name: $0.key, value: .object(try $0.fields)) }))
                body = try JSONWriter.encode(.object(caches))
            } catch {
                throw .unavailable("the cache state cannot be written as JSON: \(error)")
            }
        }

        func response(from request: Request, context: some RequestContext) throws -> Response {
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ request: Request, _ context: BasicRequestContext) async throws -> T {
        try await request.decodeJSON(type, context: context) { BoxOfficeError.badRequest(field: "body", problem: $0) }
    }

    private static func respond<T: Encodable>(status: HTTPResponse.Status = .ok, _ body: () async throws(BoxOfficeError) -> T) async throws -> EditedResponse<JSONResponse<T>> {
        EditedResponse(status: status, response: JSONResponse(try await body()))
    }
}

extension BoxOfficeError: JSONAPIError {
    package var status: HTTPResponse.Status {
        switch self {
        case .badRequest: .badRequest
        case .notFound: .notFound
        case .conflict: .conflict
        case .holdExpired: .gone
        case .unavailable: .serviceUnavailable
        case .misdirected: .misdirectedRequest
        case .fanOut(let failure): failure.status
        }
    }
}

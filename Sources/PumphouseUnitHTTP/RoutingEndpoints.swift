import Foundation
import Hummingbird
import PumphouseContracts
import PumphouseUnit

/// `GET /routing` and `GET /routing/{cache}`: where each key of a unit's partitioned
/// caches is decided, for smart clients and proxies that send a request to its owner
/// themselves. Public on purpose: a routing table holds no entity data, only unit ids,
/// addresses and terms, so it may be served beside the application's own API.
public enum RoutingEndpoints {
    /// `{"caches": [table, ...]}` for every partitioned cache the unit opened.
    public struct Tables: Codable, Sendable {
        public var caches: [RoutingTable]
    }

    /// A routing question that has no table to answer with, as `{"error", "detail"}`.
    public struct Refusal: Codable, Sendable, Error {
        public var error: String
        public var detail: String
    }

    public static func addRoutes<Context: RequestContext>(to router: Router<Context>, unit: ProcessingUnit) {
        router.get("/routing") { _, _ in
            try json(.ok, Tables(caches: unit.routingTables()))
        }
        router.get("/routing/:cache") { _, context in
            let name = try context.parameters.require("cache")
            switch table(named: name, in: unit) {
            case .success(let table): return try json(.ok, table)
            case .failure(let refusal): return try json(.notFound, refusal)
            }
        }
    }

    /// The table of the cache named `name` (by its bytes, as contract names are told
    /// apart), or why there is none.
    static func table(named name: String, in unit: ProcessingUnit) -> Result<RoutingTable, Refusal> {
        let tables = unit.routingTables()
        if let table = tables.first(where: { $0.cache.isSameBytes(as: name) }) { return .success(table) }
        let partitioned = tables.map(\.cache).sorted()
        let known = partitioned.isEmpty ? "this unit holds no partitioned cache" : "its partitioned caches: \(partitioned.joined(separator: ", "))"
        let opened = unit.openedCaches.contains { $0.rawValue.isSameBytes(as: name) }
        let detail = opened
            ? "cache \(name) is replicated: every unit holds all of its keys and decides any of them, so it has no routing table; \(known)"
            : "this unit has no cache \(name); \(known) (GET /routing lists them)"
        return .failure(Refusal(error: opened ? "not-partitioned" : "unknown-cache", detail: detail))
    }

    private static func json(_ status: HTTPResponse.Status, _ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value)))
        )
    }
}

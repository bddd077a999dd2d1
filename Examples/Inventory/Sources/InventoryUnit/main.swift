import Foundation
import Hummingbird
import Logging
import PumphouseContracts
import PumphousePipeline
import PumphouseUnit
import ServiceLifecycle

/// One item of stock. `@CacheFields` writes its conversion to and from the contract's
/// fields (Schemas/inventory.Item), so a put costs no coder.
@CacheFields
struct Item: CodableCacheEntity, ResponseEncodable {
    static let contract = try! ContractName("inventory.Item")
    var sku: String
    var name: String
    var stock: Int64
    var key: String { sku }
}

struct NewItem: Decodable {
    var name: String
    var stock: Int64
}

/// Every refusal as a status and a line saying why.
func refusal(_ error: CacheError) -> HTTPError {
    switch error {
    case .missing: HTTPError(.notFound, message: "\(error)")
    case .invalid: HTTPError(.badRequest, message: "\(error)")
    default: HTTPError(.serviceUnavailable, message: "\(error)")
    }
}

// Usage: InventoryUnit [pipeline.yaml]; UNIT_ID and PORT choose the unit and its port.
let environment = ProcessInfo.processInfo.environment
let unitID = environment["UNIT_ID"] ?? "inventory-1"
let port = Int(environment["PORT"] ?? "") ?? 8090
let logger = Logger(label: "inventory.\(unitID)")
do {
    let pipeline = try PipelineConfiguration.load(path: CommandLine.arguments.dropFirst().first ?? "pipeline.yaml")

    // The spool keeps every change the unit accepted until the broker has it, across a
    // kill -9; it belongs to this unit id alone.
    let unit = try ProcessingUnit(
        configuration: UnitConfiguration(pipeline: pipeline, unitID: unitID, address: "127.0.0.1:\(port)", spoolDirectory: ".spool/\(unitID)"),
        logger: logger
    )
    let items = try unit.cache(Item.self)

    let router = Router()
    router.get("/readyz") { _, _ -> HTTPResponse.Status in unit.isLoaded ? .ok : .serviceUnavailable }
    router.get("/items/:sku") { _, context -> Item in
        let sku = try context.parameters.require("sku")
        guard let item = items[sku] else { throw HTTPError(.notFound, message: "no item \(sku)") }
        return item
    }
    // Answers once the change is in this unit's cache and spool; the data pump carries it
    // to Kafka and the writer to PostgreSQL behind the request.
    router.put("/items/:sku") { request, context -> Item in
        let body = try await request.decode(as: NewItem.self, context: context)
        let item = Item(sku: try context.parameters.require("sku"), name: body.name, stock: body.stock)
        do throws(CacheError) { try items.put(item) } catch { throw refusal(error) }
        return item
    }
    // Takes `count` items out of stock. The schema's minimum of 0 refuses a take that
    // would overdraw, whatever this unit's check saw.
    router.post("/items/:sku/take/:count") { _, context -> Item in
        let sku = try context.parameters.require("sku")
        let count = try context.parameters.require("count", as: Int64.self)
        guard let item = items[sku] else { throw HTTPError(.notFound, message: "no item \(sku)") }
        guard count > 0, count <= item.stock else { throw HTTPError(.conflict, message: "\(sku) has \(item.stock) in stock") }
        do throws(CacheError) { try items.update(sku) { $0.stock -= count } } catch { throw refusal(error) }
        return items[sku] ?? item
    }

    let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
    let services = ServiceGroup(configuration: .init(services: [unit, app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    try await services.run()
} catch {
    // A bad pipeline file, schema or spool: the error names it and the fix.
    logger.critical("inventory unit \(unitID) stopped: \(error)")
    exit(1)
}

import Foundation
import Logging
import PumphouseContracts
import PumphousePipeline
import PumphousePostgres
import PumphouseWriter
import ServiceLifecycle

/// Writes inventory.Item to its table and notes every change that leaves an item with
/// fewer than 5 in stock: what a declarative mapping cannot say. The writer keeps
/// order, folding, duplicates, dead letters and offsets; the mapper only says what SQL
/// one entity's folded change becomes.
struct ItemMapper: ContractMapper {
    func statements(for change: EntityChange) throws -> [PostgresStatement] {
        let upsert = "INSERT INTO inventory_item (sku, name, stock) VALUES ($1, $2, $3) ON CONFLICT (sku) DO"
        // Fields set by the change (NULL: unchanged), then the stock's delta.
        let update = PostgresStatement(
            "UPDATE inventory_item SET name = coalesce($2, name), stock = coalesce($3, stock) + $4 WHERE sku = $1",
            [change.key, Self.text(change.effect.fields["name"]), Self.integer(change.effect.fields["stock"]), Self.integer(change.effect.deltas["stock"]) ?? 0]
        )
        let changes: [PostgresStatement] = switch change.effect {
        case .upsert(let row):
            [PostgresStatement(upsert + " UPDATE SET name = EXCLUDED.name, stock = EXCLUDED.stock", [change.key, Self.text(row["name"]), Self.integer(row["stock"])])]
        case .create(let row, _, _):
            [PostgresStatement(upsert + " NOTHING", [change.key, Self.text(row["name"]), Self.integer(row["stock"])]), update]
        case .update:
            [update]
        case .delete:
            [PostgresStatement("DELETE FROM inventory_item WHERE sku = $1", [change.key])]
        }
        let lowStock = PostgresStatement("INSERT INTO inventory_low_stock (sku, stock) SELECT sku, stock FROM inventory_item WHERE sku = $1 AND stock < 5", [change.key])
        return changes + [lowStock]
    }

    static func text(_ value: JSONValue?) -> String? {
        if case .string(let text) = value { text } else { nil }
    }

    static func integer(_ value: JSONValue?) -> Int64? {
        if case .int(let number) = value { number } else { nil }
    }
}

extension EntityEffect {
    /// What an update or a create's follow-up sets and adds; nothing for the others.
    var fields: JSONObject {
        switch self {
        case .update(let fields, _), .create(_, let fields, _): fields
        case .upsert, .delete: JSONObject()
        }
    }

    var deltas: JSONObject {
        switch self {
        case .update(_, let deltas), .create(_, _, let deltas): deltas
        case .upsert, .delete: JSONObject()
        }
    }
}

// Usage: InventoryWriter [pipeline.yaml]. Migrates, checks the database, then applies
// the topic until SIGTERM or SIGINT (the batch in flight commits first).
let logger = Logger(label: "inventory.writer")
do {
    let pipeline = try PipelineConfiguration.load(path: CommandLine.arguments.dropFirst().first ?? "pipeline.yaml")
    let writer = try DataWriter(configuration: pipeline, writer: "inventory", mappers: [try ContractName("inventory.Item"): ItemMapper()], logger: logger)
    let db = try await PostgresConnection.connect(configuration: pipeline.postgres, logger: logger)
    try await pipeline.migrate(on: db, logger: logger)
    try await writer.prepare(on: db)
    let services = ServiceGroup(configuration: .init(services: [writer], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    try await services.run()
} catch {
    logger.critical("inventory writer stopped: \(error)")
    exit(1)
}

import PumphouseContracts
import PumphousePipeline
import PumphousePostgres

/// Applies a batch's effects for one table with COPY into a staging table and one
/// set-based statement per kind of change, instead of one statement per entity.
///
/// Staging columns are text (COPY's text format) and are cast to each column's catalog
/// type in the merge, the same conversions the per-entity statements get from bound
/// parameters. Effects this path cannot express (a whole-state JSON column with numeric
/// deltas) are left to the per-entity path.
struct SetBasedApply {
    let table: MappedTable
    /// Column name to `format_type` of the live column, read at start-up.
    let columnTypes: [String: String]

    struct Outcome {
        var applied: [BatchPlan.EntityKey] = []
        /// Updates whose row does not exist.
        var missing: [BatchPlan.EntityKey] = []
        /// Effects for the per-entity path.
        var leftOver: [BatchPlan.EntityKey] = []
    }

    private var mapping: TableMapping { table.mapping }
    private var target: String { SQLIdentifier.quoted(mapping.table) }

    func apply(_ keys: [BatchPlan.EntityKey], entities: [BatchPlan.EntityKey: BatchPlan.Entity], in tx: PostgresConnection) async throws -> Outcome {
        var outcome = Outcome()
        var upserts: [(BatchPlan.EntityKey, JSONObject)] = []
        var deletes: [BatchPlan.EntityKey] = []
        var updates: [[String]: [(BatchPlan.EntityKey, JSONObject, JSONObject)]] = [:]
        let wholeStateJSON = mapping.columns.contains { if case .json(let path) = $0.source { path.isEmpty } else { false } }
        for key in keys {
            guard let entity = entities[key] else { continue }
            switch entity.effect {
            case .upsert(let row): upserts.append((key, row))
            case .delete: deletes.append(key)
            case .update(let fields, let deltas):
                if wholeStateJSON && !deltas.isEmpty {
                    outcome.leftOver.append(key)
                    continue
                }
                let shape = fields.names.sorted().map { "set:\($0)" } + deltas.names.sorted().map { "add:\($0)" }
                updates[shape, default: []].append((key, fields, deltas))
            }
        }
        if !upserts.isEmpty { try await upsert(upserts, in: tx); outcome.applied += upserts.map(\.0) }
        for (_, group) in updates.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            let updated = try await update(group, in: tx)
            for (key, _, _) in group {
                if updated.contains(key.key) { outcome.applied.append(key) } else { outcome.missing.append(key) }
            }
        }
        if !deletes.isEmpty { try await delete(deletes, in: tx); outcome.applied += deletes }
        return outcome
    }

    // MARK: Statements

    /// Staging columns are text, so every value is converted, to the live column type
    /// when the mapping names none.
    private func cast(_ column: TableMapping.Column, _ expression: String) -> String {
        MappedTable.conversion(for: column, operand: expression, type: column.type ?? columnTypes[column.name] ?? "text")
    }

    private func keyColumn(_ name: String) -> TableMapping.Column { mapping.column(name)! }

    /// A staging table of text columns, filled by COPY; dropped at commit.
    private func stage(_ name: String, columns: [String], rows: [[String?]], in tx: PostgresConnection) async throws {
        let definitions = columns.enumerated().map { "c\($0.offset) text" }.joined(separator: ", ")
        try await tx.execute(script: "CREATE TEMP TABLE \(name) (\(definitions)) ON COMMIT DROP")
        var encoder = PostgresCopyEncoder(reservingCapacity: rows.count * 64)
        for row in rows { encoder.append(row: row) }
        try await tx.copyIn("COPY \(name) FROM STDIN", payload: encoder.bytes)
    }

    private func upsert(_ rows: [(BatchPlan.EntityKey, JSONObject)], in tx: PostgresConnection) async throws {
        let columns = mapping.columns
        var values: [[String?]] = []
        values.reserveCapacity(rows.count)
        for (key, row) in rows {
            values.append(try columns.map { MappedTable.Builder.text(try table.value(of: $0, in: row, key: key.key)) })
        }
        try await stage("pumphouse_stage_upsert", columns: columns.map(\.name), rows: values, in: tx)
        var names = columns.map { SQLIdentifier.quoted($0.name) }
        var selects = columns.enumerated().map { cast($0.element, "s.c\($0.offset)") }
        if let soft = mapping.deleteColumn {
            names.append(SQLIdentifier.quoted(soft))
            selects.append("NULL")
        }
        let keys = mapping.keyColumns.map(SQLIdentifier.quoted)
        let assignments = names.filter { !keys.contains($0) }.map { "\($0) = EXCLUDED.\($0)" }
        let conflict = assignments.isEmpty ? "DO NOTHING" : "DO UPDATE SET " + assignments.joined(separator: ", ")
        try await tx.query("INSERT INTO \(target) (\(names.joined(separator: ", "))) SELECT \(selects.joined(separator: ", ")) FROM pumphouse_stage_upsert s ON CONFLICT (\(keys.joined(separator: ", "))) \(conflict)")
        try await tx.execute(script: "DROP TABLE pumphouse_stage_upsert")
    }

    /// Returns the entity keys whose rows were updated.
    private func update(_ group: [(BatchPlan.EntityKey, JSONObject, JSONObject)], in tx: PostgresConnection) async throws -> Set<String> {
        guard let (_, sampleFields, sampleDeltas) = group.first else { return [] }
        // Staging: the key columns, then one column per assigned column.
        var staged: [String] = mapping.keyColumns
        var assignments: [String] = []
        var extractors: [(BatchPlan.EntityKey, JSONObject, JSONObject) throws -> String?] = []
        for name in mapping.keyColumns {
            let column = keyColumn(name)
            extractors.append { key, fields, _ in
                table.keyValue(of: column, fields: fields, key: key.key).flatMap(MappedTable.Builder.text)
            }
        }
        for column in mapping.columns {
            let name = SQLIdentifier.quoted(column.name)
            switch column.source {
            case .field(let path) where sampleFields[path[0]] != nil:
                let index = staged.count
                staged.append(column.name)
                assignments.append("\(name) = \(cast(column, "s.c\(index)"))")
                extractors.append { _, fields, _ in MappedTable.Builder.text(MappedTable.lookup(path, in: fields) ?? column.defaultValue ?? .null) }
            case .field(let path) where path.count == 1 && sampleDeltas[path[0]] != nil:
                let index = staged.count
                staged.append(column.name)
                let type = column.type ?? columnTypes[column.name] ?? "numeric"
                assignments.append("\(name) = \(name) + (s.c\(index))::\(type)")
                extractors.append { _, _, deltas in MappedTable.Builder.text(deltas[path[0]] ?? .int(0)) }
            case .json(let path) where path.isEmpty && !sampleFields.isEmpty:
                let index = staged.count
                staged.append(column.name)
                assignments.append("\(name) = \(name) || (s.c\(index))::jsonb")
                extractors.append { _, fields, _ in MappedTable.Builder.text(.object(fields)) }
            case .json(let path) where !path.isEmpty && sampleFields[path[0]] != nil:
                let index = staged.count
                staged.append(column.name)
                assignments.append("\(name) = (s.c\(index))::jsonb")
                extractors.append { _, fields, _ in MappedTable.Builder.text(MappedTable.lookup(path, in: fields) ?? .null) }
            default:
                continue
            }
        }
        guard !assignments.isEmpty else {
            throw MappedTable.MappingFailure(description: "the update changes no mapped column of \(mapping.table)")
        }
        var rows: [[String?]] = []
        rows.reserveCapacity(group.count)
        for entry in group { rows.append(try extractors.map { try $0(entry.0, entry.1, entry.2) }) }
        try await stage("pumphouse_stage_update", columns: staged, rows: rows, in: tx)
        var conditions = mapping.keyColumns.enumerated().map { "t.\(SQLIdentifier.quoted($0.element)) = \(cast(keyColumn($0.element), "s.c\($0.offset)"))" }
        if let soft = mapping.deleteColumn { conditions.append("t.\(SQLIdentifier.quoted(soft)) IS NULL") }
        let keyIndex = mapping.keyColumns.firstIndex { keyColumn($0).source == .field([table.keyField]) } ?? 0
        let result = try await tx.query("UPDATE \(target) t SET \(assignments.joined(separator: ", ")) FROM pumphouse_stage_update s WHERE \(conditions.joined(separator: " AND ")) RETURNING s.c\(keyIndex)")
        try await tx.execute(script: "DROP TABLE pumphouse_stage_update")
        return Set(result.rows.compactMap { $0[0] })
    }

    private func delete(_ keys: [BatchPlan.EntityKey], in tx: PostgresConnection) async throws {
        let keyIndex = mapping.keyColumns.firstIndex { keyColumn($0).source == .field([table.keyField]) } ?? 0
        guard mapping.keyColumns.count == 1 || keys.isEmpty else {
            // Composite keys carry parts a delete does not have: the per-entity path says why.
            throw MappedTable.MappingFailure(description: "set-based deletes need a single key column")
        }
        try await stage("pumphouse_stage_delete", columns: ["key"], rows: keys.map { [$0.key] }, in: tx)
        let column = SQLIdentifier.quoted(mapping.keyColumns[keyIndex])
        let match = "t.\(column) = \(cast(keyColumn(mapping.keyColumns[keyIndex]), "s.c0"))"
        if let soft = mapping.deleteColumn {
            try await tx.query("UPDATE \(target) t SET \(SQLIdentifier.quoted(soft)) = now() FROM pumphouse_stage_delete s WHERE \(match) AND t.\(SQLIdentifier.quoted(soft)) IS NULL")
        } else {
            try await tx.query("DELETE FROM \(target) t USING pumphouse_stage_delete s WHERE \(match)")
        }
        try await tx.execute(script: "DROP TABLE pumphouse_stage_delete")
    }
}

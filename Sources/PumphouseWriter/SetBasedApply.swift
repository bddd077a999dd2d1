import PumphouseContracts
import PumphousePipeline
import PumphousePostgres

/// Applies a batch's effects for one table with one COPY into a staging table and at
/// most three set-based statements (upsert, update, delete), instead of one statement
/// per entity.
///
/// Every kind of change shares one staging table, so a batch costs one COPY per table
/// however varied its updates are. Each staged update row says per column whether it
/// sets the column, adds a delta to it, merges JSON into it, or leaves it alone; one
/// `UPDATE ... FROM` applies all of them. The staging table lives for the session and
/// is emptied at every commit, so no batch pays for creating and dropping it.
///
/// Staging columns are text (COPY's text format) and are cast to each column's catalog
/// type in the merge, the same conversions the per-entity statements get from bound
/// parameters. What this path cannot express (a whole-state JSON column with numeric
/// deltas; a delete under a composite key) is left to the per-entity path.
struct SetBasedApply {
    let table: MappedTable
    /// Column name to `format_type` of the live column, read at start-up.
    let columnTypes: [String: String]
    /// The session's staging table for this mapping.
    let staging: String

    /// What the staged rows become once the statements have run.
    struct Merge {
        var statements: [PostgresStatement] = []
        var upserted: [BatchPlan.EntityKey] = []
        var deleted: [BatchPlan.EntityKey] = []
        /// Keys of the staged updates, and the index of the update statement.
        var updates: [BatchPlan.EntityKey] = []
        var updateStatement: Int?
        /// Effects for the per-entity path.
        var leftOver: [BatchPlan.EntityKey] = []

        /// Splits the staged entities into applied ones and updates whose row is missing,
        /// from the results of `statements` (in order).
        func outcome(_ results: ArraySlice<PostgresResult>) -> (applied: [BatchPlan.EntityKey], missing: [BatchPlan.EntityKey]) {
            var applied = upserted + deleted
            var missing: [BatchPlan.EntityKey] = []
            if let index = updateStatement {
                let found = Set(results[results.startIndex + index].rows.compactMap { $0[0].map { ExactKey($0) } })
                for key in updates {
                    if found.contains(key.key) { applied.append(key) } else { missing.append(key) }
                }
            }
            return (applied, missing)
        }
    }

    private var mapping: TableMapping { table.mapping }
    private var target: String { SQLIdentifier.quoted(mapping.table) }

    /// How a staged row changes a column (the staging column `m<i>`).
    private enum Mode: String {
        case set = "s", add = "d", merge = "m"

        /// The mode's bit in a column's set of modes used.
        var bit: UInt8 {
            switch self {
            case .set: 1
            case .add: 2
            case .merge: 4
            }
        }
    }

    /// Fills the staging table with the batch's effects for this table and returns the
    /// statements that merge them, for the caller to pipeline with its bookkeeping.
    func stage(_ keys: [BatchPlan.EntityKey], entities: [BatchPlan.EntityKey: BatchPlan.Entity], in tx: PostgresConnection) async throws -> Merge {
        let columns = mapping.columns
        let keyColumns = mapping.keyColumns.map { mapping.column($0)! }
        let wholeStateJSON = columns.contains { if case .json(let path) = $0.source { path.isEmpty } else { false } }
        var merge = Merge()
        var encoder = PostgresCopyEncoder(reservingCapacity: keys.count * 96)
        // By column, the modes some staged update uses (`Mode.bit`).
        var touched = [UInt8](repeating: 0, count: columns.count)
        // One update's change to each column, reused from entity to entity. A row's fields
        // go straight into the COPY payload, so every check that sends an entity to the
        // per-entity path comes before its first field.
        var changes: [(mode: Mode, value: String?)?] = []
        changes.reserveCapacity(columns.count)
        for key in keys {
            guard let entity = entities[key] else { continue }
            switch entity.effect {
            case .upsert(let state):
                encoder.appendField("u")
                for column in keyColumns { try encoder.appendField(try table.value(of: column, in: state, key: key.key.text)) }
                for column in columns {
                    encoder.appendField(Mode.set.rawValue)
                    try encoder.appendField(try table.value(of: column, in: state, key: key.key.text))
                }
                merge.upserted.append(key)
            case .delete:
                guard keyColumns.count == 1 else {
                    merge.leftOver.append(key)
                    continue
                }
                encoder.appendField("d")
                encoder.appendField(key.key.text)
                for _ in columns {
                    encoder.appendNull()
                    encoder.appendNull()
                }
                merge.deleted.append(key)
            case .create:
                merge.leftOver.append(key)  // decided row by row by the primary key
                continue
            case .update(let fields, let deltas):
                if wholeStateJSON && !deltas.isEmpty {
                    merge.leftOver.append(key)
                    continue
                }
                changes.removeAll(keepingCapacity: true)
                for column in columns {
                    changes.append(try Self.change(of: column, fields: fields, deltas: deltas))
                }
                guard changes.contains(where: { $0 != nil }) else {
                    merge.leftOver.append(key)  // the per-entity path names the failure
                    continue
                }
                encoder.appendField("p")
                for column in keyColumns {
                    try encoder.appendField(table.keyValue(of: column, fields: fields, key: key.key.text) ?? .null)
                }
                for (index, change) in changes.enumerated() {
                    if let change { touched[index] |= change.mode.bit }
                    encoder.appendField(change?.mode.rawValue)
                    encoder.appendField(change?.value)
                }
                merge.updates.append(key)
            }
            encoder.endRow()
        }
        guard !(merge.upserted.isEmpty && merge.deleted.isEmpty && merge.updates.isEmpty) else { return merge }

        let definitions = (["op"] + keyColumns.indices.map { "k\($0)" } + columns.indices.flatMap { ["m\($0)", "v\($0)"] })
            .map { "\($0) text" }.joined(separator: ", ")
        // Created once per session; an existing one is reused quietly.
        try await tx.execute(script: """
            SET LOCAL client_min_messages = warning;
            CREATE TEMP TABLE IF NOT EXISTS \(staging) (\(definitions)) ON COMMIT DELETE ROWS
            """)
        try await tx.copyIn("COPY \(staging) FROM STDIN", payload: encoder.bytes)

        let keyMatch = keyColumns.enumerated().map { "t.\(SQLIdentifier.quoted($0.element.name)) = \(cast($0.element, "s.k\($0.offset)"))" }
        let live = mapping.deleteColumn.map { " AND t.\(SQLIdentifier.quoted($0)) IS NULL" } ?? ""
        if !merge.upserted.isEmpty {
            var names = columns.map { SQLIdentifier.quoted($0.name) }
            var selects = columns.enumerated().map { cast($0.element, "s.v\($0.offset)") }
            if let soft = mapping.deleteColumn {
                names.append(SQLIdentifier.quoted(soft))
                selects.append("NULL")
            }
            let keys = mapping.keyColumns.map(SQLIdentifier.quoted)
            let assignments = names.filter { !keys.contains($0) }.map { "\($0) = EXCLUDED.\($0)" }
            let conflict = assignments.isEmpty ? "DO NOTHING" : "DO UPDATE SET " + assignments.joined(separator: ", ")
            merge.statements.append(PostgresStatement(
                "INSERT INTO \(target) (\(names.joined(separator: ", "))) SELECT \(selects.joined(separator: ", ")) FROM \(staging) s WHERE s.op = 'u' ON CONFLICT (\(keys.joined(separator: ", "))) \(conflict)"
            ))
        }
        if !merge.updates.isEmpty {
            // Only the branches some staged row uses: `+` and `||` do not exist for
            // every column type.
            let assignments = touched.enumerated().filter { $0.element != 0 }.map { index, modes in
                let column = columns[index]
                let name = SQLIdentifier.quoted(column.name)
                var branches = ""
                if modes & Mode.set.bit != 0 { branches += " WHEN 's' THEN \(cast(column, "s.v\(index)"))" }
                if modes & Mode.add.bit != 0 { branches += " WHEN 'd' THEN t.\(name) + (s.v\(index))::\(column.type ?? columnTypes[column.name] ?? "numeric")" }
                if modes & Mode.merge.bit != 0 { branches += " WHEN 'm' THEN t.\(name) || (s.v\(index))::jsonb" }
                return "\(name) = CASE s.m\(index)\(branches) ELSE t.\(name) END"
            }
            let keyIndex = keyColumns.firstIndex { $0.source.isField(table.keyField) } ?? 0
            merge.updateStatement = merge.statements.count
            merge.statements.append(PostgresStatement(
                "UPDATE \(target) t SET \(assignments.joined(separator: ", ")) FROM \(staging) s WHERE s.op = 'p' AND \(keyMatch.joined(separator: " AND "))\(live) RETURNING s.k\(keyIndex)"
            ))
        }
        if !merge.deleted.isEmpty {
            if let soft = mapping.deleteColumn {
                merge.statements.append(PostgresStatement(
                    "UPDATE \(target) t SET \(SQLIdentifier.quoted(soft)) = now() FROM \(staging) s WHERE s.op = 'd' AND \(keyMatch[0])\(live)"
                ))
            } else {
                merge.statements.append(PostgresStatement("DELETE FROM \(target) t USING \(staging) s WHERE s.op = 'd' AND \(keyMatch[0])"))
            }
        }
        return merge
    }

    /// What an update does to one column: nil when it leaves the column alone.
    private static func change(of column: TableMapping.Column, fields: JSONObject, deltas: JSONObject) throws(MappedTable.MappingFailure) -> (mode: Mode, value: String?)? {
        switch column.source {
        case .field(let path) where fields[path[0]] != nil:
            return (.set, try MappedTable.Builder.text(MappedTable.lookup(path, in: fields) ?? column.defaultValue ?? .null))
        case .field(let path) where path.count == 1 && deltas[path[0]] != nil:
            return (.add, try MappedTable.Builder.text(deltas[path[0]]!))
        case .json(let path) where path.isEmpty && !fields.isEmpty:
            return (.merge, try MappedTable.Builder.text(.object(fields)))
        case .json(let path) where !path.isEmpty && fields[path[0]] != nil:
            return (.set, try MappedTable.Builder.text(MappedTable.lookup(path, in: fields) ?? .null))
        default:
            return nil
        }
    }

    /// Staging columns are text, so every value is converted, to the live column type
    /// when the mapping names none.
    private func cast(_ column: TableMapping.Column, _ expression: String) -> String {
        MappedTable.conversion(for: column, operand: expression, type: column.type ?? columnTypes[column.name] ?? "text")
    }
}

extension PostgresCopyEncoder {
    /// The next field: a JSON value as PostgreSQL's text input for it
    /// (`MappedTable.Builder.text`), integers written without a String.
    mutating func appendField(_ value: JSONValue) throws(MappedTable.MappingFailure) {
        switch value {
        case .null: appendNull()
        case .int(let integer): appendField(integer)
        case .string(let text): appendField(text)
        default: appendField(try MappedTable.Builder.text(value))
        }
    }
}

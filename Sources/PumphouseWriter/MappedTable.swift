import PumphouseContracts
import PumphousePipeline
import PumphousePostgres

/// Turns folded effects into SQL for one table mapping (the data abstraction layer at
/// work). Identifiers come from the checked configuration and are quoted; every value is
/// a bound parameter.
package struct MappedTable: Sendable {
    package let contract: ContractName
    package let mapping: TableMapping
    let keyField: String
    let table: String

    package init(contract: ContractName, mapping: TableMapping, keyField: String) {
        self.contract = contract
        self.mapping = mapping
        self.keyField = keyField
        self.table = SQLIdentifier.quoted(mapping.table)
    }

    /// Why an effect cannot become SQL; the contracts behind it are dead-lettered.
    package struct MappingFailure: Error, Sendable, CustomStringConvertible {
        package let description: String
    }

    package func statement(for effect: EntityEffect, key: String) throws(MappingFailure) -> PostgresStatement {
        var builder = Builder()
        switch effect {
        case .upsert(let row):
            let (names, values) = try insertion(of: row, key: key, &builder)
            let keys = mapping.keyColumns.map(SQLIdentifier.quoted)
            let updates = names.filter { !keys.contains($0) }.map { "\($0) = EXCLUDED.\($0)" }
            let conflict = updates.isEmpty ? "DO NOTHING" : "DO UPDATE SET " + updates.joined(separator: ", ")
            builder.sql = "INSERT INTO \(table) (\(names.joined(separator: ", "))) VALUES (\(values.joined(separator: ", "))) ON CONFLICT (\(keys.joined(separator: ", "))) \(conflict)"

        case .update(let fields, let deltas):
            let assignments = try assignments(fields: fields, deltas: deltas, &builder)
            guard !assignments.isEmpty else {
                throw MappingFailure(description: "the update changes no mapped column of \(mapping.table) (fields: \(fields.names + deltas.names))")
            }
            builder.sql = "UPDATE \(table) SET \(assignments.map { "\($0.name) = \($0.value)" }.joined(separator: ", ")) WHERE \(try keyCondition(&builder, fields: fields, key: key))"

        case .create(let row, let fields, let deltas):
            // The primary key decides: the row is inserted unless one exists, which then
            // takes the updates folded after the create. A soft-deleted row counts as
            // absent and is replaced whole.
            let (names, values) = try insertion(of: row, key: key, &builder)
            let keys = mapping.keyColumns.map(SQLIdentifier.quoted)
            let changes = Dictionary(try assignments(fields: fields, deltas: deltas, &builder).map { ($0.name, $0.value) }) { first, _ in first }
            var conflict: String
            if case .soft(let column) = mapping.delete {
                let deleted = "\(table).\(SQLIdentifier.quoted(column))"
                let sets = names.filter { !keys.contains($0) }.map { name in
                    "\(name) = CASE WHEN \(deleted) IS NOT NULL THEN EXCLUDED.\(name) ELSE \(changes[name] ?? "\(table).\(name)") END"
                }
                conflict = "DO UPDATE SET " + sets.joined(separator: ", ")
                // With nothing to change on a live row, touch only a soft-deleted one.
                if changes.isEmpty { conflict += " WHERE \(deleted) IS NOT NULL" }
            } else if changes.isEmpty {
                conflict = "DO NOTHING"
            } else {
                conflict = "DO UPDATE SET " + names.compactMap { name in changes[name].map { "\(name) = \($0)" } }.joined(separator: ", ")
            }
            builder.sql = "INSERT INTO \(table) (\(names.joined(separator: ", "))) VALUES (\(values.joined(separator: ", "))) ON CONFLICT (\(keys.joined(separator: ", "))) \(conflict)"

        case .delete:
            let condition = try keyCondition(&builder, fields: JSONObject(), key: key)
            switch mapping.delete {
            case .hard: builder.sql = "DELETE FROM \(table) WHERE \(condition)"
            case .soft(let column):
                let name = SQLIdentifier.quoted(column)
                builder.sql = "UPDATE \(table) SET \(name) = now() WHERE \(condition)"
            }
        }
        return PostgresStatement(builder.sql, builder.parameters)
    }

    /// Every mapped column (and a soft-delete column, cleared) with its value in `row`.
    private func insertion(of row: JSONObject, key: String, _ builder: inout Builder) throws(MappingFailure) -> (names: [String], values: [String]) {
        var names: [String] = []
        var values: [String] = []
        for column in mapping.columns {
            names.append(SQLIdentifier.quoted(column.name))
            values.append(try builder.expression(for: column, value: try value(of: column, in: row, key: key)))
        }
        if case .soft(let column) = mapping.delete {
            names.append(SQLIdentifier.quoted(column))
            values.append("NULL")
        }
        return (names, values)
    }

    /// The columns an update changes, each with the expression of its new value in
    /// terms of the row's current one (so it serves an UPDATE and an ON CONFLICT alike).
    private func assignments(fields: JSONObject, deltas: JSONObject, _ builder: inout Builder) throws(MappingFailure) -> [(name: String, value: String)] {
        var assignments: [(name: String, value: String)] = []
        for column in mapping.columns {
            let name = SQLIdentifier.quoted(column.name)
            let current = "\(table).\(name)"
            switch column.source {
            case .field(let path) where fields[path[0]] != nil:
                assignments.append((name, try builder.expression(for: column, value: Self.lookup(path, in: fields) ?? column.defaultValue ?? .null)))
            case .field(let path) where path.count == 1 && deltas[path[0]] != nil:
                assignments.append((name, "\(current) + " + (try builder.parameter(deltas[path[0]]!, cast: column.type))))
            case .json(let path) where path.isEmpty:
                // The whole state as JSON: merge the changed fields, add the deltas.
                var expression = current
                if !fields.isEmpty { expression = "\(expression) || " + (try builder.parameter(.object(fields), cast: "jsonb")) }
                for delta in deltas {
                    let field = try builder.parameter(.string(delta.name), cast: "text")
                    let amount = try builder.parameter(delta.value, cast: "numeric")
                    expression = "jsonb_set(\(expression), ARRAY[\(field)], to_jsonb(COALESCE((\(expression) ->> \(field))::numeric, 0) + \(amount)))"
                }
                if expression != current { assignments.append((name, expression)) }
            case .json(let path) where fields[path[0]] != nil:
                assignments.append((name, try builder.expression(for: column, value: Self.lookup(path, in: fields) ?? .null)))
            default:
                continue
            }
        }
        return assignments
    }

    /// `k1 = $1 AND ...`; a soft-deleted row counts as missing for updates and deletes.
    func keyCondition(_ builder: inout Builder, fields: JSONObject, key: String) throws(MappingFailure) -> String {
        var parts: [String] = []
        for name in mapping.keyColumns {
            guard let column = mapping.column(name) else { continue }
            guard let value = keyValue(of: column, fields: fields, key: key) else {
                throw MappingFailure(description: "key column \(name) of \(mapping.table) needs a value this contract does not carry")
            }
            parts.append("\(SQLIdentifier.quoted(name)) = " + (try builder.expression(for: column, value: value)))
        }
        if case .soft(let column) = mapping.delete { parts.append("\(SQLIdentifier.quoted(column)) IS NULL") }
        return parts.joined(separator: " AND ")
    }

    /// A key column's value for a change that may carry only some fields: the entity key
    /// for the column mapped from the key field, else the field or constant; nil if absent.
    func keyValue(of column: TableMapping.Column, fields: JSONObject, key: String) -> JSONValue? {
        if column.source.isField(keyField) { return .string(key) }
        switch column.source {
        case .field(let path): return Self.lookup(path, in: fields)
        case .constant(let value): return value
        case .json: return nil
        }
    }

    /// The SQL that turns `operand` into the column's value: JSON as jsonb, epoch numbers
    /// as timestamps, otherwise a cast to `type` (none when nil). Shared by the
    /// per-entity statements (operand: a parameter) and the set-based merge (a staging column).
    static func conversion(for column: TableMapping.Column, operand: String, type: String?) -> String {
        if case .json = column.source { return "(\(operand))::jsonb" }
        switch column.transform {
        case .epochMillisToTimestamp?: return "to_timestamp((\(operand))::double precision / 1000.0)"
        case .epochSecondsToTimestamp?: return "to_timestamp((\(operand))::double precision)"
        case nil: return type.map { "(\(operand))::\($0)" } ?? operand
        }
    }

    func value(of column: TableMapping.Column, in row: JSONObject, key: String) throws(MappingFailure) -> JSONValue {
        switch column.source {
        case .constant(let value): return value
        case .field(let path):
            if column.source.isField(keyField) { return row[keyField] ?? .string(key) }
            return Self.lookup(path, in: row) ?? column.defaultValue ?? .null
        case .json(let path):
            return path.isEmpty ? .object(row) : (Self.lookup(path, in: row) ?? .null)
        }
    }

    static func lookup(_ path: [String], in object: JSONObject) -> JSONValue? {
        if path.count == 1 { return object[path[0]] }
        var current: JSONValue = .object(object)
        for step in path {
            guard case .object(let inner) = current, let next = inner[step] else { return nil }
            current = next
        }
        return current
    }

    /// Collects numbered parameters and the SQL around them.
    struct Builder {
        var sql = ""
        var parameters: [any PostgresEncodable] = []

        mutating func parameter(_ value: JSONValue, cast: String?) throws(MappingFailure) -> String {
            parameters.append(try Self.text(value))
            let placeholder = "$\(parameters.count)"
            return cast.map { "\(placeholder)::\($0)" } ?? placeholder
        }

        mutating func expression(for column: TableMapping.Column, value: JSONValue) throws(MappingFailure) -> String {
            MappedTable.conversion(for: column, operand: try parameter(value, cast: nil), type: column.type)
        }

        /// PostgreSQL's text input for a JSON value; objects and arrays as JSON text.
        /// A number that is not finite (a sum of deltas past the largest double) has no
        /// JSON text and would be Infinity in one column type and an error in another, so
        /// it is refused here, and the change goes the per-entity way to a dead letter.
        static func text(_ value: JSONValue) throws(MappingFailure) -> String? {
            switch value {
            case .null: return nil
            case .bool(let b): return b ? "true" : "false"
            case .int(let i): return String(i)
            case .double(let d):
                guard d.isFinite else { throw Self.notFinite }
                return String(d)
            case .string(let s): return s
            case .array, .object:
                do {
                    return String(decoding: try JSONWriter.encode(value), as: UTF8.self)
                } catch {
                    throw Self.notFinite
                }
            }
        }

        private static let notFinite = MappingFailure(
            description: "a number in the change is not finite (deltas that add up past the largest double?), so PostgreSQL cannot be given it; fix the producer's values"
        )
    }
}

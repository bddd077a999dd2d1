import PumphouseContracts
import PumphousePipeline
import PumphousePostgres

/// Checks the table mappings against the live catalog before a writer consumes
/// anything: a missing table or column, a column type that cannot hold the field, or a
/// key without a unique index would otherwise fail (or dead-letter) every batch.
struct CatalogCheck {
    struct Problem: CustomStringConvertible {
        let contract: ContractName
        let message: String
        var description: String { "cache \(contract): \(message)" }
    }

    struct Failure: Error, CustomStringConvertible {
        let problems: [Problem]
        var description: String {
            "the table mappings do not match the database:\n" + problems.map { "  \($0)" }.joined(separator: "\n")
        }
    }

    /// Checks every mapping; returns each table's column types (for set-based casts).
    static func run(tables: [MappedTable], registry: ContractRegistry, db: PostgresConnection) async throws -> [ContractName: [String: String]] {
        var problems: [Problem] = []
        var types: [ContractName: [String: String]] = [:]
        for table in tables {
            let (found, columnTypes) = try await check(table, registry: registry, db: db)
            problems += found
            types[table.contract] = columnTypes
        }
        guard problems.isEmpty else { throw Failure(problems: problems) }
        return types
    }

    static func check(_ table: MappedTable, registry: ContractRegistry, db: PostgresConnection) async throws -> ([Problem], [String: String]) {
        let mapping = table.mapping
        func problem(_ message: String) -> Problem { Problem(contract: table.contract, message: message) }
        guard try await db.query("SELECT to_regclass($1) IS NOT NULL", [mapping.table]).scalar(Bool.self) == true else {
            return ([problem("table \(mapping.table) does not exist; run `pumphouse migrate` or fix caches.\(table.contract).mapping.table")], [:])
        }
        // Column name, type category and whether an insert may leave it out.
        let rows = try await db.query("""
            SELECT a.attname AS name, t.typcategory AS category, format_type(a.atttypid, a.atttypmod) AS type,
                   (a.attnotnull AND NOT a.atthasdef AND a.attidentity = '' AND a.attgenerated = '') AS required
            FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
            WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
            """, [mapping.table]).namedRows
        var columns: [String: (category: String, type: String, required: Bool)] = [:]
        for row in rows {
            columns[try row.decode(String.self, "name")] = (try row.decode(String.self, "category"), try row.decode(String.self, "type"), try row.decode(Bool.self, "required"))
        }
        var problems: [Problem] = []
        let schemas = try registry.schemas(for: table.contract)
        let latest = schemas.versions[schemas.latestVersion - 1]
        for column in mapping.columns {
            guard let actual = columns[column.name] else {
                problems.append(problem("column \(mapping.table).\(column.name) does not exist"))
                continue
            }
            if column.type == nil, let reason = mismatch(column, category: actual.category, document: latest) {
                problems.append(problem("column \(mapping.table).\(column.name) is \(actual.type), \(reason); add a `type` cast or change the column"))
            }
        }
        if case .soft(let name) = mapping.delete {
            if let actual = columns[name] {
                if actual.category != "D" { problems.append(problem("soft-delete column \(mapping.table).\(name) is \(actual.type), not a timestamp")) }
            } else {
                problems.append(problem("soft-delete column \(mapping.table).\(name) does not exist"))
            }
        }
        let mapped = Set(mapping.columns.map(\.name) + (mapping.delete == .hard ? [] : [mapping.deleteColumn ?? ""]))
        for (name, actual) in columns.sorted(by: { $0.key < $1.key }) where actual.required && !mapped.contains(name) {
            problems.append(problem("column \(mapping.table).\(name) is NOT NULL without a default but no field maps to it"))
        }
        // ON CONFLICT needs a unique index on exactly the key columns.
        let unique = try await db.query("""
            SELECT 1 FROM pg_index i
            WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indpred IS NULL
              AND (SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute a
                   WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)) = $2::text[]
            """, [mapping.table, "{" + mapping.keyColumns.sorted().joined(separator: ",") + "}"]).rows
        if unique.isEmpty {
            problems.append(problem("\(mapping.table) has no unique index on the key columns (\(mapping.keyColumns.joined(separator: ", "))); add a primary key or unique index"))
        }
        return (problems, columns.mapValues(\.type))
    }

    /// Why a field cannot go into a column of this type category without a cast, or nil.
    /// Categories are PostgreSQL's `typcategory`: N numeric, S string, B boolean,
    /// D date/time, U user-defined (json, uuid, ...).
    static func mismatch(_ column: TableMapping.Column, category: String, document: SchemaDocument) -> String? {
        guard case .field(let path) = column.source, path.count == 1,
              case .node(let root) = document.resolve(document.root), let field = root.property(path[0]),
              case .node(let node) = document.resolve(field), let types = node.types?.subtracting([.null])
        else { return nil }
        if column.transform != nil {
            return category == "D" ? nil : "not a timestamp, but the mapping converts the field to one"
        }
        switch category {
        case "N": return types.isSubset(of: [.integer, .number]) ? nil : "but field \"\(path[0])\" is \(types.sorted().map(\.rawValue).joined(separator: "/"))"
        case "B": return types == [.boolean] ? nil : "but field \"\(path[0])\" is not a boolean"
        case "D": return types == [.string] ? nil : "but field \"\(path[0])\" is not a date/time string (use a transform for epoch numbers)"
        default: return nil
        }
    }
}

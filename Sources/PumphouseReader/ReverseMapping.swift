import PumphouseContracts
import PumphousePipeline
import PumphousePostgres

/// The data abstraction layer read backwards: the SQL that turns a mapped table's rows
/// into the contract fields they were written from.
///
/// PostgreSQL builds each row's JSON itself (`json_build_object`), so column types map to
/// JSON types the way the database knows them, and the reader only parses text it is
/// sure is JSON. Columns fed by constants are not fields and are left out; timestamp
/// columns written from epoch fields are turned back into epoch numbers.
struct ReverseMapping: Sendable {
    let contract: ContractName
    let table: String
    /// The column written from the contract's key field: the contract key read back.
    let keyColumn: String
    /// Its SQL type, so archive reads compare keys in the column's own type (and use
    /// its index) rather than as text.
    let keyType: String
    let stateExpression: String
    let liveFilter: String?

    init(contract: ContractName, mapping: TableMapping, keyField: String, keyType: String) {
        self.contract = contract
        self.table = mapping.table
        self.keyColumn = mapping.columns.first { $0.source == .field([keyField]) }?.name ?? mapping.keyColumns[0]
        self.keyType = keyType
        self.liveFilter = mapping.deleteColumn.map { "\(SQLIdentifier.quoted($0)) IS NULL" }

        // Nested field paths become nested objects.
        final class Node {
            var children: [(String, Node)] = []
            var expression: String?
            func child(_ name: String) -> Node {
                if let found = children.first(where: { $0.0.isSameBytes(as: name) }) { return found.1 }
                let node = Node()
                children.append((name, node))
                return node
            }
            func sql() -> String {
                if let expression { return expression }
                let members = children.map { "\(Self.literal($0.0)), \($0.1.sql())" }
                return "json_build_object(\(members.joined(separator: ", ")))"
            }
            /// The object as jsonb, each member left out where its column is NULL (or
            /// JSON null, for a JSON column) rather than stripped afterwards: what a JSON
            /// column holds keeps its own nulls, as the topic has them.
            func sqlOmittingNulls() -> String {
                if let expression { return expression }
                let members = children.map { name, node in
                    guard let expression = node.expression else {
                        return "jsonb_build_object(\(Self.literal(name)), \(node.sqlOmittingNulls()))"
                    }
                    let absent = node.isJSON ? "\(expression) IS NULL OR json_typeof(\(expression)) = 'null'" : "\(expression) IS NULL"
                    return "CASE WHEN \(absent) THEN '{}'::jsonb ELSE jsonb_build_object(\(Self.literal(name)), \(expression)) END"
                }
                return (["'{}'::jsonb"] + members).joined(separator: " || ")
            }
            var isJSON = false
            static func literal(_ text: String) -> String { "'\(text.replacing("'", with: "''"))'" }
        }
        let root = Node()
        var whole: String?
        var hasJSON = false
        for column in mapping.columns {
            let name = SQLIdentifier.quoted(column.name)
            switch column.source {
            case .constant:
                continue
            case .json(let path) where path.isEmpty:
                whole = "\(name)::jsonb"
                hasJSON = true
            case .json(let path):
                var node = root
                for part in path { node = node.child(part) }
                node.expression = "\(name)::json"
                node.isJSON = true
                hasJSON = true
            case .field(let path):
                var node = root
                for part in path { node = node.child(part) }
                switch column.transform {
                case .epochMillisToTimestamp?: node.expression = "(extract(epoch FROM \(name)) * 1000)::bigint"
                case .epochSecondsToTimestamp?: node.expression = "extract(epoch FROM \(name))::bigint"
                case nil: node.expression = name
                }
            }
        }
        guard hasJSON else {
            // Scalar columns alone: no value holds nulls of its own, so one strip of the
            // whole object (the cheaper form, kept for the cold start's pace) leaves out
            // exactly the NULL columns.
            let fields = root.children.isEmpty ? "'{}'::json" : root.sql()
            self.stateExpression = "json_strip_nulls(\(fields))::text"
            return
        }
        // With JSON columns, only members are left out, never the nulls inside a value:
        // `json_strip_nulls` would strip those too, at every depth.
        let fields = root.sqlOmittingNulls()
        // Fields present in columns win over the same fields inside a whole-state column,
        // whose members that are null are left out as a NULL column is.
        let state = whole.map {
            "(SELECT coalesce(jsonb_object_agg(member, value), '{}'::jsonb) FROM jsonb_each(\($0)) AS whole(member, value) WHERE jsonb_typeof(value) <> 'null') || \(fields)"
        } ?? fields
        self.stateExpression = "(\(state))::text"
    }

    /// All live rows, or only `keys` when the request names some.
    func select(keys: Bool) -> String {
        var conditions = liveFilter.map { [$0] } ?? []
        if keys { conditions.append("\(SQLIdentifier.quoted(keyColumn)) = ANY($1::\(keyType)[])") }
        let filter = conditions.isEmpty ? "" : " WHERE \(conditions.joined(separator: " AND "))"
        return "SELECT \(SQLIdentifier.quoted(keyColumn))::text AS key, \(stateExpression) AS state FROM \(SQLIdentifier.quoted(table))\(filter)"
    }

    /// Reads the key column's type from the catalog; fails naming the table or column
    /// that is missing, before the reader accepts any request.
    static func resolve(_ cache: CacheConfiguration, registry: ContractRegistry, db: PostgresConnection) async throws -> ReverseMapping {
        guard let mapping = cache.mapping else {
            throw ConfigurationError(file: "pipeline", setting: "caches.\(cache.contract).mapping", message: "is custom: a data reader cannot read it back; set `load: topic` for this cache")
        }
        let keyField = try registry.schemas(for: cache.contract).definition.keyField
        let probe = ReverseMapping(contract: cache.contract, mapping: mapping, keyField: keyField, keyType: "text")
        let type = try await db.query("""
            SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
            WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND NOT a.attisdropped
            """, [SQLIdentifier.quoted(mapping.table), probe.keyColumn]).scalar(String.self)
        guard let type else {
            throw ConfigurationError(
                file: "pipeline", setting: "caches.\(cache.contract).mapping.table",
                message: "table \(mapping.table) with key column \(probe.keyColumn) does not exist; run `pumphouse migrate`"
            )
        }
        return ReverseMapping(contract: cache.contract, mapping: mapping, keyField: keyField, keyType: type)
    }
}

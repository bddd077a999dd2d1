import PumphouseContracts

/// How a contract (at its latest version, after upcasting) maps to one table: the data
/// abstraction layer that lets cache schema and table schema evolve separately.
///
/// ```yaml
/// mapping:
///   table: bench_account
///   key: [id]                       # default: the column mapped from the contract's key field
///   delete: hard                    # or { soft: deleted_at }
///   columns:
///     id: id                        # column: field
///     balance_cents: { field: balance, type: bigint }
///     city: { field: address.city } # nested field
///     updated_at: { field: updatedAt, transform: epoch_ms_to_timestamp }
///     currency: { field: currency, default: EUR }
///     raw: { json: "$" }            # the whole state as JSON
///     source: { value: bench }      # a constant
/// ```
public struct TableMapping: Sendable, Hashable {
    /// Where a column's value comes from.
    public enum Source: Sendable, Hashable {
        /// A field, or a nested field given as a path (`address.city`).
        case field([String])
        /// A field (or the whole state, for an empty path) as JSON.
        case json([String])
        /// The same value for every row.
        case constant(JSONValue)

        /// Field paths compare by bytes, as the contract's member names do.
        public static func == (lhs: Self, rhs: Self) -> Bool {
            switch (lhs, rhs) {
            case (.field(let a), .field(let b)), (.json(let a), .json(let b)): a.map { ExactKey($0) } == b.map { ExactKey($0) }
            case (.constant(let a), .constant(let b)): a == b
            default: false
            }
        }

        /// Whether this is the top-level field `name`, by bytes; unlike `== .field([name])`
        /// it builds no arrays, which matters once per column of every row written.
        public func isField(_ name: String) -> Bool {
            if case .field(let path) = self { path.count == 1 && path[0].isSameBytes(as: name) } else { false }
        }

        public func hash(into hasher: inout Hasher) {
            switch self {
            case .field(let path): hasher.combine(0 as UInt8); hasher.combine(path.map { ExactKey($0) })
            case .json(let path): hasher.combine(1 as UInt8); hasher.combine(path.map { ExactKey($0) })
            case .constant(let value): hasher.combine(2 as UInt8); hasher.combine(value)
            }
        }
    }

    /// Conversions that SQL casts alone do not cover.
    public enum Transform: String, Sendable, Hashable, CaseIterable {
        case epochMillisToTimestamp = "epoch_ms_to_timestamp"
        case epochSecondsToTimestamp = "epoch_s_to_timestamp"
    }

    public struct Column: Sendable, Hashable {
        public var name: String
        public var source: Source
        /// SQL type the value is cast to (`bigint`, `numeric(12,2)`); nil lets the
        /// column's own type decide.
        public var type: String?
        public var transform: Transform?
        /// Used when an add lacks the field.
        public var defaultValue: JSONValue?

        public init(name: String, source: Source, type: String?, transform: Transform?, defaultValue: JSONValue?) {
            self.name = name
            self.source = source
            self.type = type
            self.transform = transform
            self.defaultValue = defaultValue
        }
    }

    public enum DeletePolicy: Sendable, Hashable {
        case hard
        /// Sets this timestamp column instead of deleting the row.
        case soft(column: String)
    }

    public var table: String
    public var columns: [Column]
    public var keyColumns: [String]
    public var delete: DeletePolicy

    public init(table: String, columns: [Column], keyColumns: [String], delete: DeletePolicy) {
        self.table = table
        self.columns = columns
        self.keyColumns = keyColumns
        self.delete = delete
    }

    public func column(_ name: String) -> Column? { columns.first { $0.name.isSameBytes(as: name) } }

    /// The soft-delete column, if deletes are soft.
    public var deleteColumn: String? {
        if case .soft(let column) = delete { column } else { nil }
    }

    static func parse(_ reader: ConfigurationReader, schemas: ContractSchemas) throws(ConfigurationError) -> TableMapping {
        var reader = reader
        let table = try reader.requiredString("table", hint: "the table (optionally schema.table) this cache is written to")
        guard SQLIdentifier.isValid(table, qualified: true) else {
            throw reader.fail("table", "\"\(table)\" is not a plain identifier; use lower-case letters, digits and _ (optionally schema.table)")
        }
        guard var columnsReader = try reader.mapping("columns"), !columnsReader.object.isEmpty else {
            throw reader.fail("columns", "is required: column: field pairs")
        }
        let latest = schemas.versions[schemas.latestVersion - 1]
        guard case .node(let root) = latest.resolve(latest.root) else {
            throw reader.fail("columns", "the contract's latest schema has no properties to map")
        }
        var columns: [Column] = []
        for member in columnsReader.object {
            _ = columnsReader.value(member.name)
            columns.append(try parseColumn(member, reader: columnsReader, root: root, document: latest, contract: schemas.name))
        }
        try columnsReader.finish()

        let keyField = schemas.definition.keyField
        let keyColumns = try reader.strings("key") ?? columns.filter { $0.source.isField(keyField) }.map(\.name)
        guard !keyColumns.isEmpty else {
            throw reader.fail("key", "no column is mapped from the key field \"\(keyField)\"; map it or list the key columns")
        }
        for key in keyColumns where !columns.contains(where: { $0.name.isSameBytes(as: key) }) {
            throw reader.fail("key", "\"\(key)\" is not one of the mapped columns")
        }
        guard keyColumns.contains(where: { key in columns.first { $0.name.isSameBytes(as: key) }?.source.isField(keyField) ?? false }) else {
            throw reader.fail("key", "the key columns must include the column mapped from the key field \"\(keyField)\"")
        }

        var delete = DeletePolicy.hard
        if let value = reader.value("delete") {
            switch value {
            case .string("hard"): delete = .hard
            case .object(let soft) where soft.count == 1:
                guard case .string(let column)? = soft["soft"], SQLIdentifier.isValid(column, qualified: false) else { fallthrough }
                guard !columns.contains(where: { $0.name.isSameBytes(as: column) }) else {
                    throw reader.fail("delete", "the soft-delete column \"\(column)\" is also mapped from a field")
                }
                delete = .soft(column: column)
            default:
                throw reader.fail("delete", "must be hard or {soft: COLUMN}")
            }
        }
        try reader.finish()
        return TableMapping(table: table, columns: columns, keyColumns: keyColumns, delete: delete)
    }

    static func parseColumn(_ member: JSONObject.Member, reader: ConfigurationReader, root: SchemaNode, document: SchemaDocument, contract: ContractName) throws(ConfigurationError) -> Column {
        let setting = reader.setting(member.name)
        func fail(_ message: String) -> ConfigurationError { ConfigurationError(file: reader.file, setting: setting, message: message) }
        guard SQLIdentifier.isValid(member.name, qualified: false) else {
            throw fail("\"\(member.name)\" is not a plain column name; use lower-case letters, digits and _")
        }
        func path(_ text: String) throws(ConfigurationError) -> [String] {
            let parts = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard parts.allSatisfy({ !$0.isEmpty }) else { throw fail("\"\(text)\" is not a field path") }
            guard let property = root.property(parts[0]) else {
                throw fail("\(contract) has no field \"\(parts[0])\" (fields: \(root.properties.map(\.name).joined(separator: ", ")))")
            }
            var current = property
            for part in parts.dropFirst() {
                guard case .node(let node) = document.resolve(current) else { break }
                if node.properties.isEmpty { break }  // an open object: the path is checked at run time
                guard let next = node.property(part) else { throw fail("\(contract) has no field \"\(text)\"") }
                current = next
            }
            return parts
        }
        if case .string(let field) = member.value {
            return Column(name: member.name, source: .field(try path(field)), type: nil, transform: nil, defaultValue: nil)
        }
        var column = try ConfigurationReader(file: reader.file, path: setting, value: member.value, keys: ["field", "json", "value", "type", "transform", "default"])
        let sources = [column.value("field"), column.value("json"), column.value("value")]
        guard sources.compactMap({ $0 }).count == 1 else {
            throw fail("needs exactly one of field, json or value")
        }
        let source: Source
        if case .string(let field)? = sources[0] {
            source = .field(try path(field))
        } else if case .string(let field)? = sources[1] {
            source = .json(field == "$" ? [] : try path(field))
        } else if let constant = sources[2] {
            source = .constant(constant)
        } else {
            throw fail("field and json take a field path string")
        }
        let type = try column.string("type")
        if let type, !SQLIdentifier.isTypeName(type) {
            throw column.fail("type", "\"\(type)\" is not a SQL type name such as bigint, text or numeric(12,2)")
        }
        var transform: Transform?
        if let name = try column.string("transform") {
            guard let parsed = Transform(rawValue: name) else {
                throw column.fail("transform", "must be one of \(Transform.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            transform = parsed
        }
        let defaultValue = column.value("default")
        try column.finish()
        return Column(name: member.name, source: source, type: type, transform: transform, defaultValue: defaultValue)
    }
}

/// Identifier rules for names that end up in SQL text. Values never do (they are bound
/// parameters); names are checked here and quoted when used.
package enum SQLIdentifier {
    package static func isValid(_ name: String, qualified: Bool) -> Bool {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 1 || (qualified && parts.count == 2) else { return false }
        return parts.allSatisfy { part in
            guard let first = part.unicodeScalars.first, part.utf8.count <= 63, first == "_" || ("a"..."z").contains(first) else { return false }
            return part.unicodeScalars.allSatisfy { $0 == "_" || ("a"..."z").contains($0) || ("0"..."9").contains($0) }
        }
    }

    /// `bigint`, `double precision`, `numeric(12,2)`, `timestamptz`, `text[]`.
    package static func isTypeName(_ text: String) -> Bool {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789_ (),[]")
        return !text.isEmpty && text.count <= 64 && text.allSatisfy { allowed.contains($0) } && text.first!.isLetter
    }

    /// A double-quoted identifier (each part of a qualified name quoted separately).
    package static func quoted(_ name: String) -> String {
        name.split(separator: ".").map { "\"\($0.replacing("\"", with: "\"\""))\"" }.joined(separator: ".")
    }
}

/// The rows and status of one statement, copied out of libpq.
public struct PostgresResult: Sendable, Hashable {
    /// Column names in order.
    public let columns: [String]
    /// Values in text form; nil is SQL NULL.
    public let rows: [[String?]]
    /// Rows inserted, updated, deleted, copied or selected (from the command tag).
    public let affectedRows: Int
    /// e.g. `INSERT 0 3`.
    public let commandTag: String

    public init(columns: [String], rows: [[String?]], affectedRows: Int, commandTag: String) {
        self.columns = columns
        self.rows = rows
        self.affectedRows = affectedRows
        self.commandTag = commandTag
    }

    /// The rows with column lookup by name.
    public var namedRows: [PostgresRow] {
        let index = Dictionary(columns.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        return rows.map { PostgresRow(values: $0, columnIndex: index) }
    }

    /// The first column of the first row, decoded; nil if there is no row or it is NULL.
    public func scalar<T: PostgresDecodable>(_ type: T.Type = T.self) throws(PostgresError) -> T? {
        guard let first = rows.first, let value = first.first, let text = value else { return nil }
        guard let decoded = T(postgresText: text) else {
            throw PostgresError(kind: .client, message: "cannot read \"\(text)\" as \(T.self)", operation: "decode \(commandTag)")
        }
        return decoded
    }
}

/// One row with typed access by column name.
public struct PostgresRow: Sendable, Hashable {
    public let values: [String?]
    let columnIndex: [String: Int]

    public subscript(column: String) -> String? {
        guard let index = columnIndex[column] else { return nil }
        return values[index]
    }

    /// Decodes a column; throws naming the column if it is missing, NULL or malformed.
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, _ column: String) throws(PostgresError) -> T {
        guard let index = columnIndex[column] else {
            throw PostgresError(kind: .client, message: "no column \"\(column)\" in the result", operation: "decode row")
        }
        guard let text = values[index] else {
            throw PostgresError(kind: .client, message: "column \"\(column)\" is NULL", operation: "decode row")
        }
        guard let value = T(postgresText: text) else {
            throw PostgresError(kind: .client, message: "column \"\(column)\" value \"\(text)\" is not a \(T.self)", operation: "decode row")
        }
        return value
    }
}

/// A statement with its parameters, for pipelines.
public struct PostgresStatement: Sendable {
    public var sql: String
    public var parameters: [String?]

    public init(_ sql: String, _ parameters: [any PostgresEncodable] = []) {
        self.sql = sql
        self.parameters = parameters.map(\.postgresText)
    }
}

/// A statement the server parses and plans once per session, then runs by name: for a
/// hot path whose planning would otherwise cost as much as its execution.
public struct PostgresPreparedStatement: Sendable, Hashable {
    /// Unique per session among the statements one connection prepares.
    public let name: String
    public let sql: String

    public init(name: String, sql: String) {
        self.name = name
        self.sql = sql
    }
}

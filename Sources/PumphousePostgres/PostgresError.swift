/// An error from PostgreSQL or from talking to it.
///
/// Server errors keep their SQLSTATE so callers decide by code, not by message text: a
/// data writer retries `40001` and `08xxx`, dead-letters `23xxx`, and stops on `42xxx`.
///
/// Its `description` is what logs get, and row data must never reach a log: it names the
/// operation, the SQLSTATE and the server's message, but never `detail` (which quotes
/// rows: `Key (id)=(7) already exists`, `Failing row contains (...)`), and not the
/// message or hint either where the server quotes the value it refused (data
/// exceptions, class 22: `invalid input syntax for type integer: "..."`) or a function
/// wrote them (class P0, `RAISE`). `debugDescription` has everything, for where the
/// row is at home anyway (a dead letter beside the message it concerns, a developer's
/// terminal).
public struct PostgresError: Error, Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// Could not connect (refused, timed out, authentication failed).
        case connectionFailed
        /// The connection broke during an operation; its effect is unknown unless it was
        /// inside a transaction, which the server then rolled back.
        case connectionLost
        /// The server rejected a statement; see `sqlState`.
        case server
        /// The caller asked for something the client cannot do (bad URL, misuse).
        case client
    }

    public let kind: Kind
    /// Five-character SQLSTATE for server errors (e.g. `23505`).
    public let sqlState: SQLState?
    public let message: String
    public let detail: String?
    public let hint: String?
    /// What the client was doing, e.g. `execute "INSERT INTO ..."`.
    public let operation: String

    public init(kind: Kind, sqlState: SQLState? = nil, message: String, detail: String? = nil, hint: String? = nil, operation: String) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.hint = hint
        self.operation = operation
    }

    /// Worth retrying the whole unit of work on a fresh transaction or connection.
    public var isTransient: Bool {
        switch kind {
        case .connectionFailed, .connectionLost: true
        case .client: false
        case .server: sqlState?.isTransient ?? false
        }
    }

    /// Whether the error belongs to one row's values rather than to the statement or the
    /// session: data and constraint errors (SQLSTATE classes 22 and 23), whether the
    /// server found them or the client did before sending (a NUL in text), a row too
    /// large for an index (54000, a key of several kilobytes) and a merge that meets one
    /// row twice (21000). Whoever applies rows one by one can set such a row aside; a
    /// writer left to stop at one would stop again at the same message after every restart.
    public var isRowError: Bool {
        guard kind == .server || kind == .client, let state = sqlState else { return false }
        return state.errorClass == "22" || state.errorClass == "23" || state == .programLimitExceeded || state == .cardinalityViolation
    }

    /// Whether the server's message and hint may quote data (see the type's notes).
    public var messageMayQuoteData: Bool {
        guard kind == .server, let errorClass = sqlState?.errorClass else { return false }
        return errorClass == "22" || errorClass == "P0"
    }

    public var description: String {
        var text = "PostgreSQL: \(operation) failed"
        if messageMayQuoteData {
            text += ": the server refused a value (its message, which quotes it, is left out of logs)"
        } else {
            text += ": \(message)"
        }
        if let sqlState { text += " [SQLSTATE \(sqlState.rawValue)]" }
        if let hint, !messageMayQuoteData { text += " hint: \(hint)" }
        return text
    }

    public var debugDescription: String {
        var text = "PostgreSQL: \(operation) failed: \(message)"
        if let sqlState { text += " [SQLSTATE \(sqlState.rawValue)]" }
        if let detail { text += " detail: \(detail)" }
        if let hint { text += " hint: \(hint)" }
        return text
    }
}

/// A SQLSTATE code. The first two characters are its class.
public struct SQLState: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public var errorClass: Substring { rawValue.prefix(2) }
    public var description: String { rawValue }

    public static let uniqueViolation = SQLState(rawValue: "23505")
    public static let foreignKeyViolation = SQLState(rawValue: "23503")
    public static let notNullViolation = SQLState(rawValue: "23502")
    public static let checkViolation = SQLState(rawValue: "23514")
    public static let syntaxError = SQLState(rawValue: "42601")
    public static let undefinedTable = SQLState(rawValue: "42P01")
    public static let undefinedColumn = SQLState(rawValue: "42703")
    public static let invalidTextRepresentation = SQLState(rawValue: "22P02")
    public static let numericValueOutOfRange = SQLState(rawValue: "22003")
    /// Also what the server says for a NUL byte in text.
    public static let characterNotInRepertoire = SQLState(rawValue: "22021")
    /// An index row too large, among others: a key of several kilobytes.
    public static let programLimitExceeded = SQLState(rawValue: "54000")
    /// `ON CONFLICT DO UPDATE` meeting one row twice in one statement.
    public static let cardinalityViolation = SQLState(rawValue: "21000")
    public static let serializationFailure = SQLState(rawValue: "40001")
    public static let deadlockDetected = SQLState(rawValue: "40P01")
    public static let lockNotAvailable = SQLState(rawValue: "55P03")
    public static let queryCanceled = SQLState(rawValue: "57014")
    public static let adminShutdown = SQLState(rawValue: "57P01")
    public static let cannotConnectNow = SQLState(rawValue: "57P03")
    public static let inFailedTransaction = SQLState(rawValue: "25P02")

    /// Errors that go away on retry: lost connections, serialization conflicts,
    /// deadlocks, server shutdown or overload. Data errors (class 22, 23) never do.
    public var isTransient: Bool {
        switch errorClass {
        case "08", "53", "58": return true
        default: return [.serializationFailure, .deadlockDetected, .adminShutdown, .cannotConnectNow, .lockNotAvailable].contains(self)
        }
    }
}

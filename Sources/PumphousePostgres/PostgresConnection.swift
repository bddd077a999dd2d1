import CLibPQ
import Logging
import NIOPosix
import PumphouseBlocking

/// One PostgreSQL session over libpq.
///
/// libpq calls block, so every one runs on this connection's own thread, never on Swift's
/// cooperative pool. Use a connection from one task at a time: statements of concurrent
/// callers would interleave inside each other's transactions.
///
/// A broken connection is re-established before the next operation, except inside a
/// transaction: the server has rolled that back, and silently continuing on a new
/// session would run the rest of the transaction's statements outside it.
public final class PostgresConnection: Sendable {
    private let session: LibPQSession
    private let thread: NIOThreadPool
    public let configuration: PostgresConfiguration

    private init(session: LibPQSession, thread: NIOThreadPool, configuration: PostgresConfiguration) {
        self.session = session
        self.thread = thread
        self.configuration = configuration
    }

    deinit {
        let session = self.session
        thread.shutdownGracefully { _ in session.finish() }
    }

    /// Connects, failing within `configuration.connectTimeout` when the server cannot be
    /// reached, with an error naming the (password-free) URL.
    public static func connect(configuration: PostgresConfiguration, logger: Logger) async throws -> PostgresConnection {
        let thread = NIOThreadPool(numberOfThreads: 1)
        thread.start()
        do {
            let session = try await thread.runIfActive {
                try LibPQSession(configuration: configuration, logger: logger)
            }
            return PostgresConnection(session: session, thread: thread, configuration: configuration)
        } catch {
            try? await thread.shutdownGracefully()
            throw error
        }
    }

    /// The libpq the process runs with, e.g. `15.18`.
    public static var libpqVersion: String {
        let version = Int(PQlibVersion())
        return version >= 100_000 ? "\(version / 10_000).\(version % 100)" : "\(version / 10_000).\(version / 100 % 100).\(version % 100)"
    }

    /// Runs one statement with bound parameters.
    @discardableResult
    public func query(_ sql: String, _ parameters: [any PostgresEncodable] = []) async throws -> PostgresResult {
        try await query(PostgresStatement(sql, parameters))
    }

    /// Runs one prepared-by-value statement (SQL plus its parameters).
    @discardableResult
    public func query(_ statement: PostgresStatement) async throws -> PostgresResult {
        try await run("execute \(Self.abbreviate(statement.sql))") { session, operation throws(PostgresError) in
            try session.execute(statement, operation: operation)
        }
    }

    /// Runs a prepared statement (prepared on this session the first time it is used).
    @discardableResult
    public func query(_ statement: PostgresPreparedStatement, _ parameters: [any PostgresEncodable] = []) async throws -> PostgresResult {
        let values = parameters.map(\.postgresText)
        return try await run("execute prepared \(statement.name)") { session, operation throws(PostgresError) in
            try session.executePrepared(statement, values, operation: operation)
        }
    }

    /// Runs a script of one or more statements without parameters (migrations, DDL).
    public func execute(script sql: String) async throws {
        try await run("execute script \(Self.abbreviate(sql))") { session, operation throws(PostgresError) in
            _ = try session.executeScript(sql, operation: operation)
        }
    }

    /// Runs `body` in a transaction: committed if it returns, rolled back if it throws.
    /// A failed commit throws (e.g. `40001` under serializable isolation); retry the
    /// whole transaction then.
    @discardableResult
    public func transaction<T>(
        isolation: PostgresIsolationLevel = .readCommitted,
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await run("begin") { session, operation throws(PostgresError) in
            try session.begin(isolation: isolation, operation: operation)
        }
        let value: T
        do {
            value = try await body(self)
        } catch {
            // Even for a cancelled task: a skipped ROLLBACK would leave the server
            // transaction open, holding its locks. The session reports its own failure
            // to roll back; this one fails only if the connection was closed meanwhile,
            // which ends the server's transaction too.
            _ = try? await finish("rollback") { session, operation throws(PostgresError) in
                session.rollBack(operation: operation)
            }
            throw error
        }
        try await finish("commit") { session, operation throws(PostgresError) in
            try session.commit(operation: operation)
        }
        return value
    }

    /// Streams an already encoded text-format payload into `COPY ... FROM STDIN`.
    /// Returns the number of rows the server loaded.
    @discardableResult
    public func copyIn(_ statement: String, payload: [UInt8]) async throws -> Int {
        try await run("copy \(Self.abbreviate(statement))") { session, operation throws(PostgresError) in
            try session.copyIn(statement, payload: payload, operation: operation)
        }
    }

    /// Encodes rows and loads them with `COPY ... FROM STDIN`.
    @discardableResult
    public func copyIn(_ statement: String, rows: [[String?]]) async throws -> Int {
        var encoder = PostgresCopyEncoder()
        for row in rows { encoder.append(row: row) }
        return try await copyIn(statement, payload: encoder.bytes)
    }

    /// Sends all statements before reading any answer (libpq pipeline mode): one network
    /// round trip for the batch instead of one per statement. If one fails, the ones
    /// after it are skipped by the server and the first error is thrown, naming its index.
    /// Run it inside `transaction` for all-or-nothing.
    public func pipeline(_ statements: [PostgresStatement]) async throws -> [PostgresResult] {
        guard !statements.isEmpty else { return [] }
        return try await run("pipeline of \(statements.count) statements") { session, operation throws(PostgresError) in
            try session.pipeline(statements, operation: operation)
        }
    }

    /// Takes a session-level advisory lock if it is free; false if another session holds it.
    ///
    /// Session locks live as long as the session: if the connection is lost and
    /// re-established, the next operation throws `connectionLost` saying the locks are gone.
    public func tryAdvisoryLock(_ key: PostgresAdvisoryLockKey) async throws -> Bool {
        try await run("try advisory lock \(key.rawValue)") { session, operation throws(PostgresError) in
            try session.advisoryLock(key.rawValue, timeoutMilliseconds: nil, operation: operation)
        }
    }

    /// Waits for a session-level advisory lock, for at most `timeout`; then throws with
    /// SQLSTATE `55P03` (lock not available).
    public func advisoryLock(_ key: PostgresAdvisoryLockKey, timeout: Duration) async throws {
        let milliseconds = Int(max(1, timeout.milliseconds))
        _ = try await run("advisory lock \(key.rawValue)") { session, operation throws(PostgresError) in
            try session.advisoryLock(key.rawValue, timeoutMilliseconds: milliseconds, operation: operation)
        }
    }

    /// Releases a session-level advisory lock; false if this session did not hold it.
    @discardableResult
    public func advisoryUnlock(_ key: PostgresAdvisoryLockKey) async throws -> Bool {
        try await run("advisory unlock \(key.rawValue)") { session, operation throws(PostgresError) in
            try session.advisoryUnlock(key.rawValue, operation: operation)
        }
    }

    /// The server process serving this session (changes after a reconnect).
    public func backendPID() async throws -> Int32 {
        try await run("read backend pid") { session, _ throws(PostgresError) in session.backendPID }
    }

    /// Closes the session. Further calls throw.
    public func close() async {
        let session = self.session
        _ = try? await thread.runToCompletion("close") { session.finish() }
    }

    /// Runs `body` on the connection's thread. A task cancelled meanwhile has its
    /// statement cancelled on the server (SQLSTATE 57014) rather than waited for, and
    /// gets a `CancellationError`; one cancelled before the statement starts skips it.
    private func run<T: Sendable>(
        _ operation: String,
        _ body: @escaping @Sendable (LibPQSession, String) throws(PostgresError) -> T
    ) async throws -> T {
        let session = self.session
        do {
            return try await withTaskCancellationHandler {
                try await thread.runIfActive {
                    try session.canceller.running { () throws(PostgresError) in try body(session, operation) }
                }
            } onCancel: {
                session.canceller.cancelInFlight()
            }
        } catch let error as PostgresError where error.sqlState == .queryCanceled && Task.isCancelled {
            throw CancellationError()
        }
    }

    /// Like `run`, but runs even when the task is cancelled: for the statements that end
    /// a transaction.
    private func finish<T: Sendable>(
        _ operation: String,
        _ body: @escaping @Sendable (LibPQSession, String) throws(PostgresError) -> T
    ) async throws -> T {
        let session = self.session
        return try await thread.runToCompletion(operation) { try body(session, operation) }
    }

    static func abbreviate(_ sql: String) -> String {
        let flat = sql.split(whereSeparator: \.isNewline).map { $0.trimmingWhitespace() }.joined(separator: " ")
        return flat.count > 80 ? "\"\(flat.prefix(77))...\"" : "\"\(flat)\""
    }
}

/// Transaction isolation levels.
public enum PostgresIsolationLevel: String, Sendable {
    case readCommitted = "READ COMMITTED"
    case repeatableRead = "REPEATABLE READ"
    case serializable = "SERIALIZABLE"
}

/// A 64-bit advisory lock key, derived from a name so that every process agrees on it.
public struct PostgresAdvisoryLockKey: Sendable, Hashable {
    public let rawValue: Int64

    public init(rawValue: Int64) { self.rawValue = rawValue }

    /// FNV-1a of the name: stable across processes, builds and machines.
    public init(name: String) {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        self.rawValue = Int64(bitPattern: hash)
    }
}

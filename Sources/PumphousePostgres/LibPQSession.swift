import CLibPQ
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
import PumphouseBlocking
#endif

/// The libpq connection and the state that goes with it. Confined to the owning
/// connection's thread; `@unchecked Sendable` only so it can be handed to that thread.
final class LibPQSession: @unchecked Sendable {
    private var conn: OpaquePointer?
    private let logger: Logger
    private let redactedURL: String
    private let notices: NoticeSink
    /// Set between BEGIN and COMMIT/ROLLBACK: a lost connection must not be silently
    /// replaced then.
    private var inTransaction = false
    /// The session was replaced while a transaction was open; every statement until the
    /// transaction block ends must fail.
    private var transactionLost = false
    /// Session-level advisory locks this session holds; a reconnect silently drops them,
    /// so the caller is told.
    private var heldAdvisoryLocks = Set<Int64>()
    /// Statements prepared on the current server session; a reconnect starts a session
    /// that has none, so it empties this and each is prepared again on first use.
    private var prepared = Set<String>()
    /// A ROLLBACK failed on a connection libpq still calls good: the next operation
    /// opens a new session rather than trust this one's state.
    private var replaceSession = false
    /// Cancels the statement in flight on the server, from another thread.
    let canceller: ServerCanceller

    init(configuration: PostgresConfiguration, logger: Logger) throws(PostgresError) {
        self.logger = logger
        self.canceller = ServerCanceller(logger: logger)
        self.redactedURL = configuration.redactedURL
        self.notices = NoticeSink(logger: logger)
        let operation = "connect to \(redactedURL)"
        // Validate the URL first: libpq's parse error is clearer than a failed connect.
        if let reason = configuration.urlProblem {
            throw PostgresError(kind: .client, message: "invalid PostgreSQL URL \(redactedURL): \(reason)", operation: "parse connection URL")
        }
        let parameters = configuration.connectionParameters
        let keywords = parameters.map { strdup($0.0) }
        let values = parameters.map { strdup($0.1) }
        defer {
            keywords.forEach { free($0) }
            values.forEach { free($0) }
        }
        let keywordPointers = keywords.map { UnsafePointer($0) } + [nil]
        let valuePointers = values.map { UnsafePointer($0) } + [nil]
        let connection = PQconnectdbParams(keywordPointers, valuePointers, 1)
        guard let connection, PQstatus(connection) == CONNECTION_OK else {
            let reason = connection.map { String(cString: PQerrorMessage($0)).trimmingWhitespace() } ?? "out of memory"
            PQfinish(connection)
            throw PostgresError(
                kind: .connectionFailed,
                message: "\(reason) (connect timeout \(configuration.connectTimeout))",
                operation: operation
            )
        }
        self.conn = connection
        canceller.renew(from: connection)
        PQsetNoticeProcessor(connection, noticeProcessor, Unmanaged.passUnretained(notices).toOpaque())
        try setUpSession(connection, operation: operation)
    }

    /// Every session reads and writes times in UTC, whatever the server's `TimeZone`:
    /// the writer's `to_timestamp` into a `timestamp` column stores the session's wall
    /// time, and the reader reads that wall time back as UTC, so a session in another
    /// zone would move every such value by its offset, on the way in or out. A `SET`
    /// rather than a connection option, which the URL's own `options` would replace.
    private func setUpSession(_ connection: OpaquePointer, operation: String) throws(PostgresError) {
        _ = try consume(PQexec(connection, "SET TIME ZONE 'UTC'"), conn: connection, operation: operation)
    }

    deinit { finish() }

    func finish() {
        if let conn { PQfinish(conn) }
        conn = nil
    }

    var backendPID: Int32 { conn.map { PQbackendPID($0) } ?? 0 }

    // MARK: Operations

    func execute(_ statement: PostgresStatement, operation: String) throws(PostgresError) -> PostgresResult {
        try Self.checkParameters(statement, operation: operation)
        let conn = try usableConnection(operation: operation)
        let result = withCStrings(statement.parameters) { parameters in
            PQexecParams(conn, statement.sql, Int32(parameters.count), nil, parameters, nil, nil, 0)
        }
        return try consume(result, conn: conn, operation: operation)
    }

    /// Runs a named prepared statement, preparing it first on this server session if it
    /// is not yet: the server parses and plans it once, and each call then sends only
    /// the name and the parameters.
    func executePrepared(_ statement: PostgresPreparedStatement, _ parameters: [String?], operation: String) throws(PostgresError) -> PostgresResult {
        try Self.checkParameters(PostgresStatement(statement.sql, parameters), operation: operation)
        let conn = try usableConnection(operation: operation)
        if !prepared.contains(statement.name) {
            _ = try consume(PQprepare(conn, statement.name, statement.sql, 0, nil), conn: conn, operation: operation)
            prepared.insert(statement.name)
        }
        let result = withCStrings(parameters) { values in
            PQexecPrepared(conn, statement.name, Int32(values.count), values, nil, nil, 0)
        }
        return try consume(result, conn: conn, operation: operation)
    }

    func executeScript(_ sql: String, operation: String) throws(PostgresError) -> PostgresResult {
        let conn = try usableConnection(operation: operation)
        return try consume(PQexec(conn, sql), conn: conn, operation: operation)
    }

    func begin(isolation: PostgresIsolationLevel, operation: String) throws(PostgresError) {
        guard !inTransaction else {
            throw PostgresError(kind: .client, message: "a transaction is already open on this connection; nested transactions are not supported", operation: operation)
        }
        _ = try executeScript("BEGIN ISOLATION LEVEL \(isolation.rawValue)", operation: operation)
        inTransaction = true
    }

    func commit(operation: String) throws(PostgresError) {
        if leaveTransaction() {
            throw PostgresError(kind: .connectionLost, message: "the connection was lost inside the transaction; the server rolled it back, retry the whole transaction", operation: operation)
        }
        let result = try executeScript("COMMIT", operation: operation)
        // A transaction in which a statement failed can only end in a rollback; PostgreSQL
        // answers COMMIT with the tag ROLLBACK, which must not pass for success.
        if result.commandTag != "COMMIT" {
            throw PostgresError(
                kind: .server, sqlState: .inFailedTransaction,
                message: "the server rolled the transaction back because a statement in it failed; nothing was written, retry the whole transaction",
                operation: operation
            )
        }
    }

    /// Ends a transaction without its effects. Never throws: the caller is already
    /// failing with the reason it rolls back. A ROLLBACK that fails leaves no way to
    /// know whether the server still holds the transaction and its locks, so the
    /// failure is logged and the session is replaced before its next use: the server
    /// ends a closed session's transaction.
    func rollBack(operation: String) {
        guard !leaveTransaction() else { return }
        do throws(PostgresError) {
            _ = try executeScript("ROLLBACK", operation: operation)
        } catch {
            logger.warning("ROLLBACK failed; the session is replaced before its next use, so the server ends the transaction", metadata: [
                "operation": "\(operation)", "error": "\(error)", "url": "\(redactedURL)",
            ])
            replaceSession = true
        }
    }

    /// Marks the transaction block ended; true if the connection was lost inside it, so
    /// the server has rolled it back already and there is nothing to send.
    private func leaveTransaction() -> Bool {
        let wasLost = transactionLost || (conn.map { PQstatus($0) != CONNECTION_OK } ?? true)
        inTransaction = false
        transactionLost = false
        return wasLost
    }

    func advisoryLock(_ key: Int64, timeoutMilliseconds: Int?, operation: String) throws(PostgresError) -> Bool {
        let acquired: Bool
        if let timeoutMilliseconds, inTransaction {
            // Inside the caller's transaction: bound the wait with a local setting and
            // put the previous value back, rather than opening or ending a transaction.
            let previous = try execute(PostgresStatement("SELECT current_setting('lock_timeout')"), operation: operation).scalar(String.self) ?? "0"
            _ = try execute(PostgresStatement("SELECT set_config('lock_timeout', $1, true)", ["\(timeoutMilliseconds)ms"]), operation: operation)
            _ = try execute(PostgresStatement("SELECT pg_advisory_lock($1)", [key]), operation: operation)
            _ = try execute(PostgresStatement("SELECT set_config('lock_timeout', $1, true)", [previous]), operation: operation)
            acquired = true
        } else if let timeoutMilliseconds {
            _ = try executeScript("BEGIN", operation: operation)
            do throws(PostgresError) {
                _ = try execute(PostgresStatement("SELECT set_config('lock_timeout', $1, true)", ["\(timeoutMilliseconds)ms"]), operation: operation)
                _ = try execute(PostgresStatement("SELECT pg_advisory_lock($1)", [key]), operation: operation)
                _ = try executeScript("COMMIT", operation: operation)
            } catch {
                rollBack(operation: operation)
                throw error
            }
            acquired = true
        } else {
            acquired = try execute(PostgresStatement("SELECT pg_try_advisory_lock($1)", [key]), operation: operation).scalar(Bool.self) ?? false
        }
        if acquired { heldAdvisoryLocks.insert(key) }
        return acquired
    }

    func advisoryUnlock(_ key: Int64, operation: String) throws(PostgresError) -> Bool {
        let released = try execute(PostgresStatement("SELECT pg_advisory_unlock($1)", [key]), operation: operation).scalar(Bool.self) ?? false
        heldAdvisoryLocks.remove(key)
        return released
    }

    func copyIn(_ statement: String, payload: [UInt8], operation: String) throws(PostgresError) -> Int {
        let conn = try usableConnection(operation: operation)
        guard let start = PQexec(conn, statement) else { throw lost(conn, operation: operation) }
        let status = PQresultStatus(start)
        guard status == PGRES_COPY_IN else {
            _ = try consume(start, conn: conn, operation: operation)
            throw PostgresError(kind: .client, message: "statement did not start COPY FROM STDIN", operation: operation)
        }
        PQclear(start)
        let chunk = 1 << 20
        var failure: String?
        payload.withUnsafeBufferPointer { buffer in
            var offset = 0
            while offset < buffer.count {
                let count = min(chunk, buffer.count - offset)
                let sent = buffer.baseAddress!.advanced(by: offset).withMemoryRebound(to: CChar.self, capacity: count) {
                    PQputCopyData(conn, $0, Int32(count))
                }
                if sent != 1 {
                    failure = String(cString: PQerrorMessage(conn)).trimmingWhitespace()
                    return
                }
                offset += count
            }
        }
        guard PQputCopyEnd(conn, failure) == 1 else { throw lost(conn, operation: operation) }
        let outcome: Result<PostgresResult, PostgresError>
        do {
            outcome = .success(try consume(PQgetResult(conn), conn: conn, operation: operation))
        } catch {
            outcome = .failure(error)
        }
        // Read everything the COPY produced, so the connection is idle whatever happened.
        while let extra = PQgetResult(conn) { PQclear(extra) }
        return try outcome.get().affectedRows
    }

    func pipeline(_ statements: [PostgresStatement], operation: String) throws(PostgresError) -> [PostgresResult] {
        for statement in statements { try Self.checkParameters(statement, operation: operation) }
        let conn = try usableConnection(operation: operation)
        // Non-blocking while in pipeline mode: with blocking sends, a large batch can
        // deadlock with the server once both sides' socket buffers are full.
        guard PQenterPipelineMode(conn) == 1 else { throw lost(conn, operation: operation) }
        PQsetnonblocking(conn, 1)
        do throws(PostgresError) {
            let results = try runPipeline(conn, statements, operation: operation)
            try leavePipeline(conn, operation: operation)
            return results
        } catch {
            try? leavePipeline(conn, operation: operation)
            throw error
        }
    }

    /// Leaves pipeline mode; if results are still pending (an error mid-batch), the
    /// session cannot be trusted any more and is replaced, and an open transaction on it
    /// is marked lost.
    private func leavePipeline(_ conn: OpaquePointer, operation: String) throws(PostgresError) {
        PQsetnonblocking(conn, 0)
        if PQexitPipelineMode(conn) == 1 { return }
        PQreset(conn)
        if inTransaction { transactionLost = true }
        heldAdvisoryLocks.removeAll()
        // The next operation sets the new session up as any reconnect does (its time
        // zone, the canceller, no statement prepared on it yet).
        replaceSession = true
        throw PostgresError(kind: .connectionLost, message: "the pipeline was interrupted; the session was reset", operation: operation)
    }

    private func runPipeline(_ conn: OpaquePointer, _ statements: [PostgresStatement], operation: String) throws(PostgresError) -> [PostgresResult] {
        for (index, statement) in statements.enumerated() {
            let sent = withCStrings(statement.parameters) { parameters in
                PQsendQueryParams(conn, statement.sql, Int32(parameters.count), nil, parameters, nil, nil, 0)
            }
            guard sent == 1 else {
                throw PostgresError(kind: .client, message: "could not queue statement \(index): \(String(cString: PQerrorMessage(conn)).trimmingWhitespace())", operation: operation)
            }
        }
        guard PQpipelineSync(conn) == 1 else { throw lost(conn, operation: operation) }

        var results: [PostgresResult] = []
        var firstError: PostgresError?
        var synced = false
        while !synced {
            let flushState = PQflush(conn)
            guard flushState >= 0 else { throw lost(conn, operation: operation) }
            try waitForSocket(conn, writable: flushState == 1, operation: operation)
            guard PQconsumeInput(conn) == 1 else { throw lost(conn, operation: operation) }
            while !synced, PQisBusy(conn) == 0 {
                // NULL separates one statement's results from the next.
                guard let result = PQgetResult(conn) else { continue }
                switch PQresultStatus(result) {
                case PGRES_PIPELINE_SYNC:
                    PQclear(result)
                    synced = true
                case PGRES_PIPELINE_ABORTED:
                    PQclear(result)
                default:
                    let index = results.count
                    do {
                        results.append(try consume(result, conn: conn, operation: "\(operation), statement \(index)"))
                    } catch {
                        if firstError == nil { firstError = error }
                        results.append(PostgresResult(columns: [], rows: [], affectedRows: 0, commandTag: "ERROR"))
                    }
                }
            }
        }
        if let firstError { throw firstError }
        return results
    }

    // MARK: Plumbing

    /// The connection, re-established first if it broke outside a transaction.
    private func usableConnection(operation: String) throws(PostgresError) -> OpaquePointer {
        guard let conn else {
            throw PostgresError(kind: .client, message: "the connection is closed", operation: operation)
        }
        if inTransaction && transactionLost {
            throw PostgresError(kind: .connectionLost, message: "the connection was lost inside a transaction; the server rolled it back, retry the whole transaction", operation: operation)
        }
        guard PQstatus(conn) != CONNECTION_OK || replaceSession else { return conn }
        replaceSession = false
        if inTransaction {
            transactionLost = true
            throw PostgresError(kind: .connectionLost, message: "the connection was lost inside a transaction; the server rolled it back, retry the whole transaction", operation: operation)
        }
        PQreset(conn)
        prepared.removeAll()
        guard PQstatus(conn) == CONNECTION_OK else {
            throw PostgresError(
                kind: .connectionFailed,
                message: "reconnect to \(redactedURL) failed: \(String(cString: PQerrorMessage(conn)).trimmingWhitespace())",
                operation: operation
            )
        }
        canceller.renew(from: conn)
        do {
            try setUpSession(conn, operation: operation)
        } catch {
            // A session not set up (cancelled mid-SET, say) is not handed out: the next
            // operation starts the reconnect again, lost advisory locks reported included.
            replaceSession = true
            throw error
        }
        logger.notice("reconnected to PostgreSQL", metadata: ["url": "\(redactedURL)"])
        if !heldAdvisoryLocks.isEmpty {
            let count = heldAdvisoryLocks.count
            heldAdvisoryLocks.removeAll()
            throw PostgresError(
                kind: .connectionLost,
                message: "the connection was lost and re-established; the \(count) advisory lock(s) the old session held were released, re-acquire them before continuing",
                operation: operation
            )
        }
        return conn
    }

    /// Turns a libpq result into a Swift value or error, and frees it.
    private func consume(_ result: OpaquePointer?, conn: OpaquePointer, operation: String) throws(PostgresError) -> PostgresResult {
        guard let result else { throw lost(conn, operation: operation) }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            let columnCount = Int(PQnfields(result))
            let rowCount = Int(PQntuples(result))
            let columns = (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) }
            var rows: [[String?]] = []
            rows.reserveCapacity(rowCount)
            for row in 0..<Int32(rowCount) {
                rows.append((0..<Int32(columnCount)).map { column in
                    PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
                })
            }
            let tag = String(cString: PQcmdStatus(result))
            let affected = Int(String(cString: PQcmdTuples(result))) ?? rowCount
            return PostgresResult(columns: columns, rows: rows, affectedRows: affected, commandTag: tag)
        default:
            func field(_ code: UInt8) -> String? {
                PQresultErrorField(result, Int32(code)).map { String(cString: $0) }
            }
            let state = field(UInt8(ascii: "C")).map(SQLState.init(rawValue:))
            let message = field(UInt8(ascii: "M")) ?? String(cString: PQresultErrorMessage(result)).trimmingWhitespace()
            let broken = PQstatus(conn) != CONNECTION_OK
            throw PostgresError(
                kind: broken ? .connectionLost : (state == nil ? .client : .server),
                sqlState: state,
                message: message,
                detail: field(UInt8(ascii: "D")),
                hint: field(UInt8(ascii: "H")),
                operation: operation
            )
        }
    }

    private func lost(_ conn: OpaquePointer, operation: String) -> PostgresError {
        let reason = String(cString: PQerrorMessage(conn)).trimmingWhitespace()
        return PostgresError(
            kind: PQstatus(conn) == CONNECTION_OK ? .client : .connectionLost,
            message: reason.isEmpty ? "no result from the server" : reason,
            operation: operation
        )
    }

    private func waitForSocket(_ conn: OpaquePointer, writable: Bool, operation: String) throws(PostgresError) {
        var descriptor = pollfd(fd: PQsocket(conn), events: Int16(POLLIN) | (writable ? Int16(POLLOUT) : 0), revents: 0)
        // The dead-peer timeout on the socket bounds how long a vanished server can
        // stall this; the poll itself only waits for readiness.
        while true {
            let ready = poll(&descriptor, 1, 1000)
            if ready > 0 { return }
            if ready < 0 && errno != EINTR {
                throw PostgresError(kind: .connectionLost, message: "waiting for the server failed (errno \(errno))", operation: operation)
            }
            if PQstatus(conn) != CONNECTION_OK { throw lost(conn, operation: operation) }
        }
    }
}

extension LibPQSession {
    /// PostgreSQL text cannot hold NUL; libpq would cut the value there, silently. The
    /// error carries the SQLSTATE the server gives for a NUL it receives (as in COPY), so
    /// callers treat it as the data error it is, for that row alone.
    static func checkParameters(_ statement: PostgresStatement, operation: String) throws(PostgresError) {
        for (index, value) in statement.parameters.enumerated() where value?.utf8.contains(0) == true {
            throw PostgresError(kind: .client, sqlState: .characterNotInRepertoire, message: "parameter $\(index + 1) contains a NUL character, which PostgreSQL text cannot store", operation: operation)
        }
    }
}

/// Passes an array of optional strings to C as `const char * const *`.
private func withCStrings<R>(_ values: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    let copies = values.map { $0.map { strdup($0) } ?? nil }
    defer { copies.forEach { free($0) } }
    return body(copies.map { $0.map { UnsafePointer($0) } })
}

/// Server notices (e.g. "relation already exists, skipping") go to the logger, not stderr.
private final class NoticeSink: Sendable {
    let logger: Logger
    init(logger: Logger) { self.logger = logger }
}

private let noticeProcessor: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?) -> Void = { context, message in
    guard let context, let message else { return }
    let sink = Unmanaged<NoticeSink>.fromOpaque(context).takeUnretainedValue()
    sink.logger.debug("PostgreSQL: \(String(cString: message).trimmingWhitespace())")
}

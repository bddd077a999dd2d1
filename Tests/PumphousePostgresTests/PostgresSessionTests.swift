import Logging
import PumphousePostgres
import PumphouseTestSupport
import Synchronization
import Testing

@Suite("PostgreSQL sessions: locks, reconnects and unreachable servers", .localStack, .removingWhatItMakes, .timeLimit(.minutes(1)))
struct PostgresSessionTests {
    @Test("an advisory lock admits one session; a waiter times out with 55P03")
    func advisoryLocks() async throws {
        let a = try await TestDatabase.connect()
        let b = try await TestDatabase.connect()
        let key = PostgresAdvisoryLockKey(name: TestStack.uniqueName("lock"))
        #expect(try await a.tryAdvisoryLock(key))
        #expect(try await !b.tryAdvisoryLock(key))
        let timeout = try await #require(throws: PostgresError.self) {
            try await b.advisoryLock(key, timeout: .milliseconds(200))
        }
        #expect(timeout.sqlState == .lockNotAvailable)
        #expect(timeout.isTransient)
        #expect(try await a.advisoryUnlock(key))
        try await b.advisoryLock(key, timeout: .seconds(5))
        #expect(try await !a.tryAdvisoryLock(key))
        #expect(PostgresAdvisoryLockKey(name: "cache:orders") == PostgresAdvisoryLockKey(name: "cache:orders"))
    }

    @Test("a killed session fails the statement in flight, then reconnects by itself")
    func reconnect() async throws {
        let db = try await TestDatabase.connect()
        let killer = try await TestDatabase.connect()
        let before = try await db.backendPID()
        try await killer.query("SELECT pg_terminate_backend($1)", [before])
        let error = try await #require(throws: PostgresError.self) { try await db.query("SELECT 1") }
        #expect(error.kind == .connectionLost)
        #expect(error.isTransient)
        #expect(try await db.query("SELECT 2").scalar(Int.self) == 2)
        #expect(try await db.backendPID() != before)
    }

    @Test("every session reads and writes times in UTC, even when the URL asks the server for another zone, and again after a reconnect")
    func sessionsInUTC() async throws {
        let separator = TestStack.postgresURL.contains("?") ? "&" : "?"
        let url = TestStack.postgresURL + separator + "options=-c%20TimeZone%3DAsia%2FTokyo"
        let db = try await PostgresConnection.connect(configuration: PostgresConfiguration(url: url), logger: TestDatabase.logger)
        #expect(try await db.query("SHOW TimeZone").scalar(String.self) == "UTC")
        #expect(try await db.query("SELECT extract(epoch FROM to_timestamp(0)::timestamp)::bigint").scalar(Int64.self) == 0)
        let killer = try await TestDatabase.connect()
        try await killer.query("SELECT pg_terminate_backend($1)", [try await db.backendPID()])
        _ = try? await db.query("SELECT 1")
        #expect(try await db.query("SHOW TimeZone").scalar(String.self) == "UTC")
    }

    @Test("a prepared statement runs by name, and is prepared again on the session a reconnect opens")
    func preparedAcrossReconnect() async throws {
        let db = try await TestDatabase.connect()
        let killer = try await TestDatabase.connect()
        let add = PostgresPreparedStatement(name: "add", sql: "SELECT $1::int + $2::int")
        #expect(try await db.query(add, [1, 2]).scalar(Int.self) == 3)
        #expect(try await db.query(add, [40, 2]).scalar(Int.self) == 42)
        let prepared = try await db.query("SELECT count(*) FROM pg_prepared_statements WHERE name = 'add'").scalar(Int.self)
        #expect(prepared == 1)
        try await killer.query("SELECT pg_terminate_backend($1)", [try await db.backendPID()])
        let error = try await #require(throws: PostgresError.self) { try await db.query(add, [1, 1]) }
        #expect(error.kind == .connectionLost)
        #expect(try await db.query(add, [2, 3]).scalar(Int.self) == 5)
    }

    @Test("a session killed inside a transaction is not silently replaced mid-transaction")
    func lostInsideTransaction() async throws {
        let db = try await TestDatabase.connect()
        let killer = try await TestDatabase.connect()
        let table = try await TestDatabase.table(db)
        let error = try await #require(throws: PostgresError.self) {
            try await db.transaction { tx in
                try await tx.query("INSERT INTO \(table) VALUES (1, 'lost')")
                try await killer.query("SELECT pg_terminate_backend($1)", [try await tx.backendPID()])
                _ = try? await tx.query("SELECT 1")
                // Even a caller that swallows the failure cannot continue outside the transaction.
                try await tx.query("INSERT INTO \(table) VALUES (2, 'must not land')")
            }
        }
        #expect(error.kind == .connectionLost)
        #expect(try await db.query("SELECT count(*) FROM \(table)").scalar(Int.self) == 0)
    }

    @Test("an unreachable server fails to connect within the timeout")
    func unreachable() async throws {
        var configuration = PostgresConfiguration(url: "postgresql://pumphouse:secret-pw@127.0.0.1:1/pumphouse")
        configuration.connectTimeout = .seconds(2)
        let error = try await #require(throws: PostgresError.self) {
            try await PostgresConnection.connect(configuration: configuration, logger: TestDatabase.logger)
        }
        #expect(error.kind == .connectionFailed)
        #expect(error.description.contains("127.0.0.1"))
        #expect(!error.description.contains("secret-pw"))
    }

    @Test("a wrong password fails clearly and is never echoed")
    func wrongPassword() async throws {
        var url = TestStack.postgresURL
        let at = try #require(url.lastIndex(of: "@"))
        let colon = try #require(url[..<at].lastIndex(of: ":"))
        url.replaceSubrange(url.index(after: colon)..<at, with: "wrong-secret")
        let error = try await #require(throws: PostgresError.self) {
            try await PostgresConnection.connect(configuration: PostgresConfiguration(url: url), logger: TestDatabase.logger)
        }
        #expect(error.kind == .connectionFailed)
        #expect(error.message.contains("password authentication failed"))
        #expect(!error.description.contains("wrong-secret"))
    }

    @Test("a malformed URL is a client error naming the URL without its password", arguments: [
        "postgresql://u:pw@host:notaport/db",
        "not a url",
        "postgresql://u:pw@127.0.0.1:5432/db?nosuchoption=1",
        // libpq quotes the token it cannot decode: here, the password.
        "postgresql://u:pw%zzsecret@127.0.0.1:5432/db",
        "postgresql://u@127.0.0.1:5432/db?password=pw%zzsecret",
    ])
    func malformedURL(url: String) async throws {
        let error = try await #require(throws: PostgresError.self) {
            try await PostgresConnection.connect(configuration: PostgresConfiguration(url: url), logger: TestDatabase.logger)
        }
        #expect([.client, .connectionFailed].contains(error.kind))
        #expect(!error.description.contains(":pw@") && !error.description.contains("secret"), "\(error)")
        let problem = PostgresConfiguration(url: url).urlProblem
        #expect(problem.map { !$0.contains("secret") } ?? true, "\(problem ?? "")")
        if url.contains("nosuchoption") { #expect(problem?.contains("nosuchoption") == true, "an unknown parameter is named") }
    }

    @Test("a '/' in the credentials of a URL is refused before libpq reads the password's pieces as a host and a port, and its message quotes none of it")
    func slashInPassword() {
        let problem = PostgresConfiguration(url: "postgresql://pumphouse:s3cr/et@db:5432/pumphouse").urlProblem
        #expect(problem?.contains("%2F") == true, "\(String(describing: problem))")
        #expect(problem?.contains("s3cr") == false && problem?.contains("et@") == false)
        #expect(PostgresConfiguration(url: "postgresql://u:1234/5@db/pumphouse").urlProblem != nil)
        // A '@' in the query or in the database name is no credential.
        #expect(PostgresConfiguration(url: "postgresql://db:5432/pumphouse?user=app@corp").urlProblem == nil)
        #expect(PostgresConfiguration(url: "postgresql://db:5432/my@db").urlProblem == nil)
        #expect(PostgresConfiguration(url: "postgresql://u:pw@h/app@x").urlProblem == nil)
        #expect(PostgresConfiguration(url: "postgresql://h1:5432,h2:5433/app@x").urlProblem == nil)
        #expect(PostgresConfiguration(url: "postgresql:///db?host=/tmp").urlProblem == nil)
        #expect(PostgresConfiguration(url: "postgresql://app:pa%2Fss@db:5432/pumphouse").urlProblem == nil)
    }

    @Test("passwords are redacted from URLs and connection strings", arguments: [
        ("postgresql://user:pa@ss@host:5432/db", "postgresql://user:***@host:5432/db"),
        ("postgresql://user@host/db", "postgresql://user@host/db"),
        ("postgresql://host/db?user=u&password=p&sslmode=require", "postgresql://host/db?user=u&password=***&sslmode=require"),
        ("host=h password=p dbname=d", "host=h password=*** dbname=d"),
        ("host=h sslpassword=k", "host=h sslpassword=***"),
        ("host=h password='a b\\' c' dbname=d", "host=h password=*** dbname=d"),
        // libpq allows spaces around '='.
        ("host=h password = hunter2 dbname=d", "host=h password = *** dbname=d"),
        ("host=h password =hunter2", "host=h password =***"),
        ("host=h password=\thunter2", "host=h password=\t***"),
        // A '/' in the password (unencoded, which libpq refuses) still ends up masked.
        ("postgresql://u:pa/ss@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:pa/ss@h:5432/db?sslmode=require", "postgresql://u:***@h:5432/db?sslmode=require"),
        // A '?' in the password, which libpq takes as part of it.
        ("postgresql://app:s3cr?t@db:5432/pumphouse", "postgresql://app:***@db:5432/pumphouse"),
        ("postgresql://app:a?b@c@db/pumphouse?sslmode=require", "postgresql://app:***@db/pumphouse?sslmode=require"),
    ])
    func redaction(url: String, redacted: String) {
        #expect(PostgresURL.redacting(url) == redacted)
    }
}

@Suite("PostgreSQL transaction edge cases", .localStack, .removingWhatItMakes, .timeLimit(.minutes(1)))
struct PostgresTransactionEdgeTests {
    @Test("a transaction whose statement failed and was swallowed does not report a commit")
    func swallowedFailure() async throws {
        let db = try await TestDatabase.connect()
        let table = try await TestDatabase.table(db)
        let error = try await #require(throws: PostgresError.self) {
            try await db.transaction { tx in
                try await tx.query("INSERT INTO \(table) VALUES (1, 'a')")
                _ = try? await tx.query("INSERT INTO \(table) VALUES (1, 'duplicate')")
            }
        }
        #expect(error.sqlState == .inFailedTransaction)
        #expect(try await db.query("SELECT count(*) FROM \(table)").scalar(Int.self) == 0)
    }

    @Test("cancelling a task inside a transaction rolls it back and frees the session")
    func cancellation() async throws {
        let db = try await TestDatabase.connect()
        let table = try await TestDatabase.table(db)
        let pid = try await db.backendPID()
        let task = Task {
            try await db.transaction { tx in
                try await tx.query("INSERT INTO \(table) VALUES (1, 'cancelled')")
                try await Task.sleep(for: .seconds(30))
            }
        }
        let observer = try await TestDatabase.connect()
        _ = try await waitFor("the insert to be in flight", timeout: .seconds(10)) { () -> Bool? in
            let state = try await observer.query("SELECT state FROM pg_stat_activity WHERE pid = $1", [pid]).scalar(String.self)
            return state == "idle in transaction" ? true : nil
        }
        task.cancel()
        _ = await task.result
        #expect(try await observer.query("SELECT state FROM pg_stat_activity WHERE pid = $1", [pid]).scalar(String.self) == "idle")
        #expect(try await db.query("SELECT count(*) FROM \(table)").scalar(Int.self) == 0)
        try await db.transaction { tx in try await tx.query("INSERT INTO \(table) VALUES (2, 'after')") }
        #expect(try await db.query("SELECT count(*) FROM \(table)").scalar(Int.self) == 1)
    }

    @Test("a ROLLBACK that fails is logged, the body's error still thrown, and the next operation runs on a new session")
    func failedRollback() async throws {
        let events = Mutex<[LogEvent]>([])
        let logger = Logger(label: "pumphouse.tests.postgres") { _ in RecordingLogHandler { event in events.withLock { $0.append(event) } } }
        let db = try await TestDatabase.connect(logger: logger)
        let killer = try await TestDatabase.connect()
        let table = try await TestDatabase.table(db)
        struct Abort: Error {}
        let before = try await db.backendPID()
        // Killed while the transaction waits on the caller: libpq learns of it only when
        // the ROLLBACK is sent.
        await #expect(throws: Abort.self) {
            try await db.transaction { tx in
                try await tx.query("INSERT INTO \(table) VALUES (1, 'rolled back')")
                try await killer.query("SELECT pg_terminate_backend($1)", [before])
                _ = try await waitFor("the session to end", timeout: .seconds(10)) { () -> Bool? in
                    try await killer.query("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", [before]).scalar(Int.self) == 0 ? true : nil
                }
                throw Abort()
            }
        }
        let warnings = events.withLock { $0 }.filter { $0.level == .warning && "\($0.message)".contains("ROLLBACK failed") }
        #expect(warnings.count == 1, "one warning for the failed ROLLBACK")
        #expect(try await db.query("SELECT count(*) FROM \(table)").scalar(Int.self) == 0)
        #expect(try await db.backendPID() != before)
    }

    @Test("cancelling a task whose statement runs cancels the statement on the server; the session stays usable")
    func cancelOnServer() async throws {
        let db = try await TestDatabase.connect()
        let pid = try await db.backendPID()
        let ended = Atomic(false)
        let task = Task {
            defer { ended.store(true, ordering: .releasing) }
            return try await db.query("SELECT pg_sleep(600)")
        }
        let observer = try await TestDatabase.connect()
        _ = try await waitFor("the statement to run", timeout: .seconds(10)) { () -> Bool? in
            let state = try await observer.query("SELECT state FROM pg_stat_activity WHERE pid = $1", [pid]).scalar(String.self)
            return state == "active" ? true : nil
        }
        task.cancel()
        // Waited for, the statement would take ten minutes.
        _ = try await waitFor("the cancelled statement to end", timeout: .seconds(20)) { () -> Bool? in
            try await Task.sleep(for: .milliseconds(10))
            return ended.load(ordering: .acquiring) ? true : nil
        }
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(try await db.query("SELECT 3").scalar(Int.self) == 3)
        #expect(try await db.backendPID() == pid, "a cancel ends the statement, not the session")
    }

    @Test("a reconnect reports the advisory locks it lost")
    func locksLostOnReconnect() async throws {
        let db = try await TestDatabase.connect()
        let killer = try await TestDatabase.connect()
        let key = PostgresAdvisoryLockKey(name: TestStack.uniqueName("lock"))
        #expect(try await db.tryAdvisoryLock(key))
        try await killer.query("SELECT pg_terminate_backend($1)", [try await db.backendPID()])
        _ = try? await db.query("SELECT 1")  // notices the broken connection
        let error = try await #require(throws: PostgresError.self) { try await db.query("SELECT 1") }
        #expect(error.kind == .connectionLost)
        #expect(error.message.contains("advisory lock"))
        #expect(try await db.query("SELECT 1").scalar(Int.self) == 1)
        #expect(try await killer.tryAdvisoryLock(key), "the lock must really be free")
    }

    @Test("a timed advisory lock inside a transaction leaves the transaction and its settings alone")
    func lockInsideTransaction() async throws {
        let db = try await TestDatabase.connect()
        let key = PostgresAdvisoryLockKey(name: TestStack.uniqueName("lock"))
        try await db.transaction { tx in
            try await tx.query("SET LOCAL lock_timeout = '7s'")
            try await tx.advisoryLock(key, timeout: .seconds(1))
            #expect(try await tx.query("SHOW lock_timeout").scalar(String.self) == "7s")
        }
        #expect(try await db.advisoryUnlock(key))
    }

    @Test("a pipeline that fails mid-batch leaves the connection usable")
    func pipelineRecovery() async throws {
        let db = try await TestDatabase.connect()
        let table = try await TestDatabase.table(db)
        await #expect(throws: PostgresError.self) {
            try await db.pipeline([
                PostgresStatement("INSERT INTO \(table) VALUES (1, 'a')"),
                PostgresStatement("SELEC 1"),
                PostgresStatement("INSERT INTO \(table) VALUES (2, 'b')"),
            ])
        }
        #expect(try await db.query("SELECT 1").scalar(Int.self) == 1)
        #expect(try await db.pipeline([PostgresStatement("SELECT 2")]).first?.scalar(Int.self) == 2)
    }

    @Test("a NUL character in a parameter is refused, not truncated")
    func nulParameter() async throws {
        let db = try await TestDatabase.connect()
        let error = try await #require(throws: PostgresError.self) { try await db.query("SELECT $1::text", ["a\u{0}b"]) }
        #expect(error.kind == .client)
        #expect(error.sqlState == .characterNotInRepertoire, "the data error the server gives for NUL, so a writer refuses the row alone")
        #expect(error.message.contains("$1"))
    }
}

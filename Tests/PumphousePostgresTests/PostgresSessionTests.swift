import PumphousePostgres
import PumphouseTestSupport
import Testing

@Suite("PostgreSQL sessions: locks, reconnects and unreachable servers", .timeLimit(.minutes(1)))
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
    ])
    func malformedURL(url: String) async throws {
        let error = try await #require(throws: PostgresError.self) {
            try await PostgresConnection.connect(configuration: PostgresConfiguration(url: url), logger: TestDatabase.logger)
        }
        #expect([.client, .connectionFailed].contains(error.kind))
        #expect(!error.description.contains(":pw@"))
    }

    @Test("passwords are redacted from URLs and connection strings", arguments: [
        ("postgresql://user:pa@ss@host:5432/db", "postgresql://user:***@host:5432/db"),
        ("postgresql://user@host/db", "postgresql://user@host/db"),
        ("postgresql://host/db?user=u&password=p&sslmode=require", "postgresql://host/db?user=u&password=***&sslmode=require"),
        ("host=h password=p dbname=d", "host=h password=*** dbname=d"),
        ("host=h sslpassword=k", "host=h sslpassword=***"),
    ])
    func redaction(url: String, redacted: String) {
        #expect(PostgresURL.redacting(url) == redacted)
    }
}

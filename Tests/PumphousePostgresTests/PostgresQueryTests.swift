import PumphousePostgres
import PumphouseTestSupport
import Testing

@Suite("PostgreSQL statements, transactions and errors against the local server", .localStack, .removingWhatItMakes, .timeLimit(.minutes(1)))
struct PostgresQueryTests {
    @Test("parameters travel apart from SQL: quotes, semicolons and SQL are stored verbatim")
    func parameters() async throws {
        let db = try await TestDatabase.connect()
        let table = try await TestDatabase.table(db)
        let hostile = "x'); DROP TABLE \(table); --\t\"quoted\" \\ back ✓"
        try await db.query("INSERT INTO \(table) (id, body) VALUES ($1, $2), ($3, $4)", [1, hostile, 2, String?.none])
        let rows = try await db.query("SELECT id, body FROM \(table) ORDER BY id").namedRows
        #expect(rows.count == 2)
        #expect(try rows[0].decode(Int.self, "id") == 1)
        #expect(rows[0]["body"] == hostile)
        #expect(rows[1]["body"] == nil)
        #expect(try await db.query("SELECT $1::bigint + 1", [Int64.max - 1]).scalar(Int64.self) == Int64.max)
        #expect(try await db.query("SELECT $1::bytea", [PostgresBytes([0, 1, 254, 255])]).scalar(PostgresBytes.self) == PostgresBytes([0, 1, 254, 255]))
        #expect(try await db.query("SELECT $1::float8", [Double.infinity]).scalar(Double.self) == .infinity)
    }

    @Test("a text array travels element by element with its exact bytes, a quote or backslash before a combining mark included")
    func textArrays() async throws {
        let db = try await TestDatabase.connect()
        let elements = ["plain", "a\"\u{301}b", "c\\\u{301}", "\\", "\"", "", "caf\u{E9}", "cafe\u{301}", "{,}", "NULL", " spaced "]
        let rows = try await db.query("SELECT e FROM unnest($1::text[]) WITH ORDINALITY AS t(e, n) ORDER BY n", [elements]).rows
        let back = rows.map { $0[0] ?? "<null>" }
        #expect(back.count == elements.count)
        for (sent, received) in zip(elements, back) {
            #expect(Array(sent.utf8) == Array(received.utf8), "element \(Array(sent.utf8)) came back as \(Array(received.utf8))")
        }
    }

    @Test("a transaction commits on return and rolls back on throw")
    func transactions() async throws {
        let db = try await TestDatabase.connect()
        let table = try await TestDatabase.table(db)
        struct Abort: Error {}
        await #expect(throws: Abort.self) {
            try await db.transaction { tx in
                try await tx.query("INSERT INTO \(table) VALUES (1, 'rolled back')")
                throw Abort()
            }
        }
        try await db.transaction(isolation: .repeatableRead) { tx in
            try await tx.query("INSERT INTO \(table) VALUES (2, 'committed')")
        }
        let bodies = try await db.query("SELECT body FROM \(table)").rows.map { $0[0] }
        #expect(bodies == ["committed"])
    }

    @Test("server errors carry their SQLSTATE", arguments: [
        ("SELEC 1", SQLState.syntaxError),
        ("SELECT * FROM no_such_table_anywhere", SQLState.undefinedTable),
        ("SELECT 'abc'::int", SQLState.invalidTextRepresentation),
        ("SELECT no_such_column FROM pg_class", SQLState.undefinedColumn),
    ])
    func sqlStates(sql: String, state: SQLState) async throws {
        let db = try await TestDatabase.connect()
        let error = try await #require(throws: PostgresError.self) { try await db.query(sql) }
        #expect(error.kind == .server)
        #expect(error.sqlState == state)
        #expect(!error.isTransient)
        // The connection stays usable after a statement error.
        #expect(try await db.query("SELECT 1").scalar(Int.self) == 1)
    }

    @Test("a constraint violation names the constraint and its detail")
    func uniqueViolation() async throws {
        let db = try await TestDatabase.connect()
        let table = try await TestDatabase.table(db)
        try await db.query("INSERT INTO \(table) VALUES (7, 'first')")
        let error = try await #require(throws: PostgresError.self) {
            try await db.query("INSERT INTO \(table) VALUES (7, 'second')")
        }
        #expect(error.sqlState == .uniqueViolation)
        #expect(error.detail?.contains("(id)=(7)") == true)
        // Logs get the description: the constraint, never the row's values.
        #expect(error.description.contains("unique constraint") && !error.description.contains("(7)"), "\(error)")
        #expect(error.debugDescription.contains("(id)=(7)"), "\(error.debugDescription)")
    }

    @Test("a refused value stays out of the loggable description, whose message quotes it; the debug description keeps it")
    func refusedValue() async throws {
        let db = try await TestDatabase.connect()
        let error = try await #require(throws: PostgresError.self) {
            try await db.query("SELECT $1::integer", ["card-4111-1111"])
        }
        #expect(error.sqlState == .invalidTextRepresentation)
        #expect(error.message.contains("card-4111-1111"), "the server quotes it: \(error.message)")
        #expect(!error.description.contains("card-4111"), "\(error)")
        #expect(error.description.contains("22P02") && error.description.contains("SELECT $1::integer"), "\(error)")
        #expect(error.debugDescription.contains("card-4111-1111"))
        // A function's own message (RAISE) may hold anything: left out too.
        try await db.query("CREATE FUNCTION pg_temp.refuse(account text) RETURNS integer AS $$ BEGIN RAISE EXCEPTION 'balance of %: 1234', account; END $$ LANGUAGE plpgsql")
        let raised = try await #require(throws: PostgresError.self) {
            try await db.query("SELECT pg_temp.refuse($1)", ["acct-9"])
        }
        #expect(raised.sqlState?.errorClass == "P0" && !raised.description.contains("acct-9"), "\(raised)")
    }

    @Test("nested transactions are refused instead of silently flattened")
    func nested() async throws {
        let db = try await TestDatabase.connect()
        let error = try await #require(throws: PostgresError.self) {
            try await db.transaction { tx in
                try await tx.transaction { _ in }
            }
        }
        #expect(error.kind == .client)
        #expect(try await db.query("SELECT 1").scalar(Int.self) == 1)
    }
}

import PumphousePostgres
import PumphouseTestSupport
import Testing

@Suite("PostgreSQL COPY and pipelines against the local server", .localStack, .removingWhatItMakes, .timeLimit(.minutes(2)))
struct PostgresBulkTests {
    @Test("COPY loads 100k rows, with tabs, newlines, backslashes and NULLs intact")
    func copy100k() async throws {
        let db = try await TestDatabase.connect()
        let table = try await TestDatabase.table(db)
        let special: [String?] = ["tab\there", "line\nbreak\r\n", "back\\slash\\N", "\\N", nil, "", "quote ' \" ; DROP", "✓ ünïcødé"]
        var rows: [[String?]] = []
        rows.reserveCapacity(100_000)
        for id in 0..<100_000 {
            rows.append([String(id), id < special.count ? special[id] : "row \(id)"])
        }
        let loaded = try await db.copyIn("COPY \(table) (id, body) FROM STDIN", rows: rows)
        #expect(loaded == 100_000)
        #expect(try await db.query("SELECT count(*) FROM \(table)").scalar(Int.self) == 100_000)
        let stored = try await db.query("SELECT body FROM \(table) WHERE id < $1 ORDER BY id", [special.count]).rows.map { $0[0] }
        #expect(stored == special)
    }

    @Test("a COPY that violates a constraint fails with SQLSTATE and loads nothing")
    func copyFailure() async throws {
        let db = try await TestDatabase.connect()
        let table = try await TestDatabase.table(db)
        let error = try await #require(throws: PostgresError.self) {
            try await db.copyIn("COPY \(table) (id, body) FROM STDIN", rows: [["1", "a"], ["1", "duplicate"]])
        }
        #expect(error.sqlState == .uniqueViolation)
        #expect(try await db.query("SELECT count(*) FROM \(table)").scalar(Int.self) == 0)
        #expect(try await db.query("SELECT 1").scalar(Int.self) == 1)
    }

    @Test("a pipeline runs many statements in one round trip and returns each result")
    func pipeline() async throws {
        let db = try await TestDatabase.connect()
        let table = try await TestDatabase.table(db)
        let statements = (0..<5_000).map { PostgresStatement("INSERT INTO \(table) VALUES ($1, $2)", [$0, "p\($0)"]) }
        let results = try await db.transaction { tx in try await tx.pipeline(statements) }
        #expect(results.count == 5_000)
        #expect(results.allSatisfy { $0.affectedRows == 1 })
        let read = try await db.pipeline([PostgresStatement("SELECT count(*) FROM \(table)"), PostgresStatement("SELECT body FROM \(table) WHERE id = $1", [4_999])])
        #expect(try read[0].scalar(Int.self) == 5_000)
        #expect(try read[1].scalar(String.self) == "p4999")
    }

    @Test("a failing statement in a pipeline inside a transaction leaves no effect")
    func pipelineFailure() async throws {
        let db = try await TestDatabase.connect()
        let table = try await TestDatabase.table(db)
        let statements = [
            PostgresStatement("INSERT INTO \(table) VALUES (1, 'a')"),
            PostgresStatement("INSERT INTO \(table) VALUES (1, 'duplicate')"),
            PostgresStatement("INSERT INTO \(table) VALUES (2, 'b')"),
        ]
        let error = try await #require(throws: PostgresError.self) {
            try await db.transaction { tx in try await tx.pipeline(statements) }
        }
        #expect(error.sqlState == .uniqueViolation)
        #expect(error.operation.contains("statement 1"))
        #expect(try await db.query("SELECT count(*) FROM \(table)").scalar(Int.self) == 0)
    }
}

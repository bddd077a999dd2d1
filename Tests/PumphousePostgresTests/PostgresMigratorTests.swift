import Foundation
import PumphousePostgres
import PumphouseTestSupport
import Testing

@Suite("PostgreSQL migrations against the local server", .localStack, .removingWhatItMakes, .timeLimit(.minutes(1)))
struct PostgresMigratorTests {
    /// Migrations that create tables with a per-test prefix, so tests can share a database.
    static func migrations(_ prefix: String, count: Int = 3) -> [PostgresMigrator.Migration] {
        (1...count).map { version in
            PostgresMigrator.Migration(version: version, name: String(format: "%04d_step", version), sql: "CREATE TABLE \(prefix)_t\(version) (id int PRIMARY KEY);")
        }
    }

    @Test("pending migrations apply once, in order, even with concurrent migrators")
    func concurrent() async throws {
        let prefix = TestStack.uniqueName("m")
        let migrator = PostgresMigrator(migrations: Self.migrations(prefix), table: "\(prefix)_migrations")
        let reports = try await withThrowingTaskGroup(of: PostgresMigrator.Report.self) { group in
            for _ in 0..<3 {
                group.addTask { try await migrator.run(on: try await TestDatabase.connect(), logger: TestDatabase.logger) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(reports.map(\.applied.count).sorted() == [0, 0, 3])
        let db = try await TestDatabase.connect()
        let versions = try await db.query("SELECT version FROM \(prefix)_migrations ORDER BY version").rows.map { $0[0] }
        #expect(versions == ["1", "2", "3"])
        let again = try await migrator.run(on: db, logger: TestDatabase.logger)
        #expect(again.applied.isEmpty && again.alreadyApplied.count == 3)
    }

    @Test("an applied migration that was edited stops the run")
    func edited() async throws {
        let prefix = TestStack.uniqueName("m")
        let db = try await TestDatabase.connect()
        var migrations = Self.migrations(prefix, count: 2)
        try await PostgresMigrator(migrations: migrations, table: "\(prefix)_migrations").run(on: db, logger: TestDatabase.logger)
        migrations[0] = .init(version: 1, name: migrations[0].name, sql: migrations[0].sql + " -- edited")
        let error = try await #require(throws: PostgresError.self) {
            try await PostgresMigrator(migrations: migrations, table: "\(prefix)_migrations").run(on: db, logger: TestDatabase.logger)
        }
        #expect(error.message.contains("0001_step.sql was edited after it was applied"))
    }

    @Test("an applied migration the code base does not have stops the run")
    func unknownApplied() async throws {
        let prefix = TestStack.uniqueName("m")
        let db = try await TestDatabase.connect()
        try await PostgresMigrator(migrations: Self.migrations(prefix, count: 3), table: "\(prefix)_migrations").run(on: db, logger: TestDatabase.logger)
        let error = try await #require(throws: PostgresError.self) {
            try await PostgresMigrator(migrations: Self.migrations(prefix, count: 2), table: "\(prefix)_migrations").run(on: db, logger: TestDatabase.logger)
        }
        #expect(error.message.contains("0003_step"))
    }

    @Test("a failing migration is rolled back and named with its SQLSTATE; the ones before it stay")
    func failing() async throws {
        let prefix = TestStack.uniqueName("m")
        let db = try await TestDatabase.connect()
        var migrations = Self.migrations(prefix, count: 1)
        migrations.append(.init(version: 2, name: "0002_broken", sql: "CREATE TABLE \(prefix)_half (id int); SELEC 1;"))
        let error = try await #require(throws: PostgresError.self) {
            try await PostgresMigrator(migrations: migrations, table: "\(prefix)_migrations").run(on: db, logger: TestDatabase.logger)
        }
        #expect(error.sqlState == .syntaxError)
        #expect(error.operation.contains("0002_broken.sql"))
        #expect(try await db.query("SELECT to_regclass($1) IS NULL", ["\(prefix)_half"]).scalar(Bool.self) == true)
        #expect(try await db.query("SELECT count(*) FROM \(prefix)_migrations").scalar(Int.self) == 1)
        // The lock was released: another run proceeds (and fails the same way) without waiting.
        await #expect(throws: PostgresError.self) {
            try await PostgresMigrator(migrations: migrations, table: "\(prefix)_migrations").run(on: db, logger: TestDatabase.logger)
        }
    }

    @Test("a directory with a misnamed file or a duplicate version is refused", arguments: [
        ["0001_a.sql", "2_b.sql"], ["0001_a.sql", "0001_b.sql"], ["0001_a.sql", "notes.txt"],
    ])
    func directory(files: [String]) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString).path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for file in files { try "SELECT 1;".write(toFile: "\(dir)/\(file)", atomically: true, encoding: .utf8) }
        #expect(throws: PostgresError.self) { try PostgresMigrator(directory: dir) }
    }

    @Test("the bookkeeping table name must be a plain identifier")
    func tableName() async throws {
        let error = try await #require(throws: PostgresError.self) {
            try await PostgresMigrator(migrations: [], table: "x; DROP TABLE y").run(on: try await TestDatabase.connect(), logger: TestDatabase.logger)
        }
        #expect(error.kind == .client)
    }
}

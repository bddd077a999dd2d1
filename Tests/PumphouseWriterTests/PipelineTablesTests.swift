import Foundation
import Logging
import PumphousePipeline
import PumphousePostgres
import PumphouseTestSupport
import Testing

/// `PipelineConfiguration.migrate` gives a database Pumphouse's own tables and then the
/// project's, in a database of its own per test (these tables have fixed names).
@Suite("Pumphouse's own tables against the local PostgreSQL", .localStack, .removingWhatItMakes, .timeLimit(.minutes(2)))
struct PipelineTablesTests {
    static let logger = TestStack.logger("pumphouse.tests.pipeline-tables")

    /// Creates an empty database and a pipeline whose migrations directory holds `files`.
    static func fixture(_ files: [String: String]) async throws -> (pipeline: PipelineConfiguration, url: String, drop: @Sendable () async throws -> Void) {
        let name = TestStack.uniqueName("pt")
        let admin = try await PostgresConnection.connect(configuration: PostgresConfiguration(url: TestStack.postgresURL), logger: logger)
        try await admin.execute(script: "CREATE DATABASE \(name)")
        await admin.close()
        var components = try #require(URLComponents(string: TestStack.postgresURL))
        components.path = "/\(name)"
        let url = try #require(components.string)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(name).path
        try FileManager.default.createDirectory(atPath: "\(directory)/migrations", withIntermediateDirectories: true)
        for (file, sql) in files { try sql.write(toFile: "\(directory)/migrations/\(file)", atomically: true, encoding: .utf8) }
        try """
            kafka: { brokers: 127.0.0.1:1 }
            postgres: { url: "\(url)" }
            schemas: \(PumphouseProcess.repository)/Schemas
            migrations: migrations
            caches: {}
            """.write(toFile: "\(directory)/pipeline.yaml", atomically: true, encoding: .utf8)
        let pipeline = try PipelineConfiguration.load(path: "\(directory)/pipeline.yaml", environment: [:])
        return (pipeline, url, {
            try? FileManager.default.removeItem(atPath: directory)
            let admin = try await PostgresConnection.connect(configuration: PostgresConfiguration(url: TestStack.postgresURL), logger: logger)
            try await admin.execute(script: "DROP DATABASE \(name) WITH (FORCE)")
            await admin.close()
        })
    }

    static func columns(_ db: PostgresConnection) async throws -> [String] {
        try await db.query("""
            SELECT table_name || '.' || column_name FROM information_schema.columns
            WHERE table_schema = 'public' AND table_name LIKE 'pumphouse\\_%' AND table_name NOT LIKE '%migrations'
            ORDER BY 1
            """).rows.map { $0[0]! }
    }

    @Test("an empty database gets Pumphouse's tables, then the project's own; a second run applies nothing")
    func emptyDatabase() async throws {
        let (pipeline, url, drop) = try await Self.fixture(["0001_items.sql": "CREATE TABLE items (id text PRIMARY KEY);"])
        let db = try await PostgresConnection.connect(configuration: PostgresConfiguration(url: url), logger: Self.logger)
        let first = try await pipeline.migrate(on: db, logger: Self.logger)
        #expect(first.applied == PipelineTables.migrations.map(\.name) + ["0001_items"])
        let columns = try await Self.columns(db)
        for expected in ["pumphouse_writer_offsets.ownership_term", "pumphouse_writer_offsets.partition_owner", "pumphouse_writer_origins.max_seq", "pumphouse_writer_sequence_gaps.next_present"] {
            #expect(columns.contains(expected), "\(columns)")
        }
        // Created by an earlier migration, dropped by a later one: loads are claimed on the log.
        #expect(!columns.contains { $0.hasPrefix("pumphouse_cache_loads.") }, "\(columns)")
        #expect(try await db.query("SELECT count(*) FROM items").scalar(Int.self) == 0)
        let second = try await pipeline.migrate(on: db, logger: Self.logger)
        #expect(second.applied.isEmpty && second.alreadyApplied.count == first.applied.count)
        await db.close()
        try await drop()
    }

    /// A database an earlier release migrated from Pumphouse's own numbered files: the
    /// tables exist, and `pumphouse_migrations` records versions 2, 3 and 5 under the
    /// files' names, which the directory no longer has.
    @Test("a database migrated from the retired files is accepted as it is; their numbers stay taken")
    func retiredFiles() async throws {
        let (pipeline, url, drop) = try await Self.fixture(["0001_items.sql": "CREATE TABLE items (id text PRIMARY KEY);"])
        let db = try await PostgresConnection.connect(configuration: PostgresConfiguration(url: url), logger: Self.logger)
        let earlier = PipelineTables.migrations.map(\.sql).joined(separator: "\n")
        try await db.execute(script: earlier + """
            CREATE TABLE pumphouse_migrations (version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
            INSERT INTO pumphouse_migrations (version, name, checksum) VALUES
                (2, '0002_pumphouse_writer_state', 'a'), (3, '0003_pumphouse_cache_loads', 'b'), (5, '0005_pumphouse_partition_ownership', 'c');
            INSERT INTO pumphouse_writer_offsets (writer, topic, partition, next_offset, epoch, owner, ownership_term) VALUES ('w', 't', 0, 42, 1, 'm', 3);
            """)
        let report = try await pipeline.migrate(on: db, logger: Self.logger)
        #expect(report.applied == PipelineTables.migrations.map(\.name) + ["0001_items"])
        #expect(try await db.query("SELECT next_offset FROM pumphouse_writer_offsets WHERE ownership_term = 3").scalar(Int.self) == 42)

        // A project file taking a retired number is refused by name, before it runs.
        try "CREATE TABLE other (id int);".write(toFile: "\(pipeline.migrationsDirectory)/0003_other.sql", atomically: true, encoding: .utf8)
        let error = try await #require(throws: PostgresError.self) { try await pipeline.migrate(on: db, logger: Self.logger) }
        #expect(error.message.contains("0003_other.sql has version 3") && error.message.contains("0003_pumphouse_cache_loads"), "\(error.message)")
        #expect(try await db.query("SELECT to_regclass('other') IS NULL").scalar(Bool.self) == true)

        // A version recorded under another name than the retired file's is still unknown.
        try FileManager.default.removeItem(atPath: "\(pipeline.migrationsDirectory)/0003_other.sql")
        try await db.execute(script: "UPDATE pumphouse_migrations SET name = '0005_something_else' WHERE version = 5")
        let unknown = try await #require(throws: PostgresError.self) { try await pipeline.migrate(on: db, logger: Self.logger) }
        #expect(unknown.message.contains("0005_something_else"), "\(unknown.message)")
        await db.close()
        try await drop()
    }
}

import Foundation
import Logging

/// Applies numbered SQL files (`0001_name.sql`, `0002_other.sql`, ...) in order, each in
/// its own transaction, under an advisory lock so that concurrent starters apply each
/// migration once. Applied migrations are recorded with a SHA-256 checksum; a file edited
/// after it was applied, or an applied migration this code base does not have, stops the
/// run instead of silently diverging.
public struct PostgresMigrator: Sendable {
    public struct Migration: Sendable, Hashable {
        public let version: Int
        /// The file name without `.sql`, e.g. `0002_add_orders`.
        public let name: String
        public let sql: String

        public init(version: Int, name: String, sql: String) {
            self.version = version
            self.name = name
            self.sql = sql
        }
    }

    /// What a run did.
    public struct Report: Sendable, Hashable {
        public var applied: [String] = []
        public var alreadyApplied: [String] = []
    }

    public let migrations: [Migration]
    /// Versions an earlier release applied from files whose effect now comes from
    /// elsewhere (Pumphouse's own tables, once numbered files beside the user's): a
    /// database that recorded one under this name is not ahead of this code base.
    public var retired: [Int: String] = [:]
    /// How long to wait for another migrator holding the lock.
    public var lockTimeout: Duration = .seconds(60)
    /// Where applied migrations are recorded (optionally schema-qualified).
    public let table: String
    let lockKey: PostgresAdvisoryLockKey

    public init(migrations: [Migration], table: String = "pumphouse_migrations") {
        self.migrations = migrations.sorted { $0.version < $1.version }
        self.table = table
        self.lockKey = PostgresAdvisoryLockKey(name: "pumphouse.migrations:\(table)")
    }

    /// Reads `NNNN_name.sql` files; anything else in the directory is an error, so a
    /// misnamed migration is never skipped.
    public init(directory: String, table: String = "pumphouse_migrations") throws(PostgresError) {
        let operation = "read migrations in \(directory)"
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            throw PostgresError(kind: .client, message: "cannot read the migrations directory \(directory)", operation: operation)
        }
        var migrations: [Migration] = []
        var seen: [Int: String] = [:]
        for entry in entries.sorted() where !entry.hasPrefix(".") && entry != "README.md" {
            let parts = entry.split(separator: "_", maxSplits: 1)
            guard entry.hasSuffix(".sql"), parts.count == 2, let version = Int(parts[0]), version > 0, parts[0].count >= 4 else {
                throw PostgresError(kind: .client, message: "\(entry) is not a migration name; use NNNN_description.sql (e.g. 0003_add_orders.sql)", operation: operation)
            }
            if let other = seen[version] {
                throw PostgresError(kind: .client, message: "\(entry) and \(other) share version \(version)", operation: operation)
            }
            seen[version] = entry
            guard let sql = try? String(contentsOfFile: "\(directory)/\(entry)", encoding: .utf8) else {
                throw PostgresError(kind: .client, message: "cannot read \(entry) as UTF-8 text", operation: operation)
            }
            migrations.append(Migration(version: version, name: String(entry.dropLast(4)), sql: sql))
        }
        self.init(migrations: migrations, table: table)
    }

    /// Applies what is pending. Safe to run from several processes at once.
    @discardableResult
    public func run(on connection: PostgresConnection, logger: Logger) async throws -> Report {
        guard Self.isPlainIdentifier(table) else {
            throw PostgresError(kind: .client, message: "migrations table \"\(table)\" must be a plain identifier (letters, digits, _; optionally schema.table)", operation: "migrate")
        }
        try await connection.advisoryLock(lockKey, timeout: lockTimeout)
        do {
            let report = try await applyPending(on: connection, logger: logger)
            try await connection.advisoryUnlock(lockKey)
            return report
        } catch {
            _ = try? await connection.advisoryUnlock(lockKey)
            throw error
        }
    }

    /// Whether `name` can name a record table unquoted (lowercase letters, digits, `_`;
    /// optionally `schema.table`): it is spliced into SQL, never a parameter.
    public static func isPlainIdentifier(_ name: String) -> Bool {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        return (1...2).contains(parts.count) && parts.allSatisfy { part in
            guard let first = part.unicodeScalars.first, first == "_" || ("a"..."z").contains(first) else { return false }
            return part.unicodeScalars.allSatisfy { $0 == "_" || ("a"..."z").contains($0) || ("0"..."9").contains($0) }
        }
    }

    private func applyPending(on connection: PostgresConnection, logger: Logger) async throws -> Report {
        try await connection.execute(script: """
            CREATE TABLE IF NOT EXISTS \(table) (
                version integer PRIMARY KEY,
                name text NOT NULL,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """)
        let applied = try await connection.query("SELECT version, name, checksum FROM \(table) ORDER BY version").namedRows
        var appliedChecksums: [Int: (name: String, checksum: String)] = [:]
        for row in applied {
            appliedChecksums[try row.decode(Int.self, "version")] = (try row.decode(String.self, "name"), try row.decode(String.self, "checksum"))
        }
        let known = Set(migrations.map(\.version))
        // A recorded retired migration, by the name it was recorded under (bytes).
        let isRetired = { (version: Int) -> Bool in
            guard let name = retired[version], let recorded = appliedChecksums[version] else { return false }
            return name.utf8.elementsEqual(recorded.name.utf8)
        }
        if let unknown = appliedChecksums.keys.sorted().first(where: { !known.contains($0) && !isRetired($0) }) {
            throw PostgresError(
                kind: .client,
                message: "the database has migration \(appliedChecksums[unknown]!.name) (version \(unknown)), which this code base does not have; run a version of Pumphouse that includes it",
                operation: "migrate"
            )
        }
        var report = Report()
        for migration in migrations {
            if isRetired(migration.version), !migration.name.utf8.elementsEqual(retired[migration.version]!.utf8) {
                throw PostgresError(
                    kind: .client,
                    message: "\(migration.name).sql has version \(migration.version), which this database recorded for \(retired[migration.version]!), retired since; give it the next free number",
                    operation: "migrate"
                )
            }
            let checksum = try await connection.query("SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex')", [migration.sql]).scalar(String.self) ?? ""
            if let recorded = appliedChecksums[migration.version] {
                guard recorded.checksum == checksum else {
                    throw PostgresError(
                        kind: .client,
                        message: "\(migration.name).sql was edited after it was applied (checksum \(recorded.checksum.prefix(12)) recorded, \(checksum.prefix(12)) now); applied migrations are immutable, add a new one instead",
                        operation: "migrate"
                    )
                }
                report.alreadyApplied.append(migration.name)
                continue
            }
            do {
                try await connection.transaction { tx in
                    try await tx.execute(script: migration.sql)
                    try await tx.query("INSERT INTO \(table) (version, name, checksum) VALUES ($1, $2, $3)", [migration.version, migration.name, checksum])
                }
            } catch let error as PostgresError {
                throw PostgresError(
                    kind: error.kind, sqlState: error.sqlState, message: error.message, detail: error.detail, hint: error.hint,
                    operation: "apply migration \(migration.name).sql (rolled back)"
                )
            }
            logger.info("applied migration \(migration.name)")
            report.applied.append(migration.name)
        }
        return report
    }
}

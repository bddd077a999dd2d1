import Logging
import PumphousePostgres

/// Pumphouse's own bookkeeping tables (writers' offsets and origin ledgers, partition
/// ownership, sequence gaps), which every pipeline's database needs whatever its
/// mapped tables are. They ship in the library, so a project that depends on Pumphouse
/// keeps only its own tables in its migrations directory and cannot drift from what the
/// code it runs expects.
///
/// Each statement is idempotent: databases migrated by earlier releases, which applied
/// the same tables from numbered files in Pumphouse's own `Migrations/`, already have
/// them, and those files' versions are retired so such a database is not refused.
public enum PipelineTables {
    /// Where these migrations are recorded, apart from the project's own.
    public static let recordTable = "pumphouse_pipeline_migrations"

    public static let migrations: [PostgresMigrator.Migration] = [
        .init(version: 1, name: "0001_writer_state", sql: """
            -- The next offset to apply per partition. A member that takes a partition bumps
            -- its epoch; a commit names the epoch it claimed and changes nothing if another
            -- member has claimed the partition since (fencing).
            CREATE TABLE IF NOT EXISTS pumphouse_writer_offsets (
                writer      text        NOT NULL,
                topic       text        NOT NULL,
                partition   integer     NOT NULL,
                next_offset bigint      NOT NULL,
                epoch       bigint      NOT NULL,
                owner       text        NOT NULL,
                updated_at  timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (writer, topic, partition)
            );
            -- The highest sequence number applied per origin and partition: anything at or
            -- below it is a duplicate (a resent spool, a retried publish).
            CREATE TABLE IF NOT EXISTS pumphouse_writer_origins (
                writer    text    NOT NULL,
                topic     text    NOT NULL,
                partition integer NOT NULL,
                origin    text    NOT NULL,
                max_seq   bigint  NOT NULL,
                PRIMARY KEY (writer, topic, partition, origin)
            );
            """),
        .init(version: 2, name: "0002_cache_loads", sql: """
            -- Cold starts of named caches: where the load that won a cache's lock starts on
            -- the reverse-pump topic, for the units that waited on it.
            CREATE TABLE IF NOT EXISTS pumphouse_cache_loads (
                topic         text        NOT NULL,
                generation    bigint      NOT NULL,
                cache         text        NOT NULL,
                request_id    text        NOT NULL,
                reverse_topic text        NOT NULL,
                first_offset  bigint      NOT NULL,
                rows          bigint      NOT NULL,
                loaded_by     text        NOT NULL,
                loaded_at     timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (topic, generation)
            );
            """),
        .init(version: 3, name: "0003_partition_ownership", sql: """
            -- Partitioned caches: the ownership in effect at a writer's next offset, kept
            -- with the offset, so a resumed writer fences a deposed owner's changes as one
            -- that read the whole log would. Not the writer members' fencing `epoch`.
            ALTER TABLE pumphouse_writer_offsets
                ADD COLUMN IF NOT EXISTS ownership_term  bigint NOT NULL DEFAULT 0,
                ADD COLUMN IF NOT EXISTS partition_owner text;
            """),
        .init(version: 4, name: "0004_sequence_gaps", sql: """
            -- The run (incarnation) of each origin's highest sequence, so a resumed writer
            -- still tells a restart's jump from a hole; NULL for origins that carry none.
            ALTER TABLE pumphouse_writer_origins ADD COLUMN IF NOT EXISTS incarnation bigint;
            -- Holes a writer found in an origin's numbering in a partition: the changes
            -- numbered first_missing up to (not including) next_present are not in the log
            -- before found_at_offset. Recorded in the transaction of the batch that found
            -- them, so each is recorded once.
            CREATE TABLE IF NOT EXISTS pumphouse_writer_sequence_gaps (
                writer          text        NOT NULL,
                topic           text        NOT NULL,
                partition       integer     NOT NULL,
                origin          text        NOT NULL,
                incarnation     bigint,
                first_missing   bigint      NOT NULL,
                next_present    bigint      NOT NULL,
                found_at_offset bigint      NOT NULL,
                found_at        timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (writer, topic, partition, origin, first_missing)
            );
            """),
        .init(version: 5, name: "0005_cache_loads_on_the_log", sql: """
            -- Units claim a cold start's load on the cache's reverse-pump topic, whose order
            -- decides who loads, and never touch the database: the table that recorded
            -- loads under an advisory lock is no longer read. Migrate once every unit runs
            -- a release that claims loads on the log.
            DROP TABLE IF EXISTS pumphouse_cache_loads;
            """),
    ]

    /// The numbered files of Pumphouse's own `Migrations/` that created these tables
    /// before they moved here.
    public static let retiredFiles: [Int: String] = [
        2: "0002_pumphouse_writer_state",
        3: "0003_pumphouse_cache_loads",
        5: "0005_pumphouse_partition_ownership",
    ]
}

extension PipelineConfiguration {
    /// Brings the database up to what this pipeline needs: Pumphouse's own tables, then
    /// the pipeline's migrations directory in order. Safe to run from several processes at
    /// once (each migrator holds its own advisory lock).
    @discardableResult
    public func migrate(on connection: PostgresConnection, logger: Logger) async throws -> PostgresMigrator.Report {
        try await migrations().run(on: connection, logger: logger)
    }

    /// The migrations this pipeline needs, read from its directory without touching the
    /// database: a caller that wants a bad directory reported as the operator's mistake,
    /// before it connects, reads it once here and runs what it read.
    public func migrations() throws(PostgresError) -> PipelineMigrations {
        var directory = try PostgresMigrator(directory: migrationsDirectory, table: migrationsTable)
        directory.retired = PipelineTables.retiredFiles
        return PipelineMigrations(directory: directory)
    }
}

/// A pipeline's migrations as read: Pumphouse's own tables, then the pipeline's
/// directory.
public struct PipelineMigrations: Sendable {
    let directory: PostgresMigrator

    /// Applies what is pending, Pumphouse's own tables first.
    public func run(on connection: PostgresConnection, logger: Logger) async throws -> PostgresMigrator.Report {
        var report = try await PostgresMigrator(migrations: PipelineTables.migrations, table: PipelineTables.recordTable).run(on: connection, logger: logger)
        let project = try await directory.run(on: connection, logger: logger)
        report.applied += project.applied
        report.alreadyApplied += project.alreadyApplied
        return report
    }
}

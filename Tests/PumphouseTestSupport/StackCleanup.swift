import Foundation
import Logging
import PumphouseKafka
import PumphousePostgres
import Synchronization
import Testing

/// The names a suite made with `TestStack.uniqueName` while it ran.
final class MadeNames: Sendable {
    @TaskLocal static var current: MadeNames?

    private let names = Mutex<[String]>([])

    func record(_ name: String) {
        names.withLock { $0.append(name) }
    }

    var all: [String] { names.withLock { $0 } }
}

/// Removes what a suite left on the shared broker and database once it ends, pass or
/// fail: every topic, table, view, sequence, schema and database whose name holds one of
/// the names the suite made with `TestStack.uniqueName` (fixtures build their topics and
/// tables from those). Shared things (`pumphouse.reads`, Pumphouse's own tables) hold
/// no such name and stay. A removal that fails is reported on standard error, never as
/// the suite's failure: it says nothing about the code under test.
public struct StackCleanup: SuiteTrait, TestTrait, TestScoping {
    public var isRecursive: Bool { false }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        // A test inside a suite that already collects adds to the suite's names.
        guard MadeNames.current == nil, TestStack.isAvailable else { return try await function() }
        let made = MadeNames()
        do {
            try await MadeNames.$current.withValue(made) { try await function() }
        } catch {
            await Self.remove(made.all, after: test.name)
            throw error
        }
        await Self.remove(made.all, after: test.name)
    }

    private static let logger = TestStack.logger("pumphouse.tests.cleanup")

    static func remove(_ names: [String], after suite: String) async {
        guard !names.isEmpty else { return }
        func holdsMadeName(_ text: String) -> Bool {
            let bytes = Array(text.utf8)
            return names.contains { bytes.firstRange(of: Array($0.utf8)) != nil }
        }
        do {
            let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(connection: KafkaConnectionConfiguration(brokers: TestStack.kafkaBrokers)), logger: logger)
            try await admin.deleteTopics(try await admin.listTopics().map(\.name).filter(holdsMadeName))
        } catch {
            report("topics", of: suite, error)
        }
        let db: PostgresConnection
        do {
            db = try await PostgresConnection.connect(configuration: PostgresConfiguration(url: TestStack.postgresURL), logger: logger)
        } catch {
            return report("tables", of: suite, error)
        }
        do {
            for name in names {
                // Quoted by the server (%I); DROP DATABASE refuses a transaction, so one
                // statement at a time.
                let drops = try await db.query("""
                    SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', datname) FROM pg_database WHERE strpos(datname, $1) > 0
                    UNION ALL
                    SELECT format('DROP SCHEMA IF EXISTS %I CASCADE', nspname) FROM pg_namespace WHERE strpos(nspname, $1) > 0
                    UNION ALL
                    SELECT format('DROP %s IF EXISTS %I.%I CASCADE',
                                  CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
                                  n.nspname, c.relname)
                    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S') AND strpos(c.relname, $1) > 0 AND strpos(n.nspname, $1) = 0
                      AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
                    """, [name]).rows.compactMap { $0.first ?? nil }
                for drop in drops { try await db.execute(script: drop) }
            }
        } catch {
            report("tables", of: suite, error)
        }
        await db.close()
    }

    private static func report(_ what: String, of suite: String, _ error: any Error) {
        FileHandle.standardError.write(Data("test cleanup: could not remove the \(what) of \"\(suite)\": \(error)\n".utf8))
    }
}

extension Trait where Self == StackCleanup {
    /// Removes the suite's topics and tables from the shared stack when it ends.
    public static var removingWhatItMakes: Self { StackCleanup() }
}

import Foundation
import Logging
import PumphouseKafka
import PumphousePostgres
import Synchronization
import Testing

/// The names a suite drew from `TestStack.uniqueName`: the prefixes of every topic,
/// table and writer it made on the shared stack.
public final class StackNames: Sendable {
    private let names = Mutex<[String]>([])

    func record(_ name: String) { names.withLock { $0.append(name) } }

    var all: [String] { names.withLock { $0 } }
}

extension TestStack {
    /// Set for the length of a suite marked `.removingItsResources`.
    @TaskLocal public static var names: StackNames?
}

/// Removes, once the suite (or test) ends, every topic, table and writer bookkeeping
/// row whose name starts with a name it drew from `TestStack.uniqueName`, so test runs
/// do not pile their leftovers up in a long-lived stack. Names compare by bytes. A
/// failure to remove is reported on standard error and fails nothing: the suite's
/// verdict is about the code under test.
public struct StackCleanup: SuiteTrait, TestTrait, TestScoping {
    public var isRecursive: Bool { false }

    public func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        guard TestStack.isAvailable else { return try await function() }
        let names = StackNames()
        do {
            try await TestStack.$names.withValue(names) { try await function() }
        } catch {
            await Self.remove(names.all, after: test)
            throw error
        }
        await Self.remove(names.all, after: test)
    }

    static func remove(_ names: [String], after test: Test) async {
        guard !names.isEmpty else { return }
        let logger = Logger(label: "pumphouse.tests.cleanup", factory: { _ in SwiftLogNoOpLogHandler() })
        func starts(_ text: String) -> Bool { names.contains { text.utf8.starts(with: $0.utf8) } }
        do {
            let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(connection: KafkaConnectionConfiguration(bootstrapServers: TestStack.kafkaBrokers.split(separator: ",").map(String.init))), logger: logger)
            try await admin.deleteTopics(try await admin.listTopics().map(\.name).filter(starts))
        } catch {
            FileHandle.standardError.write(Data("cleanup after \(test.name): topics not removed: \(error)\n".utf8))
        }
        do {
            let db = try await PostgresConnection.connect(configuration: PostgresConfiguration(url: TestStack.postgresURL), logger: logger)
            do {
                try await dropTables(startingWith: names, matching: starts, db)
                await db.close()
            } catch {
                await db.close()
                throw error
            }
        } catch {
            FileHandle.standardError.write(Data("cleanup after \(test.name): tables not removed: \(error)\n".utf8))
        }
    }
}

extension StackCleanup {
    static func dropTables(startingWith names: [String], matching starts: (String) -> Bool, _ db: PostgresConnection) async throws {
        let tables = try await db.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").rows.compactMap { $0[0] }
        for table in tables where starts(table) {
            try await db.execute(script: "DROP TABLE IF EXISTS \"\(table)\" CASCADE")
        }
        // Writers' offsets and ledgers, and cache loads, are keyed by writer and topic names.
        guard try await db.query("SELECT to_regclass('pumphouse_writer_offsets') IS NOT NULL").scalar(Bool.self) == true else { return }
        for name in names {
            try await db.query("DELETE FROM pumphouse_writer_offsets WHERE left(writer, length($1)) = $1 OR left(topic, length($1)) = $1", [name])
            try await db.query("DELETE FROM pumphouse_writer_origins WHERE left(writer, length($1)) = $1 OR left(topic, length($1)) = $1", [name])
            try await db.query("DELETE FROM pumphouse_cache_loads WHERE left(topic, length($1)) = $1", [name])
        }
    }
}

extension Trait where Self == StackCleanup {
    /// Removes what the suite made on the shared stack once it ends (`StackCleanup`).
    public static var removingItsResources: Self { StackCleanup() }
}

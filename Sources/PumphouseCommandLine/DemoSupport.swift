import Foundation
import Logging
import PumphousePipeline
import PumphousePostgres

/// What the samples' demos share besides their processes.
package enum DemoSupport {
    /// Empties a sample's `tables` and what the writers and units kept of earlier runs'
    /// `topics` (`make demo` empties the in-memory broker, and offsets beyond a topic's
    /// end would leave the units loading).
    package static func forget(tables: [String], topics: [String], configuration: PipelineConfiguration, logger: Logger) async throws {
        let db = try await PostgresConnection.connect(configuration: configuration.postgres, logger: logger)
        do {
            try await db.transaction { tx in
                try await tx.query("TRUNCATE \(tables.joined(separator: ", "))")
                try await tx.query("DELETE FROM pumphouse_writer_offsets WHERE topic = ANY($1)", [topics])
                try await tx.query("DELETE FROM pumphouse_writer_origins WHERE topic = ANY($1)", [topics])
            }
        } catch {
            await db.close()
            throw DemoFailure("emptying \(tables.joined(separator: ", ")) failed (is the database migrated? `pumphouse migrate`): \(error)")
        }
        await db.close()
    }

    /// Polls `probe` (every 100 ms) until it gives a value, for at most `timeout`.
    package static func until<T>(_ what: String, timeout: Duration, _ probe: () async throws -> T?) async throws -> T {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let value = try await probe() { return value }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw DemoFailure("timed out after \(Int(timeout / .seconds(1))) s waiting for \(what)")
    }

    /// A progress line on standard error, `<demo>: <text>`.
    package static func step(_ demo: String, _ text: String) {
        FileHandle.standardError.write(Data("\(demo): \(text)\n".utf8))
    }
}

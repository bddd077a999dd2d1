import Logging
import Synchronization

/// A connection a service checked (its tables, its mappings) before it started, kept
/// until the service's `run` takes it: the start-up check and `run` share one connection
/// and one check, and a `run` nobody checked for connects and checks by itself.
package final class CheckedConnection<Checked: Sendable>: Sendable {
    private let kept = Mutex<(db: PostgresConnection, checked: Checked)?>(nil)

    package init() {}

    /// Keeps `db` and what its check found, closing one kept before.
    package func keep(_ db: PostgresConnection, _ checked: Checked) async {
        let replaced = kept.withLock { kept in
            defer { kept = (db, checked) }
            return kept?.db
        }
        await replaced?.close()
    }

    /// The kept connection, or a new one that `check` accepted (closed if it throws).
    package func take(
        connecting configuration: PostgresConfiguration, logger: Logger, check: (PostgresConnection) async throws -> Checked
    ) async throws -> (db: PostgresConnection, checked: Checked) {
        if let ready = kept.withLock({ $0.take() }) { return ready }
        let db = try await PostgresConnection.connect(configuration: configuration, logger: logger)
        do {
            return (db, try await check(db))
        } catch {
            await db.close()
            throw error
        }
    }
}

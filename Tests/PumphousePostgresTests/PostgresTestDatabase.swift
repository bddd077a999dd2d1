import Logging
import PumphousePostgres
import PumphouseTestSupport

/// Connections to the local stack's PostgreSQL, with a fresh table name per test.
enum TestDatabase {
    static let logger = TestStack.logger("pumphouse.tests.postgres")

    static func connect(logger: Logger = logger) async throws -> PostgresConnection {
        try await PostgresConnection.connect(configuration: PostgresConfiguration(url: TestStack.postgresURL), logger: logger)
    }

    /// Creates a table `name (id bigint primary key, body text)` and returns its name.
    static func table(_ connection: PostgresConnection) async throws -> String {
        let name = TestStack.uniqueName("t")
        try await connection.execute(script: "CREATE TABLE \(name) (id bigint PRIMARY KEY, body text)")
        return name
    }
}

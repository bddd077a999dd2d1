import ArgumentParser
import Logging
import PumphouseCommandLine
import PumphouseKafka
import PumphousePostgres

/// Answers "can this machine reach the broker and the database?" before anything runs,
/// with each failure named and bounded by a timeout.
struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check that the Kafka cluster and PostgreSQL answer, within a timeout."
    )

    @Option(help: "Comma-separated broker list (default: $PUMPHOUSE_KAFKA_BROKERS).")
    var kafkaBrokers: String?

    @Option(help: "PostgreSQL URL (default: $PUMPHOUSE_POSTGRES_URL).")
    var postgresURL: String?

    @Option(help: "Seconds to wait for each service.")
    var timeout: Int = 10

    func validate() throws {
        guard (1...86_400).contains(timeout) else { throw ValidationError("--timeout must be from 1 to 86400 seconds, not \(timeout)") }
    }

    func run() async throws {
        let logger = Logger(label: "pumphouse.check")
        var failures = 0
        let environment = ProcessEnvironment()

        if let brokers = kafkaBrokers ?? environment["PUMPHOUSE_KAFKA_BROKERS"] {
            do {
                var configuration = KafkaAdminConfiguration(connection: .init(brokers: brokers, clientID: "pumphouse-check"))
                configuration.requestTimeout = .seconds(timeout)
                let topics = try await KafkaAdmin(configuration: configuration, logger: logger).listTopics()
                print("kafka     ok    \(brokers) (\(topics.count) topics, librdkafka \(Librdkafka.runtimeVersion))")
            } catch {
                print("kafka     FAIL  \(error)")
                failures += 1
            }
        } else {
            print("kafka     FAIL  no broker list: pass --kafka-brokers or set PUMPHOUSE_KAFKA_BROKERS")
            failures += 1
        }

        if let url = postgresURL ?? environment["PUMPHOUSE_POSTGRES_URL"] {
            var configuration = PostgresConfiguration(url: url)
            configuration.connectTimeout = .seconds(timeout)
            do {
                let connection = try await PostgresConnection.connect(configuration: configuration, logger: logger)
                let version = try await connection.query("SHOW server_version").scalar(String.self) ?? "?"
                await connection.close()
                print("postgres  ok    \(configuration.redactedURL) (server \(version), libpq \(PostgresConnection.libpqVersion))")
            } catch {
                print("postgres  FAIL  \(error)")
                failures += 1
            }
        } else {
            print("postgres  FAIL  no URL: pass --postgres-url or set PUMPHOUSE_POSTGRES_URL")
            failures += 1
        }

        if failures > 0 { throw ExitCode(1) }
    }
}

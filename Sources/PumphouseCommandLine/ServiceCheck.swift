import Logging
import PumphouseKafka
import PumphousePipeline
import PumphousePostgres

/// A service a command needs did not answer or refused it: one line on stderr and exit 1
/// (the call was right, the world was not), naming the setting to check.
package struct ServiceUnreachable: Error, CustomStringConvertible {
    package let description: String

    package init(description: String) {
        self.description = description
    }

    /// `remedy` is appended for commands that can be given more time.
    package static func kafka(_ kafka: KafkaConnectionConfiguration, file: String, error: any Error, remedy: String = "") -> ServiceUnreachable {
        ServiceUnreachable(description: """
            the Kafka broker(s) \(kafka.bootstrapServers.joined(separator: ",")) did not answer: \(error). \
            Check kafka.brokers in \(file) (or \(PipelineConfiguration.Override.kafkaBrokers)) and that the broker runs; \
            `pumphouse check` tests the connection\(remedy)
            """)
    }

    package static func postgres(_ postgres: PostgresConfiguration, file: String, error: any Error) -> ServiceUnreachable {
        ServiceUnreachable(description: """
            PostgreSQL at \(postgres.redactedURL) refused the connection or did not answer: \(error). \
            Check postgres.url in \(file) (or \(PipelineConfiguration.Override.postgresURL)): the host and port, the user \
            and password, sslmode; and that the server runs; `pumphouse check` tests the connection
            """)
    }
}

extension PipelineOptions {
    /// How long the broker may take to answer the start-up check.
    package static let brokerCheckTimeout = Duration.seconds(10)

    /// Asks the broker for its metadata before a worker starts anything: librdkafka
    /// retries a wrong address forever, so without this a writer or reader would sit
    /// "running" with its endpoints up and never say why it does nothing. The check's own
    /// client logs nothing; the one error says it all.
    /// A property librdkafka refuses (a TLS file that does not exist, an unknown name) is
    /// the file's mistake, reported as a usage error; the producer-only and
    /// consumer-only properties are checked by name and value, since no admin client
    /// receives them.
    package func checkBroker(_ configuration: PipelineConfiguration) async throws {
        var settings = KafkaAdminConfiguration(connection: configuration.kafka)
        settings.requestTimeout = Self.brokerCheckTimeout
        let admin: KafkaAdmin
        do {
            admin = try KafkaAdmin(configuration: settings, logger: Self.quiet)
        } catch {
            throw UsageError("\(config): kafka.properties: \(error.message); fix the property it names")
        }
        for (setting, properties) in [("producer_properties", configuration.kafka.producerProperties), ("consumer_properties", configuration.kafka.consumerProperties)] {
            do {
                try RDKafkaConfig.check(properties, operation: "check kafka.\(setting)")
            } catch {
                throw UsageError("\(config): kafka.\(setting): \(error.message); fix the property it names")
            }
        }
        do {
            _ = try await admin.listTopics()
        } catch {
            throw ServiceUnreachable.kafka(configuration.kafka, file: config, error: error)
        }
    }

    /// Connects to PostgreSQL within `postgres.connect_timeout_seconds`, for commands that
    /// would otherwise fail with libpq's words alone.
    /// A file without `postgres.url` is a usage error naming the setting.
    package func connect(_ configuration: PipelineConfiguration, logger: Logger) async throws -> PostgresConnection {
        let postgres: PostgresConfiguration
        do {
            postgres = try configuration.postgres
        } catch {
            throw UsageError("\(config): \(error.setting): \(error.message)")
        }
        do {
            return try await PostgresConnection.connect(configuration: postgres, logger: logger)
        } catch {
            throw ServiceUnreachable.postgres(postgres, file: config, error: error)
        }
    }

    /// The start-up check of a worker that writes or reads mapped tables: the broker
    /// answers, PostgreSQL answers, and `prepare` accepts the catalog, all before the
    /// worker serves its endpoints or joins its group, so a mistake leaves nothing behind.
    /// `prepare` keeps the connection for the worker when it accepts it.
    package func checkServices(_ configuration: PipelineConfiguration, logger: Logger, prepare: (PostgresConnection) async throws -> Void) async throws {
        try await checkBroker(configuration)
        let db = try await connect(configuration, logger: logger)
        do {
            try await prepare(db)
        } catch {
            await db.close()
            throw error
        }
    }

    private static let quiet: Logger = {
        var logger = Logger(label: "pumphouse.check")
        logger.logLevel = .critical
        return logger
    }()
}

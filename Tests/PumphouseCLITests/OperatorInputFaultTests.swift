import Foundation
import PumphouseKafka
import PumphousePostgres
import PumphouseTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Fault scenario 7: an operator's mistake, in the pipeline file, a flag or the address
/// of a service, stops every command with one error line naming what to fix, exit 2 for
/// the call itself and 1 for a service that does not answer, and nothing left running,
/// bound or written.
///
/// Every case runs the built binary against its own pipeline (topics, tables and ports
/// named after it), one at a time: sixty fixtures migrating and sixty processes starting
/// at once starved the rest of `make test` of PostgreSQL connections and CPU.
@Suite("Operator input faults", .localStack, .removingWhatItMakes, .serialized, .timeLimit(.minutes(10)))
struct OperatorInputFaultTests {
    /// How long any failing command may take: the broker check's 10 s, PostgreSQL's 2 s
    /// connect timeout, and a start-up, with room for a machine busy with other tests.
    static let exitBound = Duration.seconds(45)

    enum Command: String, CaseIterable, Sendable {
        case writer, unit, reader, migrate, topicsCreate = "topics create", replay, status
    }

    enum Fault: String, CaseIterable, Sendable {
        case malformedYAML = "malformed YAML"
        case unknownKey = "unknown key"
        case wrongType = "wrong type"
        case badTopicName = "bad topic name"
        case badPostgresURL = "bad PostgreSQL URL"
        case badBrokerList = "bad broker list"
        case missingTable = "missing table"
        case unreachablePostgres = "unreachable PostgreSQL"
        case unreachableBroker = "unreachable broker"
        case badFlag = "bad flag value"

        /// Found before anything connects: the call is wrong (2), not the world (1).
        var isUsageError: Bool { ![.missingTable, .unreachablePostgres, .unreachableBroker].contains(self) }

        /// The commands the fault can reach. Status's unreachable services and several flag
        /// refusals are covered by StatusCommandSoloTests and CLITests.
        var commands: [Command] {
            switch self {
            case .missingTable: [.writer, .reader]
            case .unreachablePostgres: [.writer, .reader, .migrate, .replay]
            case .unreachableBroker: [.writer, .unit, .reader, .topicsCreate, .replay]
            default: Command.allCases
            }
        }
    }

    struct Case: CustomTestStringConvertible, Sendable {
        let command: Command
        let fault: Fault
        var testDescription: String { "\(command.rawValue): \(fault.rawValue)" }
    }

    static let cases = Fault.allCases.flatMap { fault in fault.commands.map { Case(command: $0, fault: fault) } }

    @Test("one error line naming the setting or flag, exit 2 for the call and 1 for a service, within a bound; nothing bound, joined, written or created", arguments: cases)
    func fault(_ scenario: Case) async throws {
        let writerPort = try FreePort.find(), readerPort = try FreePort.find()
        // Runtime faults need the pipeline's topics and migrations in place, so that the
        // one thing wrong is the fault.
        let fixture = try await StatusFixture(createTopics: !scenario.fault.isUsageError, writerPort: writerPort, readerPort: readerPort)
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        let secret = "pw-\(fixture.name)"
        let spool = "\(fixture.directory)/spool"
        let unitID = "\(fixture.name)-u"

        var environment: [String: String] = [:]
        var expected: [String]
        var arguments: [String] = switch scenario.command {
        case .writer: ["writer", "--config", fixture.config, "--writer", "w"]
        case .unit: ["unit", "--config", fixture.config, "--id", unitID, "--spool-directory", spool]
        case .reader: ["reader", "--config", fixture.config]
        case .migrate: ["migrate", "--config", fixture.config]
        case .topicsCreate: ["topics", "create", "--config", fixture.config]
        case .replay: ["replay", "--config", fixture.config, "--cache", "bench.Account", "--verify-db", "--timeout", "20"]
        case .status: ["status", "--config", fixture.config, "--timeout-s", "20"]
        }
        var text = try String(contentsOfFile: fixture.config, encoding: .utf8)
        func edit(_ old: String, _ new: String) throws {
            try #require(text.contains(old), "the fixture's pipeline file has no \(old)")
            text = text.replacing(old, with: new)
        }
        switch scenario.fault {
        case .malformedYAML:
            try edit("partitions: 2", "partitions: [2")
            expected = [fixture.config, "line"]
        case .unknownKey:
            try edit("load: topic", "load: topic\n    partitons: 2")
            expected = ["caches.bench.Account.partitons", "is not a setting here"]
        case .wrongType:
            try edit("partitions: 2", "partitions: two")
            expected = ["caches.bench.Account.partitions", "must be a whole number"]
        case .badTopicName:
            try edit("topic: \(fixture.topic)", "topic: \"\(fixture.topic) !\"")
            expected = ["caches.bench.Account.topic", "use only letters, digits"]
        case .badPostgresURL:
            environment["PUMPHOUSE_POSTGRES_URL"] = "postgresql://someone:\(secret)@127.0.0.1:5432/db?sslmod=require"
            expected = ["postgres.url", "PUMPHOUSE_POSTGRES_URL", "sslmod"]
        case .badBrokerList:
            environment["PUMPHOUSE_KAFKA_BROKERS"] = "127.0.0.1:19093;127.0.0.1:19092"
            expected = ["kafka.brokers", "PUMPHOUSE_KAFKA_BROKERS", "host:port"]
        case .missingTable:
            try edit("table: \(fixture.name)_account", "table: \(fixture.name)_missing")
            expected = ["\(fixture.name)_missing", "does not exist", "pumphouse migrate"]
        case .unreachablePostgres:
            try edit("postgres: { url: { env: PUMPHOUSE_POSTGRES_URL } }", "postgres: { url: { env: PUMPHOUSE_POSTGRES_URL }, connect_timeout_seconds: 2 }")
            environment["PUMPHOUSE_POSTGRES_URL"] = "postgresql://someone:\(secret)@127.0.0.1:\(try FreePort.find())/db"
            expected = ["PostgreSQL at postgresql://someone:***@127.0.0.1", "refused the connection or did not answer", "postgres.url"]
        case .unreachableBroker:
            environment["PUMPHOUSE_KAFKA_BROKERS"] = "127.0.0.1:\(try FreePort.find())"
            expected = ["did not answer", "kafka.brokers"]
        case .badFlag:
            let (flag, value) = switch scenario.command {
            case .writer: ("--writer", "nope")
            case .unit, .reader: ("--http-port", "70000")
            case .migrate, .topicsCreate: ("--config", "\(fixture.directory)/absent.yaml")
            case .replay: ("--cache", "bench.Nothing")
            case .status: ("--timeout-s", "0")
            }
            if let index = arguments.firstIndex(of: flag) {
                arguments[index + 1] = value
            } else {
                arguments += [flag, value]
            }
            expected = [flag == "--writer" || flag == "--cache" ? value : flag]
        }
        try text.write(toFile: fixture.config, atomically: true, encoding: .utf8)

        let run = try await PumphouseProcess.run(arguments, environment: environment, within: Self.exitBound)
        let transcript = "stdout:\n\(run.output)\nstderr:\n\(run.errors)"
        #expect(run.status == (scenario.fault.isUsageError ? 2 : 1), "\(transcript)")
        let errors = run.errors.split(separator: "\n").filter(Self.isErrorLine)
        #expect(errors.count == 1, "exactly one error line, not \(errors.count): \(transcript)")
        let message = run.errors
        for fragment in expected {
            #expect(message.contains(fragment), "the error names \(fragment): \(transcript)")
        }
        #expect(!message.contains("Fatal error") && !message.contains("Stack dump"), "\(transcript)")
        #expect(!(run.output + run.errors).contains(secret), "\(transcript)")
        #expect(!(run.output + run.errors).contains(fixture.password), "\(transcript)")

        // Nothing half-started. (A port bound by the process is free again once it has
        // exited, so the log line is what shows the endpoints never came up.)
        #expect(!run.errors.contains("serving /metrics"), "\(transcript)")
        #expect(!FileManager.default.fileExists(atPath: spool), "the unit created its spool: \(transcript)")
        if scenario.fault.isUsageError {
            let topics = try await Self.topics(named: fixture.name)
            #expect(topics.isEmpty, "topics were created: \(topics)")
        }
        if !scenario.fault.isUsageError {
            #expect(try await Self.storedOffsets(fixture) == 0, "the writer claimed partitions")
        }
    }

    /// An error report: the command's `error:` line, ArgumentParser's `Error:`, or a log
    /// line at error or critical level (text or JSON).
    static func isErrorLine(_ line: Substring) -> Bool {
        let lowered = line.lowercased()
        if lowered.hasPrefix("error:") { return true }
        if lowered.contains(#""level":"error""#) || lowered.contains(#""level":"critical""#) { return true }
        let words = lowered.split(separator: " ", maxSplits: 2)
        return words.count > 1 && (words[1] == "error" || words[1] == "critical")
    }


    static func topics(named prefix: String) async throws -> [String] {
        let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(connection: KafkaConnectionConfiguration(brokers: TestStack.kafkaBrokers)), logger: StatusFixture.logger)
        return try await admin.listTopics().map(\.name).filter { $0.hasPrefix(prefix) }
    }

    /// Rows the fixture's writer stored: a writer that joined its group claims its
    /// partitions there first.
    static func storedOffsets(_ fixture: StatusFixture) async throws -> Int {
        let db = try await PostgresConnection.connect(configuration: PostgresConfiguration(url: TestStack.postgresURL), logger: StatusFixture.logger)
        do {
            let count = try await db.query("SELECT count(*)::int FROM pumphouse_writer_offsets WHERE topic LIKE $1", ["\(fixture.name).%"]).scalar(Int.self) ?? 0
            await db.close()
            return count
        } catch {
            await db.close()
            throw error
        }
    }
}

import Foundation
import PumphouseTestSupport
import Testing

/// The built executable, and the repository it was built in.
enum CLI {
    static let repository = PumphouseProcess.repository

    static func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, output: String, errors: String) {
        try await PumphouseProcess.run(arguments, environment: environment)
    }
}

@Suite("pumphouse command line", .timeLimit(.minutes(1)))
struct CLITests {
    @Test("--version names the librdkafka and libpq it runs with")
    func version() async throws {
        let result = try await CLI.run(["--version"])
        #expect(result.status == 0)
        #expect(result.output.contains("librdkafka 2."))
        #expect(result.output.contains("libpq "))
    }

    @Test("schema compat exits 0 compatible, 1 incompatible, 2 on bad usage or an unusable schema")
    func compatExitCodes() async throws {
        let v1 = "Schemas/bench.Account/v1.json", v2 = "Schemas/bench.Account/v2.json"
        #expect(try await CLI.run(["schema", "compat", "--mode", "backward", v1, v2]).status == 0)
        let incompatible = try await CLI.run(["schema", "compat", "--mode", "forward", v1, v2])
        #expect(incompatible.status == 1)
        #expect(incompatible.output.contains("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"))
        #expect(try await CLI.run(["schema", "compat", "--mode", "sideways", v1, v2]).status == 2)
        #expect(try await CLI.run(["schema", "compat", v1]).status == 2)
        #expect(try await CLI.run(["schema", "compat", v1, "README.md"]).status == 2)
        let json = try await CLI.run(["schema", "compat", "--json", "--mode", "full", v1, v2])
        #expect(json.output.hasPrefix(#"{"compatible":false"#))
    }

    @Test("plan collisions prints the chapter's worked examples as it prints them, and refuses bad input naming the flag")
    func planCollisions() async throws {
        func plan(_ instances: Int, _ size: Int, _ latency: String) async throws -> (status: Int32, output: String, errors: String) {
            try await CLI.run(["plan", "collisions", "--instances", "\(instances)", "--update-rate", "20", "--cache-size", "\(size)", "--replication-latency-ms", latency])
        }
        func lines(_ output: String) -> [String] {
            output.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        }
        let first = try await plan(5, 50_000, "100")
        #expect(first.status == 0, "\(first.errors)")
        #expect(lines(first.output) == [
            "Update rate (UR): 20 updates/second", "Number of instances (N): 5", "Cache size (S): 50,000 rows",
            "Replication latency (RL): 100 milliseconds", "Updates: 72,000 per hour", "Collision rate: 14.4 per hour", "Percentage: 0.02%",
        ])
        for (instances, size, latency, rate, percentage) in [(5, 50_000, "1", "0.1", "0.0002%"), (2, 50_000, "100", "5.8", "0.008%"), (5, 10_000, "100", "72.0", "0.1%")] {
            let result = lines(try await plan(instances, size, latency).output)
            #expect(result.suffix(2) == ["Collision rate: \(rate) per hour", "Percentage: \(percentage)"], "\(instances) instances, \(size) rows, \(latency) ms")
        }
        let json = try await CLI.run(["plan", "collisions", "--instances", "5", "--update-rate", "20", "--cache-size", "50000", "--replication-latency-ms", "100", "--json"])
        #expect(json.output.contains(#""collisionsPerHour":14.4"#) && json.output.contains(#""updatesPerHour":72000"#), "\(json.output)")
        for (flag, value) in [("--instances", "0"), ("--cache-size", "0"), ("--update-rate", "-1"), ("--replication-latency-ms", "nan")] {
            var arguments = ["plan", "collisions", "--instances", "5", "--update-rate", "20", "--cache-size", "50000", "--replication-latency-ms", "100"]
            arguments[arguments.firstIndex(of: flag)! + 1] = value
            let refused = try await CLI.run(arguments)
            #expect(refused.status == 2 && refused.errors.contains(flag), "\(flag) \(value): \(refused.errors)")
        }
    }

    @Test("schema check passes on the project's schemas")
    func schemaCheck() async throws {
        let result = try await CLI.run(["schema", "check", "Schemas"])
        #expect(result.status == 0, "\(result.output)")
    }

    @Test("a bad pipeline file is a usage error naming the setting; nothing starts")
    func badConfig() async throws {
        let missing = try await CLI.run(["migrate", "--config", "/nonexistent.yaml"])
        #expect(missing.status == 2)
        #expect(missing.errors.contains("/nonexistent.yaml"))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "kafka: { brokers: x:1 }\npostgres: { url: \"postgresql://u:secret-pw@h/d\" }\nschemas: \(CLI.repository)/Schemas\ncaches: { bench.Account: { partitons: 2 } }\n"
            .write(toFile: "\(directory)/p.yaml", atomically: true, encoding: .utf8)
        let typo = try await CLI.run(["topics", "create", "--config", "\(directory)/p.yaml"], environment: ["PUMPHOUSE_KAFKA_BROKERS": "", "PUMPHOUSE_POSTGRES_URL": ""])
        #expect(typo.status == 2)
        #expect(typo.errors.contains("caches.bench.Account.partitons"))
        #expect(!typo.errors.contains("secret-pw"))
    }

    @Test("pumphouse unit refuses bad flags and a pipeline without its cache, naming the fix, before starting anything")
    func unitUsage() async throws {
        let config = "\(CLI.repository)/deploy/local/pipeline.yaml"
        let timeout = try await CLI.run(["unit", "--config", config, "--id", "u1", "--heartbeat-ms", "500", "--member-timeout-ms", "400"])
        #expect(timeout.status == 2)
        #expect(timeout.errors.contains("--member-timeout-ms (400) must exceed --heartbeat-ms (500)"))
        let rate = try await CLI.run(["unit", "--config", config, "--id", "u1", "--rate=-5"])
        #expect(rate.status == 2)
        #expect(rate.errors.contains("--rate must be from 0 to 1000000"))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "kafka: { brokers: x:1 }\npostgres: { url: \"postgresql://u:p@h/d\" }\nschemas: \(CLI.repository)/Schemas\ncaches: {}\n"
            .write(toFile: "\(directory)/p.yaml", atomically: true, encoding: .utf8)
        let noCache = try await CLI.run(["unit", "--config", "\(directory)/p.yaml", "--id", "u1"], environment: ["PUMPHOUSE_KAFKA_BROKERS": "", "PUMPHOUSE_POSTGRES_URL": ""])
        #expect(noCache.status == 2)
        #expect(noCache.errors.contains("declares no bench.Account cache"), "\(noCache.errors)")
    }

    @Test("pumphouse reader refuses a bad port, a pipeline without caches, and a missing table, and a unit a bad load timeout or fetch interval, naming the fix", .localStack, .removingWhatItMakes)
    func readerUsage() async throws {
        let config = "\(CLI.repository)/deploy/local/pipeline.yaml"
        let port = try await CLI.run(["reader", "--config", config, "--http-port", "0"])
        #expect(port.status == 2)
        #expect(port.errors.contains("--http-port must be between 1 and 65535"), "\(port.errors)")
        let timeout = try await CLI.run(["unit", "--config", config, "--id", "u1", "--load-timeout-s", "0"])
        #expect(timeout.status == 2)
        #expect(timeout.errors.contains("--load-timeout-s"), "\(timeout.errors)")
        let interval = try await CLI.run(["unit", "--config", config, "--id", "u1", "--fetch-interval-ms", "60001"])
        #expect(interval.status == 2)
        #expect(interval.errors.contains("--fetch-interval-ms must be between 0 (off) and 60000"), "\(interval.errors)")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "kafka: { brokers: x:1 }\npostgres: { url: \"postgresql://u:p@h/d\" }\nschemas: \(CLI.repository)/Schemas\ncaches: {}\n"
            .write(toFile: "\(directory)/p.yaml", atomically: true, encoding: .utf8)
        let noCache = try await CLI.run(["reader", "--config", "\(directory)/p.yaml"], environment: ["PUMPHOUSE_KAFKA_BROKERS": "", "PUMPHOUSE_POSTGRES_URL": ""])
        #expect(noCache.status == 2)
        #expect(noCache.errors.contains("declares no caches"), "\(noCache.errors)")
        // A mapped table that does not exist: the reader names it and exits before serving.
        let missing = try String(contentsOfFile: config, encoding: .utf8)
            .replacing("table: bench_account", with: "table: no_such_table_\(UInt32.random(in: 0 ... .max))")
            .replacing("../../Schemas", with: "\(CLI.repository)/Schemas").replacing("../../Migrations", with: "\(CLI.repository)/Migrations")
        try missing.write(toFile: "\(directory)/missing.yaml", atomically: true, encoding: .utf8)
        let absent = try await CLI.run(["reader", "--config", "\(directory)/missing.yaml"], environment: ["PUMPHOUSE_KAFKA_BROKERS": TestStack.kafkaBrokers, "PUMPHOUSE_POSTGRES_URL": TestStack.postgresURL])
        #expect(absent.status != 0)
        #expect(absent.errors.contains("does not exist; run `pumphouse migrate`"), "\(absent.errors)")
    }

    @Test("migrate and topics create work against the local stack, twice", .localStack, .removingWhatItMakes)
    func operatorCommands() async throws {
        let environment = ["PUMPHOUSE_KAFKA_BROKERS": TestStack.kafkaBrokers, "PUMPHOUSE_POSTGRES_URL": TestStack.postgresURL]
        for _ in 0..<2 {
            let migrate = try await CLI.run(["migrate", "--config", "deploy/local/pipeline.yaml"], environment: environment)
            #expect(migrate.status == 0, "\(migrate.errors)")
            #expect(migrate.output.contains("migrations:"))
            #expect(!migrate.output.contains(TestStack.postgresURL), "the password must not be printed")
            let topics = try await CLI.run(["topics", "create", "--config", "deploy/local/pipeline.yaml"], environment: environment)
            #expect(topics.status == 0, "\(topics.errors)")
            #expect(topics.output.contains("bench.account"))
        }
    }

    @Test("PUMPHOUSE_LOG_FORMAT=json logs one JSON object per line; PUMPHOUSE_LOG_LEVEL filters; bad values are usage errors", .localStack, .removingWhatItMakes)
    func structuredLogs() async throws {
        let arguments = ["writer", "--config", "deploy/local/pipeline.yaml", "--writer", "nope"]
        let environment = ["PUMPHOUSE_POSTGRES_URL": TestStack.postgresURL, "PUMPHOUSE_LOG_FORMAT": "json"]
        let json = try await CLI.run(arguments, environment: environment)
        #expect(json.status == 2)
        let lines = json.errors.split(separator: "\n").filter { $0.hasPrefix("{") }
        #expect(!lines.isEmpty, "\(json.errors)")
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String], "\(line)")
            #expect(object["level"] == "info" && object["logger"] == "pumphouse.writer.nope" && object["time"] != nil, "\(line)")
            #expect(object["message"]?.contains("librdkafka") == true, "\(line)")
        }
        #expect(json.errors.contains("no writer named \"nope\""))

        let quiet = try await CLI.run(arguments, environment: environment.merging(["PUMPHOUSE_LOG_LEVEL": "error"]) { _, new in new })
        #expect(!quiet.errors.contains("\"level\":\"info\""), "\(quiet.errors)")
        for (name, value) in [("PUMPHOUSE_LOG_FORMAT", "xml"), ("PUMPHOUSE_LOG_LEVEL", "loud")] {
            let bad = try await CLI.run(["--version"], environment: [name: value])
            #expect(bad.status == 2)
            #expect(bad.errors.contains("\(name)=\(value)"), "\(bad.errors)")
        }
    }
}

import Foundation
import PumphouseTestSupport
import Testing

/// Fault scenario 8: credentials given to Pumphouse (the PostgreSQL password in its URL,
/// SASL and OAuth settings for librdkafka, from the environment and from files) never
/// reach a log or `pumphouse status`, even at debug level with librdkafka dumping its
/// configuration; and TLS settings reach libpq and librdkafka, whose refusals name them.
@Suite("Secrets faults", .localStack, .removingWhatItMakes, .timeLimit(.minutes(4)))
struct SecretsFaultTests {
    /// Secret-bearing librdkafka properties that a plaintext broker ignores (librdkafka
    /// only uses them once security.protocol asks for SASL), read from files (the
    /// PostgreSQL URL, with its password, comes from the environment), with `debug: conf`
    /// so librdkafka logs its whole configuration at start-up.
    struct Secrets {
        let directory: String
        let saslPassword: String
        let oauthToken: String
        static let environment = ["PUMPHOUSE_LOG_LEVEL": "debug", "PUMPHOUSE_LOG_FORMAT": "json"]

        init() throws {
            let name = TestStack.uniqueName("secrets")
            directory = FileManager.default.temporaryDirectory.appendingPathComponent(name).path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            saslPassword = "sasl-\(name)-secret"
            oauthToken = "token-\(name)-secret"
            try "\(saslPassword)\n".write(toFile: "\(directory)/sasl-password", atomically: true, encoding: .utf8)
            try "principal=pumphouse oauth=\(oauthToken)\n".write(toFile: "\(directory)/oauth.conf", atomically: true, encoding: .utf8)
        }

        var properties: [String: String] {
            [
                "sasl.username": "pumphouse",
                "sasl.password": "{ file: \(directory)/sasl-password }",
                "sasl.oauthbearer.config": "{ file: \(directory)/oauth.conf }",
                "debug": "conf",
            ]
        }

        func leaks(in text: String, password: String) -> [String] {
            [saslPassword, oauthToken, password].filter { text.contains($0) }
        }
    }

    @Test("writer, unit, reader and loadgen at debug level in JSON, and status as text and JSON: no password or token anywhere")
    func liveProcesses() async throws {
        let secrets = try Secrets()
        defer { try? FileManager.default.removeItem(atPath: secrets.directory) }
        let fixture = try await StatusFixture(kafkaProperties: secrets.properties)
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        let environment = Secrets.environment
        let logs = ["unit", "writer", "reader"].map { "\(fixture.directory)/\($0).log" }
        let processes = [
            try PumphouseProcess.start(
                ["unit", "--config", fixture.config, "--id", "\(fixture.name)-u1", "--spool-directory", "\(fixture.directory)/spool", "--heartbeat-ms", "500"],
                environment: environment, log: logs[0]
            ),
            try PumphouseProcess.start(["writer", "--config", fixture.config, "--writer", "w"], environment: environment, log: logs[1]),
            try PumphouseProcess.start(["reader", "--config", fixture.config], environment: environment, log: logs[2]),
        ]
        defer {
            for process in processes where process.isRunning { process.terminate() }
            for process in processes { process.waitUntilExit() }
        }
        let loadgen = try await PumphouseProcess.run(["loadgen", "--config", fixture.config, "--count", "50", "--keys", "10"], environment: environment, within: .seconds(60))
        try #require(loadgen.status == 0, "\(loadgen.errors)")

        var outputs = [loadgen.output + loadgen.errors]
        _ = try await waitFor("status showing the unit loaded, a reader, and the writer through all 50 changes", timeout: .seconds(90)) { () -> Bool? in
            let run = try await PumphouseProcess.run(["status", "--config", fixture.config, "--json", "--timeout-s", "30"], environment: environment, within: .seconds(45))
            outputs.append(run.output + run.errors)
            guard run.status == 0, let status = try? JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any],
                  let members = (status["caches"] as? [[String: Any]])?.first?["members"] as? [[String: Any]],
                  members.contains(where: { $0["state"] as? String == "loaded" }),
                  let readers = (status["readers"] as? [String: Any])?["members"] as? [[String: Any]], !readers.isEmpty,
                  (status["writers"] as? [[String: Any]])?.first?["lag"] as? Int == 0,
                  ((status["writers"] as? [[String: Any]])?.first?["partitions"] as? [[String: Any]])?.reduce(0, { $0 + ($1["highWatermark"] as? Int ?? 0) }) == 50
            else { return nil }
            return true
        }
        let text = try await PumphouseProcess.run(["status", "--config", fixture.config, "--timeout-s", "30"], environment: environment, within: .seconds(45))
        #expect(text.status == 0, "\(text.output)\(text.errors)")
        outputs.append(text.output + text.errors)

        for process in processes { process.terminate() }
        for process in processes { process.waitUntilExit() }
        for (index, output) in outputs.enumerated() {
            #expect(secrets.leaks(in: output, password: fixture.password).isEmpty, "command output \(index) shows a secret:\n\(output)")
        }
        for log in logs {
            let text = try String(contentsOfFile: log, encoding: .utf8)
            // The settings were in force: debug lines were logged, librdkafka's
            // configuration dump among them (with the SASL properties, values masked).
            #expect(text.contains(#""level":"debug""#), "\(log) has no debug lines")
            #expect(text.contains("sasl.password"), "\(log) has no configuration dump")
            #expect(secrets.leaks(in: text, password: fixture.password).isEmpty, "\(log) shows a secret")
        }
    }

    @Test("a schema-qualified table and columns named by reserved words are written by the writer, compared by replay and read back by a reader into a unit")
    func quotedIdentifiers() async throws {
        let fixture = try await StatusFixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        // Every name below is a valid identifier in the file and a syntax error in SQL
        // unless it is quoted (values travel as parameters: PostgresQueryTests and
        // ReversePumpSoloTests store quotes and semicolons verbatim).
        let table = "\(fixture.name).order"
        var text = try String(contentsOfFile: fixture.config, encoding: .utf8)
        for (old, new) in [
            ("load: topic", "load: reverse_pump"),
            ("table: \(fixture.name)_account", "table: \(table)"),
            ("id: id\n", "select: id\n"),
            ("owner: owner\n", "user: owner\n"),
            ("balance_cents: {", "order: {"),
            ("currency: currency\n", "from: currency\n"),
            ("status: status\n", "group: status\n"),
            ("updated_at: {", "table: {"),
        ] {
            try #require(text.contains(old), "the fixture's pipeline file has no \(old)")
            text = text.replacing(old, with: new)
        }
        try text.write(toFile: fixture.config, atomically: true, encoding: .utf8)
        try await StatusFixture.sql("""
            CREATE SCHEMA \(fixture.name);
            CREATE TABLE \(fixture.name)."order" ("select" text PRIMARY KEY, "user" text NOT NULL, "order" bigint NOT NULL,
                "from" text NOT NULL, "group" text NOT NULL, "table" timestamptz NOT NULL);
            """)

        let writer = try PumphouseProcess.start(["writer", "--config", fixture.config, "--writer", "w"], log: "\(fixture.directory)/writer.log")
        var processes = [writer]
        defer {
            for process in processes where process.isRunning { process.terminate() }
            for process in processes { process.waitUntilExit() }
        }
        let loadgen = try await PumphouseProcess.run(["loadgen", "--config", fixture.config, "--count", "300", "--keys", "30"], within: .seconds(60))
        try #require(loadgen.status == 0, "\(loadgen.errors)")
        _ = try await waitFor("the writer through all 300 changes", timeout: .seconds(60)) { () -> Bool? in
            let status = try await fixture.status()
            let partitions = ((status["writers"] as? [[String: Any]])?.first?["partitions"] as? [[String: Any]]) ?? []
            return (status["writers"] as? [[String: Any]])?.first?["lag"] as? Int == 0
                && partitions.reduce(0, { $0 + ($1["highWatermark"] as? Int ?? 0) }) == 300 ? true : nil
        }
        let replay = try await PumphouseProcess.run(["replay", "--config", fixture.config, "--cache", "bench.Account", "--verify-db", "--timeout", "60"], within: .seconds(90))
        #expect(replay.status == 0, "\(replay.output)\(replay.errors)")
        #expect(replay.output.contains("the database equals the topic"), "\(replay.output)")

        // A unit with no loaded peer loads the table through a reader.
        processes.append(try PumphouseProcess.start(["reader", "--config", fixture.config], log: "\(fixture.directory)/reader.log"))
        let unitID = "\(fixture.name)-u1"
        processes.append(try PumphouseProcess.start(
            ["unit", "--config", fixture.config, "--id", unitID, "--spool-directory", "\(fixture.directory)/spool", "--heartbeat-ms", "500"],
            log: "\(fixture.directory)/unit.log"
        ))
        _ = try await waitFor("the unit loaded from the table through the reader", timeout: .seconds(90)) { () -> Bool? in
            let members = ((try await fixture.status()["caches"] as? [[String: Any]])?.first?["members"] as? [[String: Any]]) ?? []
            return members.contains { $0["id"] as? String == unitID && $0["state"] as? String == "loaded" } ? true : nil
        }
        let reader = try String(contentsOfFile: "\(fixture.directory)/reader.log", encoding: .utf8)
        #expect(!reader.contains("refused"), "\(reader)")
    }

    @Test("a wrong PostgreSQL password fails writer, migrate and status clearly, never echoing it")
    func wrongPassword() async throws {
        let fixture = try await StatusFixture(createTopics: false)
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        let wrong = "wrong-\(fixture.name)"
        let url = TestStack.postgresURL.replacing(":\(fixture.password)@", with: ":\(wrong)@")
        try #require(url.contains(wrong), "the test stack's URL carries a password")
        let environment = ["PUMPHOUSE_POSTGRES_URL": url, "PUMPHOUSE_LOG_LEVEL": "debug", "PUMPHOUSE_LOG_FORMAT": "json"]
        for arguments in [
            ["writer", "--config", fixture.config, "--writer", "w"],
            ["migrate", "--config", fixture.config],
            ["status", "--config", fixture.config, "--timeout-s", "20"],
        ] {
            let run = try await PumphouseProcess.run(arguments, environment: environment, within: .seconds(45))
            let transcript = "\(arguments[0]): \(run.output)\(run.errors)"
            #expect(run.status == 1, "\(transcript)")
            #expect(run.errors.contains("password authentication failed"), "\(transcript)")
            #expect(!transcript.contains(wrong), "\(transcript)")
        }
    }

    @Test("TLS settings reach the libraries: sslmode=require against a server without TLS, and a missing CA file for librdkafka, are refused naming the setting")
    func tlsPassThrough() async throws {
        let fixture = try await StatusFixture(createTopics: false, kafkaProperties: ["security.protocol": "ssl", "ssl.ca.location": "no-such-ca.pem"])
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }

        let separator = TestStack.postgresURL.contains("?") ? "&" : "?"
        let requireTLS = ["PUMPHOUSE_POSTGRES_URL": TestStack.postgresURL + "\(separator)sslmode=require"]
        let migrate = try await PumphouseProcess.run(["migrate", "--config", fixture.config], environment: requireTLS, within: .seconds(30))
        #expect(migrate.status == 1, "\(migrate.errors)")
        #expect(migrate.errors.contains("SSL"), "libpq's own reason: \(migrate.errors)")
        #expect(migrate.errors.contains("sslmode=require") && migrate.errors.contains("postgres.url"), "\(migrate.errors)")
        #expect(!migrate.errors.contains(fixture.password), "\(migrate.errors)")

        for arguments in [["topics", "create", "--config", fixture.config], ["writer", "--config", fixture.config, "--writer", "w"]] {
            let run = try await PumphouseProcess.run(arguments, within: .seconds(30))
            #expect(run.status == 2, "\(run.errors)")
            #expect(run.errors.contains("kafka.properties") && run.errors.contains("ssl.ca.location"), "\(run.errors)")
        }

        // No admin client takes a consumer's own properties, so they are checked apart.
        let misspelt = try await StatusFixture(createTopics: false, consumerProperties: ["fetch.wait.max.mz": "\"5\""])
        defer { try? FileManager.default.removeItem(atPath: misspelt.directory) }
        let writer = try await PumphouseProcess.run(["writer", "--config", misspelt.config, "--writer", "w"], within: .seconds(30))
        #expect(writer.status == 2, "\(writer.errors)")
        #expect(writer.errors.contains("kafka.consumer_properties") && writer.errors.contains("fetch.wait.max.mz"), "\(writer.errors)")
    }
}

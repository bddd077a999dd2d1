import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import PumphouseContracts
import PumphouseKafka
import PumphousePostgres
import PumphouseTestSupport
import Testing

/// `pumphouse status` run as an operator runs it, against a pipeline of its own: a unit,
/// a writer and a reader as processes, on topics no other test uses.
@Suite("StatusCommand", .localStack, .removingWhatItMakes, .timeLimit(.minutes(3)))
struct StatusCommandSoloTests {
    @Test("shows the unit with its address and spool depth, the reader, writer lag reaching 0, a dead letter, a hole in an origin's numbering; never the database password")
    func liveStatus() async throws {
        let fixture = try await StatusFixture()
        let unitID = "\(fixture.name)-u1"
        let httpPort = try FreePort.find()
        let unit = try PumphouseProcess.start(
            ["unit", "--config", fixture.config, "--id", unitID, "--address", "10.9.8.7:8080", "--spool-directory", "\(fixture.directory)/spool", "--heartbeat-ms", "500", "--http-port", "\(httpPort)"],
            log: "\(fixture.directory)/unit.log"
        )
        let writer = try PumphouseProcess.start(["writer", "--config", fixture.config, "--writer", "w"], log: "\(fixture.directory)/writer.log")
        let reader = try PumphouseProcess.start(["reader", "--config", fixture.config], log: "\(fixture.directory)/reader.log")
        defer {
            for process in [unit, writer, reader] where process.isRunning { process.terminate() }
            for process in [unit, writer, reader] { process.waitUntilExit() }
        }

        let loadgen = try await PumphouseProcess.run(["loadgen", "--config", fixture.config, "--count", "200", "--keys", "20"])
        try #require(loadgen.status == 0, "\(loadgen.errors)")
        try await fixture.produceBadMessage()
        try await fixture.produceNumberingHole()

        // Everything at once: the unit loaded and heard, the reader heard, the writer
        // through all 203 messages (the bad one dead-lettered, its offset passed; the
        // hole in an origin's numbering recorded).
        let status = try await waitFor("status showing the unit, the reader, lag 0 and a dead letter", timeout: .seconds(90)) { () -> [String: Any]? in
            let status = try await fixture.status()
            let members = ((status["caches"] as? [[String: Any]])?.first?["members"] as? [[String: Any]]) ?? []
            guard let member = members.first(where: { $0["id"] as? String == unitID }), member["state"] as? String == "loaded",
                  let writers = status["writers"] as? [[String: Any]], let partitions = writers.first?["partitions"] as? [[String: Any]],
                  partitions.count == 2, partitions.allSatisfy({ $0["storedOffset"] is Int }),
                  partitions.reduce(0, { $0 + ($1["highWatermark"] as? Int ?? 0) }) == 203, writers.first?["lag"] as? Int == 0,
                  (status["deadLetters"] as? [[String: Any]])?.first?["count"] as? Int == 1,
                  (status["sequenceGaps"] as? [[String: Any]])?.count == 1,
                  let readers = (status["readers"] as? [String: Any])?["members"] as? [[String: Any]], !readers.isEmpty
            else { return nil }
            return status
        }
        let member = try #require(((status["caches"] as? [[String: Any]])?.first?["members"] as? [[String: Any]])?.first)
        #expect(member["address"] as? String == "10.9.8.7:8080")
        #expect(member["unacknowledged"] as? Int == 0)
        #expect((member["silentMs"] as? Int).map { $0 <= 5000 } == true)
        #expect(status["problems"] as? [String] == [])
        // Only the hole made below: the unit's and loadgen's numbering has none.
        let gaps = try #require((status["sequenceGaps"] as? [[String: Any]])?.first)
        #expect(gaps["writer"] as? String == "w" && gaps["gaps"] as? Int == 1 && gaps["missing"] as? Int == 2, "\(gaps)")
        #expect(gaps["latest"] as? String == "holey \(fixture.topic)[0] 6..<8", "\(gaps)")

        // The unit's routing endpoints: its one cache is replicated, so no table, and a
        // table asked for by name is refused saying why.
        @Sendable func get(_ path: String) async -> (Int, String)? {
            guard let (data, response) = try? await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(httpPort)\(path)")!) else { return nil }
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
        }
        let tables = try await waitFor("the unit's /routing", timeout: .seconds(30)) { () -> (Int, String)? in
            try await Task.sleep(for: .milliseconds(100))
            return await get("/routing")
        }
        #expect(tables.0 == 200 && tables.1 == #"{"caches":[]}"#, "\(tables)")
        let named = try #require(await get("/routing/bench.Account"))
        #expect(named.0 == 404 && named.1.contains(#""error":"not-partitioned""#) && named.1.contains("cache bench.Account is replicated"), "\(named)")
        let unknown = try #require(await get("/routing/bench.Nope"))
        #expect(unknown.0 == 404 && unknown.1.contains(#""error":"unknown-cache""#) && unknown.1.contains("this unit holds no partitioned cache"), "\(unknown)")

        let text = try await PumphouseProcess.run(["status", "--config", fixture.config, "--timeout-s", "30"])
        #expect(text.status == 0, "\(text.output)\(text.errors)")
        #expect(text.output.contains(unitID) && text.output.contains("10.9.8.7:8080") && text.output.contains("\(fixture.name).dlq"), "\(text.output)")
        #expect(text.output.contains("sequence gaps") && text.output.contains("holey \(fixture.topic)[0] 6..<8"), "\(text.output)")
        #expect(!text.output.contains(fixture.password) && !text.errors.contains(fixture.password))

        // A unit that stops says so: it leaves the list at once, not after the timeout.
        unit.terminate()
        unit.waitUntilExit()
        _ = try await waitFor("the unit gone from the member list", timeout: .seconds(30)) { () -> Bool? in
            let members = ((try await fixture.status()["caches"] as? [[String: Any]])?.first?["members"] as? [[String: Any]]) ?? []
            return members.contains { $0["id"] as? String == unitID } ? nil : true
        }
    }

    @Test("plan collisions --from-pipeline measures N, UR, S and RL on two running units and prints the forecast beside the collisions they counted, and status shows it per replicated cache; no running unit and bad flags are refused naming why")
    func collisionsFromPipeline() async throws {
        let fixture = try await StatusFixture()
        func plan(_ arguments: [String]) async throws -> (status: Int32, output: String, errors: String) {
            try await PumphouseProcess.run(["plan", "collisions", "--from-pipeline", fixture.config] + arguments)
        }
        let idle = try await plan(["--window-s", "1"])
        #expect(idle.status == 1 && idle.output.contains("no loaded unit announced itself"), "exit \(idle.status): \(idle.output)\(idle.errors)")
        for (arguments, named) in [
            (["--window-s", "0"], "--window-s"), (["--window-s", "2", "--interval-s", "3"], "--interval-s"), (["--instances", "3"], "--from-pipeline"),
            (["--replication-latency-ms", "-1"], "--replication-latency-ms"), (["--member-timeout-ms", "0"], "--member-timeout-ms"),
        ] {
            let refused = try await plan(arguments)
            #expect(refused.status == 2 && refused.errors.contains(named), "\(arguments): \(refused.errors)")
        }
        let unknown = try await plan(["--cache", "shop.Nothing"])
        #expect(unknown.status == 2 && unknown.errors.contains("no replicated cache shop.Nothing"), "\(unknown.errors)")
        let inputs = try await PumphouseProcess.run(["plan", "collisions", "--instances", "3"])
        #expect(inputs.status == 2 && inputs.errors.contains("--from-pipeline"), "\(inputs.errors)")

        let ports = try [FreePort.find(), FreePort.find()]
        let units = try ports.enumerated().map { index, port in
            try PumphouseProcess.start(
                ["unit", "--config", fixture.config, "--id", "\(fixture.name)-u\(index)", "--spool-directory", "\(fixture.directory)/spool", "--heartbeat-ms", "500",
                 "--http-port", "\(port)", "--rate", "100", "--keys", "30"],
                log: "\(fixture.directory)/unit-\(index).log"
            )
        }
        defer {
            for unit in units where unit.isRunning { unit.terminate() }
            for unit in units { unit.waitUntilExit() }
        }
        _ = try await waitFor("both units loaded and changing accounts", timeout: .seconds(60)) { () -> Bool? in
            try await Task.sleep(for: .milliseconds(200))
            let status = try await PumphouseProcess.run(["status", "--config", fixture.config, "--json", "--collision-window-s", "0"])
            let members = ((try? JSONSerialization.jsonObject(with: Data(status.output.utf8)) as? [String: Any])?["caches"] as? [[String: Any]])?.first?["members"] as? [[String: Any]]
            return members?.filter { $0["state"] as? String == "loaded" }.count == 2 ? true : nil
        }
        // The oracle for the changes counted: the topic's records, read from the broker
        // before and after the window.
        let partitions = [0, 1].map { KafkaTopicPartition(topic: fixture.topic, partition: Int32($0)) }
        func records() async throws -> Int64 {
            try await KafkaConsumer.watermarks(
                of: partitions, configuration: KafkaConsumerConfiguration(connection: KafkaConnectionConfiguration(brokers: TestStack.kafkaBrokers)),
                until: .now.advanced(by: .seconds(30)), logger: StatusFixture.logger
            ).values.reduce(0) { $0 + $1.high }
        }
        let before = try await records()
        let measured = try await plan(["--window-s", "3", "--interval-s", "1", "--json"])
        let after = try await records()
        try #require(measured.status == 0, "\(measured.output)\(measured.errors)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(measured.output.utf8)) as? [String: Any])
        let cache = try #require((json["caches"] as? [[String: Any]])?.first)
        #expect(cache["cache"] as? String == "bench.Account" && cache["units"] as? Int == 2, "\(cache)")
        #expect(cache["intervals"] as? Int == 3 && ((cache["updatesPerSecond"] as? [String: Any])?["peak"] as? Double ?? 0) > 0, "\(cache)")
        #expect((cache["cacheSize"] as? Int).map { (1...60).contains($0) } == true, "the accounts changed, at most --keys of each unit's own: \(cache)")
        let changes = try #require(cache["changes"] as? Int)
        #expect(changes > 0 && Int64(changes) <= after - before, "changes counted in the window (\(changes)) are records the topic gained (\(after - before))")
        #expect(cache["replicationLatencyMeasured"] as? Bool == true && (cache["peerChangesApplied"] as? Int ?? 0) > 0, "\(cache)")
        #expect((cache["expected"] as? [String: Any])?["peak"] is [String: Any] && cache["collisionsCounted"] is Int, "\(cache)")
        let text = try await plan(["--window-s", "2", "--interval-s", "1"])
        #expect(text.status == 0 && text.output.contains("bench.Account (replicated): 2 units") && text.output.contains("Counted collisions:"), "\(text.output)")
        let status = try await fixture.status()
        let shown = try #require((status["collisions"] as? [[String: Any]])?.first)
        #expect(shown["cache"] as? String == "bench.Account" && shown["units"] as? Int == 2, "\(shown)")
    }

    @Test("a bad flag is a usage error (exit 2); an unreachable broker or PostgreSQL is named within the timeout (exit 1), without the password")
    func failures() async throws {
        let fixture = try await StatusFixture(createTopics: false)
        let badFlag = try await PumphouseProcess.run(["status", "--config", fixture.config, "--member-timeout-ms", "0"])
        #expect(badFlag.status == 2, "\(badFlag.errors)")
        #expect(badFlag.errors.contains("--member-timeout-ms"))

        var started = ContinuousClock.now
        let noBroker = try await PumphouseProcess.run(["status", "--config", fixture.config, "--timeout-s", "2"], environment: ["PUMPHOUSE_KAFKA_BROKERS": "127.0.0.1:1"])
        #expect(ContinuousClock.now - started < .seconds(6))
        #expect(noBroker.status == 1, "\(noBroker.output)\(noBroker.errors)")
        #expect(noBroker.errors.contains("the Kafka broker(s) 127.0.0.1:1 did not answer"), "\(noBroker.errors)")
        #expect(noBroker.errors.contains("PUMPHOUSE_KAFKA_BROKERS"), "\(noBroker.errors)")

        started = .now
        let secret = "pw-\(fixture.name)"
        let noDatabase = try await PumphouseProcess.run(
            ["status", "--config", fixture.config, "--timeout-s", "3", "--json"],
            environment: ["PUMPHOUSE_POSTGRES_URL": "postgresql://someone:\(secret)@127.0.0.1:1/nowhere"]
        )
        #expect(ContinuousClock.now - started < .seconds(7))
        #expect(noDatabase.status == 1, "\(noDatabase.output)\(noDatabase.errors)")
        #expect(noDatabase.errors.contains("PostgreSQL at postgresql://someone:***@127.0.0.1:1/nowhere refused the connection or did not answer"), "\(noDatabase.errors)")
        #expect(!noDatabase.errors.contains(secret) && !noDatabase.output.contains(secret))
    }
}

/// A pipeline file of one bench.Account cache (loaded from its topic, so no load claim
/// or reader is needed to start a unit), its writer `w` and readers, every topic and
/// table named after the fixture. `kafkaProperties` values are YAML as written (so a
/// secret can be `{ env: NAME }`); the ports, if given, serve the writer's and the
/// readers' endpoints.
struct StatusFixture {
    static let logger = TestStack.logger("pumphouse.tests.status")

    let name: String
    let topic: String
    let directory: String
    let config: String

    init(
        createTopics: Bool = true, kafkaProperties: [String: String] = [:], consumerProperties: [String: String] = [:], writerPort: Int? = nil,
        readerPort: Int? = nil
    ) async throws {
        name = TestStack.uniqueName("st")
        topic = "\(name).account"
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(name).path
        config = "\(directory)/pipeline.yaml"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        func mapping(_ key: String, _ properties: [String: String]) -> String {
            properties.isEmpty ? "" : ", \(key): { " + properties.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + " }"
        }
        try """
            kafka: { brokers: "\(TestStack.kafkaBrokers)"\(mapping("properties", kafkaProperties))\(mapping("consumer_properties", consumerProperties)) }
            postgres: { url: { env: PUMPHOUSE_POSTGRES_URL } }
            schemas: \(PumphouseProcess.repository)/Schemas
            migrations: \(PumphouseProcess.repository)/Migrations
            member_topic: \(name).members
            caches:
              bench.Account:
                topic: \(topic)
                partitions: 2
                load: topic
                mapping:
                  table: \(name)_account
                  columns:
                    id: id
                    owner: owner
                    balance_cents: { field: balance, type: bigint }
                    currency: currency
                    status: status
                    updated_at: { field: updatedAt, transform: epoch_ms_to_timestamp }
            writers:
              w:
                caches: [bench.Account]
                group: \(name)-writer
                dead_letter_topic: \(name).dlq
                batch: { max_wait_ms: 20 }\(writerPort.map { "\n    http_port: \($0)" } ?? "")
            reader:
              request_topic: \(name).reads
              request_partitions: 1
              group: \(name)-reader\(readerPort.map { "\n  http_port: \($0)" } ?? "")
            """.write(toFile: config, atomically: true, encoding: .utf8)
        guard createTopics else { return }
        let topics = try await PumphouseProcess.run(["topics", "create", "--config", config])
        try #require(topics.status == 0, "\(topics.output)\(topics.errors)")
        // The test database is shared; one migrated by a newer code base already has
        // every table this one's migrations make, which is all the test needs.
        let migrate = try await PumphouseProcess.run(["migrate", "--config", config])
        try #require(migrate.status == 0 || migrate.errors.contains("which this code base does not have"), "\(migrate.output)\(migrate.errors)")
        try await Self.sql("CREATE TABLE \(name)_account (LIKE bench_account INCLUDING ALL)")
    }

    /// The test database's password, which no output may contain.
    var password: String {
        let url = TestStack.postgresURL
        guard let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].lastIndex(of: "@"),
              let colon = url[scheme.upperBound..<at].firstIndex(of: ":")
        else { return "\u{0}no password\u{0}" }
        return String(url[url.index(after: colon)..<at])
    }

    /// `pumphouse status --json`, which must succeed and never show the password.
    func status() async throws -> [String: Any] {
        // A generous bound: the shared local broker can be slow under other tests' load.
        let run = try await PumphouseProcess.run(["status", "--config", config, "--json", "--timeout-s", "30"])
        #expect(!run.output.contains(password) && !run.errors.contains(password))
        try #require(run.status == 0, "\(run.output)\(run.errors)")
        return try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
    }

    /// A message no writer can decode: the writer dead-letters it and moves on.
    func produceBadMessage() async throws {
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(connection: KafkaConnectionConfiguration(brokers: TestStack.kafkaBrokers)), logger: Self.logger)
        _ = try await producer.deliver(KafkaProducerMessage(topic: topic, partition: 0, key: "acc-bad", value: "not a contract"))
        try await producer.shutdown()
    }

    /// Two adds of origin `holey`'s run 5, numbered 5 and 8: 6 and 7 are missing.
    func produceNumberingHole() async throws {
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(connection: KafkaConnectionConfiguration(brokers: TestStack.kafkaBrokers)), logger: Self.logger)
        for sequence: Int64 in [5, 8] {
            let key = "acc-holey-\(sequence)"
            let contract = Contract(
                name: try ContractName("bench.Account"), version: 2, action: .add, key: key, origin: "holey", sequence: sequence, eventTime: 0, incarnation: 5,
                fields: ["id": .string(key), "owner": .string("o"), "balance": .int(1), "currency": .string("EUR"), "status": .string("open"), "updatedAt": .int(0)]
            )
            let encoded = try ContractCodec().encode(contract)
            _ = try await producer.deliver(KafkaProducerMessage(topic: topic, partition: 0, key: Array(encoded.key.utf8), value: encoded.value))
        }
        try await producer.shutdown()
    }

    static func sql(_ script: String) async throws {
        let db = try await PostgresConnection.connect(configuration: PostgresConfiguration(url: TestStack.postgresURL), logger: logger)
        do {
            try await db.execute(script: script)
        } catch {
            await db.close()
            throw error
        }
        await db.close()
    }
}

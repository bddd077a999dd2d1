import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import PumphouseContracts
import PumphouseKafka
import PumphousePipeline
import PumphousePostgres
import PumphouseReplay
import PumphouseTestSupport
import PumphouseWriter
import Synchronization
import Testing

/// A private pipeline per test: its own topic, table, writer and group, over the
/// project's real bench.Account contract and migrations.
struct WriterFixture {
    static let repository = PumphouseProcess.repository
    static let logger = TestStack.logger("pumphouse.tests.writer")

    let name: String
    let topic: String
    let table: String
    let configuration: PipelineConfiguration
    let db: PostgresConnection
    let directory: String

    /// `mode` is the cache's `mode` setting (replicated, the default, or partitioned).
    init(partitions: Int = 3, mode: String? = nil) async throws {
        name = TestStack.uniqueName("w")
        topic = "\(name).account"
        table = "\(name)_account"
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(name).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let yaml = Self.pipeline(name: name, topic: topic, table: table, partitions: partitions, batch: 500, mode: mode)
        try yaml.write(toFile: "\(directory)/pipeline.yaml", atomically: true, encoding: .utf8)
        configuration = try PipelineConfiguration.load(path: "\(directory)/pipeline.yaml", environment: [:])
        db = try await PostgresConnection.connect(configuration: configuration.postgres, logger: Self.logger)
        try await configuration.migrate(on: db, logger: Self.logger)
        try await db.execute(script: "CREATE TABLE \(table) (LIKE bench_account INCLUDING ALL)")
        // Its own topics only: the member topic is the units' business.
        try await KafkaAdmin(configuration: KafkaAdminConfiguration(connection: configuration.kafka), logger: Self.logger)
            .createTopics(configuration.topicSpecifications.filter { $0.name != configuration.memberTopic })
    }

    /// The pipeline file for this fixture; `group` picks the writer's consumer group.
    static func pipeline(name: String, topic: String, table: String, partitions: Int, batch: Int, group: String? = nil, httpPort: Int? = nil, customMapping: Bool = false, mode: String? = nil) -> String {
        let mapping = customMapping ? "mapping: custom" : """
            mapping:
                  table: \(table)
                  columns:
                    id: id
                    owner: owner
                    balance_cents: { field: balance, type: bigint }
                    currency: currency
                    status: status
                    updated_at: { field: updatedAt, transform: epoch_ms_to_timestamp }
            """
        return """
        kafka: { brokers: "\(TestStack.kafkaBrokers)" }
        postgres: { url: "\(TestStack.postgresURL)" }
        schemas: \(repository)/Schemas
        migrations: \(repository)/Migrations
        caches:
          bench.Account:
            topic: \(topic)
            partitions: \(partitions)
            mode: \(mode ?? "replicated")
            \(mapping)
        writers:
          \(name):
            caches: [bench.Account]
            group: \(group ?? "pumphouse-writer-\(name)")
            batch: { max_messages: \(batch), max_wait_ms: 20 }
        \(httpPort.map { "    http_port: \($0)" } ?? "")
        """
    }

    /// Produces messages and waits until the broker has them all. `maxMessageBytes`
    /// raises the client's own size limit, for messages larger than a unit would send.
    func publish(_ messages: some Sequence<KafkaProducerMessage>, maxMessageBytes: Int? = nil) async throws {
        var connection = configuration.kafka
        if let maxMessageBytes { connection.properties["message.max.bytes"] = String(maxMessageBytes) }
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(connection: connection), logger: Self.logger)
        for message in messages { try producer.send(message) }
        try await producer.flush(timeout: .seconds(60))
        try await producer.shutdown()
    }

    func writer(configuration: PipelineConfiguration? = nil) throws -> DataWriter {
        try DataWriter(configuration: configuration ?? self.configuration, writer: name, logger: Self.logger)
    }

    /// Runs a writer until `done` holds for its statistics, then stops it.
    func runWriter(until done: @escaping @Sendable (WriterStatistics) -> Bool, timeout: Duration = .seconds(90)) async throws -> WriterStatistics {
        try await run(try writer(), until: done, timeout: timeout)
    }

    func run(_ writer: DataWriter, until done: @escaping @Sendable (WriterStatistics) -> Bool, timeout: Duration = .seconds(90)) async throws -> WriterStatistics {
        let failure = Mutex<(any Error)?>(nil)
        let task = Task {
            do { try await writer.run() } catch { failure.withLock { $0 = error } }
        }
        defer { task.cancel() }
        _ = try await waitFor("the writer to finish its work", timeout: timeout) { () -> Bool? in
            try await Task.sleep(for: .milliseconds(50))
            if let error = failure.withLock({ $0 }) { throw error }
            return done(writer.statistics) ? true : nil
        }
        task.cancel()
        _ = await task.value
        return writer.statistics
    }

    /// The offsets this writer has committed, summed over partitions: on a fresh topic,
    /// the number of messages it has dealt with.
    func committedOffsets() async throws -> Int64 {
        try await db.query(
            "SELECT COALESCE(sum(next_offset), 0)::bigint FROM pumphouse_writer_offsets WHERE writer = $1 AND next_offset >= 0", [name]
        ).scalar(Int64.self) ?? 0
    }

    /// Each partition's claim epoch, which rises whenever a member takes it over.
    func claimEpochs() async throws -> [Int32: Int64] {
        let rows = try await db.query("SELECT partition, epoch FROM pumphouse_writer_offsets WHERE writer = $1", [name]).rows
        return Dictionary(uniqueKeysWithValues: rows.map { (Int32($0[0]!)!, Int64($0[1]!)!) })
    }

    /// The table's rows by the key's bytes (PostgreSQL's identity of a key).
    func rows() async throws -> [ExactKey: [String: String?]] {
        var result: [ExactKey: [String: String?]] = [:]
        for row in try await db.query("SELECT id, owner, balance_cents, currency, status FROM \(table)").namedRows {
            result[ExactKey(row["id"]!)] = ["owner": row["owner"], "balance": row["balance_cents"], "currency": row["currency"], "status": row["status"]]
        }
        return result
    }
}

/// Builds contracts as a processing unit would, and the state they should leave.
struct Workload {
    var messages: [KafkaProducerMessage] = []
    var rows: [ExactKey: JSONObject] = [:]
    var sequence: Int64 = 0
    var deadLetters = 0
    let topic: String
    /// The origin of the changes made next; their sequence numbers rise across origins,
    /// so each origin's stay increasing.
    var origin = "unit-a"

    /// `term` and `partition`: a partitioned cache's ownership term, and the partition
    /// the change goes to (librdkafka's choice if nil).
    mutating func publish(
        _ action: ContractAction, key: String, fields: JSONObject = [:], deltas: JSONObject = [:], origin given: String? = nil,
        sequence givenSequence: Int64? = nil, term: Int64? = nil, incarnation: Int64? = nil, partition: Int32? = nil
    ) throws {
        let origin = given ?? self.origin
        let sequence = givenSequence ?? { self.sequence += 1; return self.sequence }()
        let contract = Contract(
            name: try ContractName("bench.Account"), version: 2, action: action, key: key, origin: origin, sequence: sequence, eventTime: 0,
            ownershipTerm: term, incarnation: incarnation, fields: fields, deltas: deltas
        )
        let encoded = try ContractCodec().encode(contract)
        messages.append(KafkaProducerMessage(topic: topic, partition: partition, key: Array(encoded.key.utf8), value: encoded.value,
                                             headers: encoded.headers.map { KafkaHeader(name: $0.name, string: $0.value) }))
    }

    mutating func add(_ key: String, balance: Int64) throws {
        let fields: JSONObject = ["id": .string(key), "owner": .string("owner-\(key)"), "balance": .int(balance), "currency": .string("EUR"), "status": .string("open"), "updatedAt": .int(1_763_700_000_000)]
        try publish(.add, key: key, fields: fields)
        rows[ExactKey(key)] = fields
    }

    mutating func update(_ key: String, status: String? = nil, owner: String? = nil, delta: Int64? = nil) throws {
        var fields: JSONObject = [:]
        var deltas: JSONObject = [:]
        if let status { fields["status"] = .string(status) }
        if let owner { fields["owner"] = .string(owner) }
        if let delta { deltas["balance"] = .int(delta) }
        try publish(.update, key: key, fields: fields, deltas: deltas)
        guard var row = rows[ExactKey(key)] else {
            deadLetters += 1
            return
        }
        if let status { row["status"] = .string(status) }
        if let owner { row["owner"] = .string(owner) }
        if let delta, case .int(let balance)? = row["balance"] { row["balance"] = .int(balance + delta) }
        rows[ExactKey(key)] = row
    }

    mutating func delete(_ key: String) throws {
        try publish(.delete, key: key)
        rows[ExactKey(key)] = nil
    }

    mutating func raw(_ value: [UInt8], key: String = "bad") {
        messages.append(KafkaProducerMessage(topic: topic, key: Array(key.utf8), value: value))
        deadLetters += 1
    }

    var expectedRows: [ExactKey: [String: String?]] {
        rows.mapValues { row in
            ["owner": row["owner"]?.stringValue, "balance": row["balance"].map { if case .int(let i) = $0 { String(i) } else { "?" } },
             "currency": row["currency"]?.stringValue, "status": row["status"]?.stringValue]
        }
    }
}

@Suite("Data writer against the local broker and PostgreSQL", .localStack, .removingWhatItMakes, .serialized, .timeLimit(.minutes(4)))
struct DataWriterTests {
    @Test("a mixed workload lands exactly: per-key order, deltas, deletes, duplicates collapsed, bad input dead-lettered")
    func mixedWorkload() async throws {
        let fixture = try await WriterFixture()
        var work = Workload(topic: fixture.topic)
        var rng = SplitMix(state: 7)
        let keys = (0..<30).map { "acc-\($0)" }
        for key in keys { try work.add(key, balance: 1_000) }
        for step in 0..<600 {
            let key = keys.randomElement(using: &rng)!
            switch Int.random(in: 0..<10, using: &rng) {
            case 0: try work.delete(key)
            case 1: try work.add(key, balance: Int64(step))
            case 2...4: try work.update(key, status: ["open", "frozen", "closed"].randomElement(using: &rng)!)
            default: try work.update(key, delta: Int64.random(in: -50...50, using: &rng))
            }
        }
        // Duplicates of earlier changes (a resent spool): same origin and sequence.
        let resent = Array(work.messages.prefix(40))
        // Bad input of several kinds.
        work.raw(Array("not json".utf8))
        work.raw(Array(#"{"contract":"bench.Nope","version":1,"action":"delete","key":"bad","origin":"u","seq":1,"eventTime":0}"#.utf8))
        work.raw(Array(#"{"contract":"bench.Account","version":2,"action":"add","key":"bad","origin":"u","seq":1,"eventTime":0,"fields":{"id":"bad"}}"#.utf8))
        work.raw([0xFF, 0xFE])

        try await fixture.publish(work.messages + resent)
        let total = work.messages.count + resent.count

        let statistics = try await fixture.runWriter(until: { $0.consumed >= total })
        #expect(statistics.duplicates == resent.count)
        #expect(statistics.deadLettered == work.deadLetters)
        #expect(try await fixture.rows() == work.expectedRows)

        // A new instance resumes from the stored offsets: it applies only what came after
        // (a marker), and nothing old a second time.
        let countBefore = work.messages.count
        try work.add("marker", balance: 1)
        try await fixture.publish([work.messages[countBefore]])
        let again = try await fixture.runWriter(until: { $0.applied >= 1 }, timeout: .seconds(60))
        #expect(again.applied == 1)
        #expect(again.consumed == 1)
        #expect(try await fixture.rows() == work.expectedRows)

        // Every dead letter is on the dead-letter topic with its reason and source.
        let letters = try await Self.readAll(fixture.configuration.writer(named: fixture.name)!.deadLetterTopic, fixture)
        #expect(letters.count == work.deadLetters)
        for letter in letters {
            #expect(letter.headers.value(named: DeadLetter.Header.topic) == Array(fixture.topic.utf8))
            #expect(letter.headers.value(named: DeadLetter.Header.reason) != nil)
            #expect(letter.headers.value(named: DeadLetter.Header.offset) != nil)
        }
        let reasons = Set(letters.compactMap { $0.headers.value(named: DeadLetter.Header.reason).map { String(decoding: $0, as: UTF8.self) } })
        #expect(reasons.isSuperset(of: ["invalid-json", "unknown-contract", "invalid-payload"]))
    }

    @Test("a row the database rejects is dead-lettered alone; the rest of its batch lands")
    func rejectedRow() async throws {
        let fixture = try await WriterFixture(partitions: 1)
        try await fixture.db.execute(script: "ALTER TABLE \(fixture.table) ADD CONSTRAINT no_huge CHECK (balance_cents < 1000000)")
        var work = Workload(topic: fixture.topic)
        try work.add("ok-1", balance: 10)
        try work.add("huge", balance: 5_000_000)
        try work.add("ok-2", balance: 20)
        work.rows["huge"] = nil
        try await fixture.publish(work.messages)
        let statistics = try await fixture.runWriter(until: { $0.consumed >= 3 })
        #expect(statistics.deadLettered == 1)
        // However the three formed batches, the one holding the rejected row ran again
        // entity by entity, and only that one.
        #expect(statistics.isolatedBatches == 1)
        #expect(try await fixture.rows() == work.expectedRows)
        let letters = try await Self.readAll(fixture.configuration.writer(named: fixture.name)!.deadLetterTopic, fixture)
        #expect(letters.first?.headers.value(named: DeadLetter.Header.reason) == Array("rejected-by-database".utf8))
    }

    @Test("a valid contract with a NUL in its key or a field is dead-lettered alone; the writer goes on")
    func nulText() async throws {
        let fixture = try await WriterFixture(partitions: 1)
        var work = Workload(topic: fixture.topic)
        try work.add("ok-1", balance: 10)
        try work.add("nul\u{0}key", balance: 1)
        try work.add("nul-field", balance: 2)
        try work.update("nul-field", owner: "a\u{0}b")
        try work.add("ok-2", balance: 20)
        work.rows["nul\u{0}key"] = nil
        work.rows["nul-field"] = nil
        try await fixture.publish(work.messages)
        let statistics = try await fixture.runWriter(until: { $0.consumed >= 5 })
        #expect(statistics.deadLettered == 3, "the key's add, and the add and update folded into one entity")
        #expect(try await fixture.rows() == work.expectedRows)
        let letters = try await Self.readAll(fixture.configuration.writer(named: fixture.name)!.deadLetterTopic, fixture)
        #expect(letters.map { $0.headers.value(named: DeadLetter.Header.reason) } == Array(repeating: Array("rejected-by-database".utf8), count: 3))
        // A replay folds both states the table refused, and --verify-db lists each as a
        // difference instead of stopping at the first refusal.
        let replay = try TopicReplay(configuration: fixture.configuration, cache: try ContractName("bench.Account"), logger: WriterFixture.logger)
        let fold = try await replay.fold(timeout: .seconds(60))
        let differences = try await replay.verify(fold, on: fixture.db)
        #expect(differences.map { Array($0.key.utf8) }.sorted { $0.lexicographicallyPrecedes($1) } == [Array("nul\u{0}key".utf8), Array("nul-field".utf8)], "\(differences)")
        #expect(differences.allSatisfy { $0.problem.hasPrefix("the topic's state cannot be stored in the table") }, "\(differences)")
    }

    @Test("what the writer's own statements would refuse is dead-lettered, never a stop: an origin with U+0000 or of 300 bytes, an update then add of a key with U+0000, two adds whose key field names one row under two keys")
    func poisonOutsideTheRows() async throws {
        let fixture = try await WriterFixture(partitions: 1)
        var work = Workload(topic: fixture.topic)
        try work.add("ok-1", balance: 10)
        // Encoded with a placeholder origin, then given the origin no unit could have:
        // the codec refuses to encode it.
        func withOrigin(_ origin: String, key: String) throws -> [UInt8] {
            var probe = Workload(topic: fixture.topic)
            probe.origin = "origin-placeholder"
            try probe.add(key, balance: 1)
            let body = String(decoding: probe.messages[0].value ?? [], as: UTF8.self)
            return Array(body.replacingOccurrences(of: "origin-placeholder", with: origin).utf8)
        }
        work.raw(try withOrigin("u\\u0000x", key: "nul-origin"), key: "nul-origin")
        work.raw(try withOrigin(String(repeating: "o", count: 300), key: "long-origin"), key: "long-origin")
        try work.update("n\u{0}", delta: 1)
        try work.add("n\u{0}", balance: 1)
        work.rows["n\u{0}"] = nil
        work.deadLetters += 1
        let twin: JSONObject = ["id": .string("x"), "owner": .string("o"), "balance": .int(1), "currency": .string("EUR"), "status": .string("open"), "updatedAt": .int(0)]
        try work.publish(.add, key: "a", fields: twin)
        try work.publish(.add, key: "b", fields: twin)
        work.deadLetters += 2
        try work.add("ok-2", balance: 20)
        try await fixture.publish(work.messages)
        let statistics = try await fixture.runWriter(until: { $0.consumed >= 8 })
        #expect(work.deadLetters == 6)
        #expect(statistics.deadLettered == 6, "\(statistics)")
        #expect(try await fixture.rows() == work.expectedRows)
        let letters = try await Self.readAll(fixture.configuration.writer(named: fixture.name)!.deadLetterTopic, fixture)
        let reasons = letters.map { String(decoding: $0.headers.value(named: DeadLetter.Header.reason) ?? [], as: UTF8.self) }
        #expect(reasons.filter { $0 == "invalid-envelope" }.count == 2 && reasons.filter { $0 == "invalid-payload" }.count == 2, "\(reasons)")
        // The update of the NUL key finds no row when its add shares its batch, and is
        // refused by the database when the add came in a later one.
        #expect(reasons.filter { $0 == "missing-row" || $0 == "rejected-by-database" }.count == 2, "\(reasons)")
    }

    @Test("an update of a row deleted by an earlier batch is a dead letter even when an add of the same key follows it in its batch")
    func updateBeforeAddOfMissingRow() async throws {
        let fixture = try await WriterFixture(partitions: 1)
        var work = Workload(topic: fixture.topic)
        try work.add("gone", balance: 5)
        try work.delete("gone")
        try work.add("kept", balance: 9)
        try await fixture.publish(work.messages)
        _ = try await fixture.runWriter(until: { $0.consumed >= 3 })
        // One batch: the first update finds no row, whatever the add after it does; the
        // update of an existing row before its delete is applied, then deleted.
        let first = work.messages.count
        try work.update("gone", delta: 1)
        try work.add("gone", balance: 7)
        try work.update("kept", status: "frozen")
        try work.delete("kept")
        try await fixture.publish(work.messages[first...])
        let statistics = try await fixture.runWriter(until: { $0.consumed >= 4 })
        #expect(work.deadLetters == 1)
        #expect(statistics.deadLettered == 1)
        #expect(try await fixture.rows() == work.expectedRows)
        let letters = try await Self.readAll(fixture.configuration.writer(named: fixture.name)!.deadLetterTopic, fixture)
        #expect(letters.count == 1)
        #expect(letters.first?.headers.value(named: DeadLetter.Header.reason) == Array("missing-row".utf8))
    }

    @Test("contracts committed by a transactional producer: the markers' offsets are gaps, read again for the window once, counted absent; every contract lands")
    func transactionMarkers() async throws {
        let fixture = try await WriterFixture(partitions: 1)
        var work = Workload(topic: fixture.topic)
        for key in ["a", "b", "c"] { try work.add(key, balance: 2) }
        try work.update("b", delta: 3)
        // One transaction per contract: a marker's offset after each of them.
        try TransactionalProducer.commit(work.messages.map { message in
            [TransactionalProducer.Record(topic: fixture.topic, partition: 0, key: message.key, value: message.value ?? [])]
        }, brokers: TestStack.kafkaBrokers)
        let statistics = try await fixture.runWriter(until: { $0.consumed >= 4 })
        #expect(try await fixture.rows() == work.expectedRows)
        #expect(statistics.deadLettered == 0 && statistics.duplicates == 0)
        #expect(statistics.offsetGapsAbsent == 3 && statistics.offsetGapsReread == 0, "\(statistics)")
        // The stored offset is past the last record, not at it: the writer went on after its marker.
        #expect(try await fixture.committedOffsets() == 7)
    }

    @Test("a stored offset beyond the partition's end (a recreated topic) stops the writer, naming it; nothing is skipped, and the documented fix resumes from the start")
    func storedOffsetBeyondLog() async throws {
        let fixture = try await WriterFixture(partitions: 1)
        var work = Workload(topic: fixture.topic)
        try work.add("acc-1", balance: 5)
        try work.add("acc-2", balance: 6)
        try await fixture.publish(work.messages)
        // What a database keeps from a topic that was deleted and created again: progress
        // far past the two messages the new log holds.
        try await fixture.db.query(
            "INSERT INTO pumphouse_writer_offsets (writer, topic, partition, next_offset, epoch, owner) VALUES ($1, $2, 0, 9, 1, 'earlier')",
            [fixture.name, fixture.topic]
        )
        let error = await #expect(throws: StoredOffsetOutsideLog.self) {
            _ = try await fixture.runWriter(until: { _ in false }, timeout: .seconds(60))
        }
        #expect(error?.partition == KafkaTopicPartition(topic: fixture.topic, partition: 0))
        #expect(error?.storedOffset == 9)
        #expect(error?.watermarks.high == 2)
        let text = error.map(String.init(describing:)) ?? ""
        #expect(text.contains("beyond the log's end") && text.contains("DELETE FROM pumphouse_writer_offsets WHERE writer = '\(fixture.name)'"), "\(text)")
        #expect(try await fixture.rows().isEmpty, "nothing applied from a log the stored progress does not describe")

        // The fix the error names: the writer's progress for the topic removed, it writes
        // the log from its start.
        try await fixture.db.query("DELETE FROM pumphouse_writer_offsets WHERE writer = $1 AND topic = $2", [fixture.name, fixture.topic])
        try await fixture.db.query("DELETE FROM pumphouse_writer_origins WHERE writer = $1 AND topic = $2", [fixture.name, fixture.topic])
        _ = try await fixture.runWriter(until: { $0.consumed >= 2 })
        #expect(try await fixture.rows() == work.expectedRows)
    }

    @Test("a mapping that does not fit the table stops start-up, naming each problem", arguments: [
        ("DROP TABLE {t}", "does not exist"),
        ("ALTER TABLE {t} DROP COLUMN owner", "{t}.owner does not exist"),
        ("ALTER TABLE {t} ALTER COLUMN owner TYPE bigint USING 0", "field \"owner\" is string"),
        ("ALTER TABLE {t} ALTER COLUMN updated_at TYPE text", "not a timestamp"),
        ("ALTER TABLE {t} ADD COLUMN region text NOT NULL", "{t}.region is NOT NULL without a default"),
        ("ALTER TABLE {t} DROP CONSTRAINT {t}_pkey", "no unique index on the key columns"),
    ])
    func catalogMismatch(change: String, mentions: String) async throws {
        let fixture = try await WriterFixture(partitions: 1)
        try await fixture.db.execute(script: change.replacing("{t}", with: fixture.table))
        let error = await #expect(throws: (any Error).self) { try await fixture.writer().run() }
        #expect(String(describing: error!).contains(mentions.replacing("{t}", with: fixture.table)), "\(String(describing: error!))")
    }

    @Test("the writer process serves /healthz, /readyz and /metrics")
    func endpoints() async throws {
        let fixture = try await WriterFixture(partitions: 1)
        var work = Workload(topic: fixture.topic)
        try work.add("acc-1", balance: 5)
        work.raw(Array("not json".utf8))
        try await fixture.publish(work.messages)

        // Below Linux's ephemeral range (32768 and up), where an outgoing connection may hold it.
        let port = Int.random(in: 20_000...32_000)
        let path = "\(fixture.directory)/pipeline-http.yaml"
        try WriterFixture.pipeline(name: fixture.name, topic: fixture.topic, table: fixture.table, partitions: 1, batch: 100, httpPort: port)
            .write(toFile: path, atomically: true, encoding: .utf8)
        let log = "\(fixture.directory)/writer-http.log"
        let process = try PumphouseProcess.start(["writer", "--config", path, "--writer", fixture.name], log: log)
        defer { if process.isRunning { process.terminate() } }
        @Sendable func get(_ endpoint: String) async -> (Int, String)? {
            guard let (data, response) = try? await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)\(endpoint)")!) else { return nil }
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
        }
        let health = try await waitFor("/healthz", timeout: .seconds(30)) { () -> (Int, String)? in
            try await Task.sleep(for: .milliseconds(100))
            guard process.isRunning else {
                Issue.record("the writer exited \(process.terminationStatus): \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
                throw CancellationError()
            }
            return await get("/healthz")
        }
        #expect(health.0 == 200)
        _ = try await waitFor("/readyz to say ready", timeout: .seconds(30)) { () -> Bool? in
            try await Task.sleep(for: .milliseconds(100))
            return await get("/readyz")?.0 == 200 ? true : nil
        }
        let metrics = try await waitFor("both messages in /metrics", timeout: .seconds(60)) { () -> String? in
            try await Task.sleep(for: .milliseconds(200))
            guard let (status, body) = await get("/metrics"), status == 200 else { return nil }
            return body.contains("pumphouse_writer_consumed_total{writer=\"\(fixture.name)\"} 2") ? body : nil
        }
        #expect(metrics.contains("pumphouse_writer_dead_lettered_total{writer=\"\(fixture.name)\",reason=\"invalid-json\"} 1"))
        #expect(metrics.contains("pumphouse_writer_stored_offset"))
        #expect(metrics.contains("pumphouse_writer_batch_duration_seconds"))
        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }

    @Test("loadgen's workload, written by the writer, replays equal to the database; tampering is reported")
    func loadgenAndReplay() async throws {
        let fixture = try await WriterFixture(partitions: 3)
        let path = "\(fixture.directory)/pipeline.yaml"
        let generated = try await PumphouseProcess.run(["loadgen", "--config", path, "--count", "3000", "--keys", "100", "--origins", "3", "--seed", "5"])
        #expect(generated.status == 0, "\(generated.errors)")
        #expect(generated.output.contains("sent 3000 of 3000 contracts"))

        _ = try await fixture.runWriter(until: { $0.consumed >= 3000 })
        let equal = try await PumphouseProcess.run(["replay", "--config", path, "--cache", "bench.Account", "--verify-db"])
        #expect(equal.status == 0, "\(equal.output)\(equal.errors)")
        #expect(equal.output.contains("the database equals the topic"))

        let victims = try await fixture.db.query("SELECT id FROM \(fixture.table) ORDER BY id LIMIT 2").rows.map { $0[0]! }
        try #require(victims.count == 2)
        try await fixture.db.query("UPDATE \(fixture.table) SET balance_cents = balance_cents + 1 WHERE id = $1", [victims[0]])
        try await fixture.db.query("DELETE FROM \(fixture.table) WHERE id = $1", [victims[1]])
        let different = try await PumphouseProcess.run(["replay", "--config", path, "--cache", "bench.Account", "--verify-db"])
        #expect(different.status == 1)
        #expect(different.output.contains("\(victims[0]): differs: balance_cents"))
        #expect(different.output.contains("\(victims[1]): missing from the database"))
    }

    /// Every message of the topic's first `partitions` partitions, read to their ends.
    static func readAll(_ topic: String, _ fixture: WriterFixture, partitions: Int32 = 1, timeout: Duration = .seconds(30)) async throws -> [KafkaMessage] {
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(connection: fixture.configuration.kafka), logger: WriterFixture.logger)
        try await consumer.assign((0..<partitions).map { KafkaTopicPartitionOffset(topic: topic, partition: $0, offset: .beginning) })
        var messages: [KafkaMessage] = []
        var ended = Set<Int32>()
        _ = try await waitFor("the end of \(topic)", timeout: timeout) { () -> Bool? in
            for event in try await consumer.poll() {
                if case .messages(let batch) = event { messages += batch }
                if case .partitionEOF(let partition, _) = event { ended.insert(partition.partition) }
            }
            return ended.count == partitions ? true : nil
        }
        try await consumer.close()
        return messages
    }
}

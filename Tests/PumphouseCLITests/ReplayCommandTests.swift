import Foundation
import PumphouseContracts
import PumphouseKafka
import PumphousePostgres
import PumphouseTestSupport
import Testing

/// `pumphouse replay` run as an operator runs it, over a topic of its own whose every
/// message and offset the test chose, so the folded state can be checked byte for byte.
@Suite("pumphouse replay", .localStack, .removingWhatItMakes, .timeLimit(.minutes(3)))
struct ReplayCommandTests {
    /// Full state after the whole topic: acc-b and acc-y are deleted, the resent add of
    /// acc-b is a duplicate.
    static let wholeTopic = """
        {"key":"acc-a","state":{"balance":105,"currency":"EUR","id":"acc-a","owner":"owner-a","status":"frozen","updatedAt":1763700000000}}
        {"key":"acc-c","state":{"balance":250,"currency":"EUR","id":"acc-c","owner":"owner-c","status":"open","updatedAt":1763700000000}}
        {"key":"acc-x","state":{"balance":1000,"currency":"EUR","id":"acc-x","owner":"owner-x","status":"closed","updatedAt":1763700000000}}

        """

    @Test("--out holds the fold of the whole topic, sorted by key; --verify-db (from earliest) compares it with the table")
    func wholeTopic() async throws {
        let fixture = try await ReplayFixture()
        let out = "\(fixture.directory)/state.jsonl"
        let run = try await fixture.replay(["--out", out])
        #expect(run.status == 0, "\(run.errors)")
        #expect(run.output.contains("replayed 11 contracts into 3 entities (1 duplicates collapsed, 0 that a writer dead-letters)"), "\(run.output)")
        #expect(try String(contentsOfFile: out, encoding: .utf8) == Self.wholeTopic)
        #expect(!FileManager.default.fileExists(atPath: "\(out).tmp"))

        try await fixture.createTable(rows: [("acc-a", "owner-a", 105, "frozen"), ("acc-c", "owner-c", 250, "open"), ("acc-x", "owner-x", 1000, "closed")])
        let equal = try await fixture.replay(["--verify-db", "--from", "earliest"])
        #expect(equal.status == 0, "\(equal.output)\(equal.errors)")
        #expect(equal.output.contains("the database equals the topic"), "\(equal.output)")
        try await fixture.sql("UPDATE \(fixture.table) SET balance_cents = 251 WHERE id = 'acc-c'")
        let different = try await fixture.replay(["--verify-db"])
        #expect(different.status == 1, "\(different.errors)")
        #expect(different.output.contains("acc-c: differs: balance_cents 251 (expected 250)"), "\(different.output)")
    }

    @Test("--from PARTITION:OFFSET folds only the changes from there; unlisted partitions start at earliest")
    func fromOffsets() async throws {
        let fixture = try await ReplayFixture()
        let out = "\(fixture.directory)/later.jsonl"
        // Partition 0 from its update of acc-a, which was added earlier: that update has no
        // row to apply to, acc-c is added and changed, acc-b's delete finds nothing.
        let later = try await fixture.replay(["--from", "0:3", "--out", out])
        #expect(later.status == 0, "\(later.errors)")
        #expect(later.output.contains("started at 0:3,1:earliest"), "\(later.output)")
        #expect(later.output.contains("replayed 8 contracts into 2 entities (1 duplicates collapsed, 1 that a writer dead-letters)"), "\(later.output)")
        #expect(try String(contentsOfFile: out, encoding: .utf8) == """
            {"key":"acc-c","state":{"balance":250,"currency":"EUR","id":"acc-c","owner":"owner-c","status":"open","updatedAt":1763700000000}}
            {"key":"acc-x","state":{"balance":1000,"currency":"EUR","id":"acc-x","owner":"owner-x","status":"closed","updatedAt":1763700000000}}

            """)

        // Both partitions listed, each past every add that survives: nothing is left.
        let empty = try await fixture.replay(["--from", "1:2,0:5", "--out", out])
        #expect(empty.status == 0, "\(empty.errors)")
        #expect(empty.output.contains("started at 0:5,1:2"), "\(empty.output)")
        #expect(empty.output.contains("replayed 4 contracts into 0 entities (1 duplicates collapsed, 1 that a writer dead-letters)"), "\(empty.output)")
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "")

        // At each partition's end: nothing to read, and the end is still recognised.
        let atEnd = try await fixture.replay(["--from", "0:8,1:4"])
        #expect(atEnd.status == 0, "\(atEnd.errors)")
        #expect(atEnd.output.contains("replayed 0 contracts into 0 entities"), "\(atEnd.output)")
    }

    @Test("--from TIMESTAMP accepts ISO 8601 and epoch milliseconds and runs (the local broker resolves timestamps wrongly, so offsets are not checked)")
    func fromTimestamp() async throws {
        let fixture = try await ReplayFixture()
        for timestamp in ["2026-11-21T10:00:00Z", "2026-11-21T11:00:00.500+01:00", "1763700000000"] {
            let run = try await fixture.replay(["--from", timestamp, "--out", "\(fixture.directory)/t.jsonl"])
            #expect(run.status == 0, "\(timestamp): \(run.errors)")
            #expect(run.output.contains("started at 0:"), "\(timestamp): \(run.output)")
            #expect(FileManager.default.fileExists(atPath: "\(fixture.directory)/t.jsonl"))
        }
    }

    @Test("a bad --from is a usage error (exit 2) naming the flag, and an earlier --out file is left as it was")
    func badFrom() async throws {
        let fixture = try await ReplayFixture()
        let out = "\(fixture.directory)/kept.jsonl"
        try "earlier run\n".write(toFile: out, atomically: true, encoding: .utf8)
        let cases: [(spec: String, says: String)] = [
            ("0:abc", #"offset "abc" of partition 0 must be a number"#),
            ("x:1", #"partition "x" must be a number"#),
            ("-1:5", #"partition "-1" must be a number from 0"#),
            ("0:-5", #"offset "-5" of partition 0 must be a number from 0"#),
            ("0:1,0:2", "partition 0 is listed twice"),
            ("0:1,", "\"\" is not PARTITION:OFFSET"),
            ("yesterday", "is not understood"),
            ("2026-11-31T10:00:00Z", "is not an ISO 8601 time"),
            ("2026-11-21T10:00:00", "is not an ISO 8601 time"),
            ("1969-12-31T23:59:59Z", "is before 1970"),
            ("1763700000", "if it is seconds, multiply by 1000"),
            // Needs the broker: the topic has partitions 0 and 1.
            ("5:0", "topic \(fixture.topic) has no partition 5 (its partitions: 0-1)"),
        ]
        for (spec, says) in cases {
            let run = try await fixture.replay(["--from", spec, "--out", out])
            #expect(run.status == 2, "--from \(spec): \(run.output)\(run.errors)")
            #expect(run.errors.contains("--from \(spec)"), "--from \(spec): \(run.errors)")
            #expect(run.errors.contains(says), "--from \(spec): \(run.errors)")
        }
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "earlier run\n")
        #expect(!FileManager.default.fileExists(atPath: "\(out).tmp"))
    }

    @Test("--verify-db with a --from other than earliest is a usage error that says why")
    func verifyNeedsEarliest() async throws {
        let fixture = try await ReplayFixture()
        for spec in ["0:3", "2026-11-21T10:00:00Z"] {
            let run = try await fixture.replay(["--from", spec, "--verify-db"])
            #expect(run.status == 2, "\(run.output)\(run.errors)")
            #expect(run.errors.contains("--verify-db needs --from earliest"), "\(run.errors)")
            #expect(run.errors.contains("lacks the changes before it"), "\(run.errors)")
        }
    }

    @Test("a replay that fails after connecting (a start past the partition's end) exits 1 and writes no file")
    func failedRunWritesNothing() async throws {
        let fixture = try await ReplayFixture()
        let out = "\(fixture.directory)/never.jsonl"
        // Kafka answers such a fetch out of range; the local broker does not answer at
        // all, so the replay's own timeout ends it. Either way it must fail.
        let run = try await fixture.replay(["--from", "0:1000", "--out", out, "--timeout", "3"])
        #expect(run.status == 1, "\(run.output)\(run.errors)")
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(!FileManager.default.fileExists(atPath: "\(out).tmp"))
    }
}

/// A private topic with two partitions and a known history, and a pipeline file that
/// points bench.Account at it.
///
/// Partition 0: 0 add acc-a 100, 1 add acc-b 200, 2 acc-a +5, 3 acc-a frozen,
/// 4 add acc-c 300, 5 acc-c -50, 6 delete acc-b, 7 the add of acc-b resent (duplicate).
/// Partition 1: 0 add acc-x 1000, 1 acc-x closed, 2 add acc-y 50, 3 delete acc-y.
struct ReplayFixture {
    static let logger = TestStack.logger("pumphouse.tests.replay")

    let name: String
    let topic: String
    let table: String
    let directory: String
    let config: String

    init() async throws {
        name = TestStack.uniqueName("rp")
        topic = "\(name).account"
        table = "\(name)_account"
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(name).path
        config = "\(directory)/pipeline.yaml"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try """
            kafka: { brokers: "\(TestStack.kafkaBrokers)" }
            postgres: { url: "\(TestStack.postgresURL)" }
            schemas: \(PumphouseProcess.repository)/Schemas
            migrations: \(PumphouseProcess.repository)/Migrations
            caches:
              bench.Account:
                topic: \(topic)
                partitions: 2
                mapping:
                  table: \(table)
                  columns:
                    id: id
                    owner: owner
                    balance_cents: { field: balance, type: bigint }
                    currency: currency
                    status: status
                    updated_at: { field: updatedAt, transform: epoch_ms_to_timestamp }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let connection = KafkaConnectionConfiguration(brokers: TestStack.kafkaBrokers)
        try await KafkaAdmin(configuration: KafkaAdminConfiguration(connection: connection), logger: Self.logger)
            .createTopics([KafkaTopicSpecification(name: topic, partitions: 2)])
        try await publish(connection)
    }

    private func publish(_ connection: KafkaConnectionConfiguration) async throws {
        func account(_ id: String, _ balance: Int64) -> JSONObject {
            ["id": .string(id), "owner": .string("owner-\(id.dropFirst(4))"), "balance": .int(balance), "currency": .string("EUR"), "status": .string("open"), "updatedAt": .int(1_763_700_000_000)]
        }
        func change(_ action: ContractAction, _ key: String, _ sequence: Int64, origin: String = "unit-a", fields: JSONObject = [:], deltas: JSONObject = [:]) throws -> Contract {
            Contract(name: try ContractName("bench.Account"), version: 2, action: action, key: key, origin: origin, sequence: sequence, eventTime: 0, fields: fields, deltas: deltas)
        }
        let history: [(partition: Int32, contract: Contract)] = [
            (0, try change(.add, "acc-a", 1, fields: account("acc-a", 100))),
            (0, try change(.add, "acc-b", 2, fields: account("acc-b", 200))),
            (0, try change(.update, "acc-a", 3, deltas: ["balance": .int(5)])),
            (0, try change(.update, "acc-a", 4, fields: ["status": .string("frozen")])),
            (0, try change(.add, "acc-c", 5, fields: account("acc-c", 300))),
            (0, try change(.update, "acc-c", 6, deltas: ["balance": .int(-50)])),
            (0, try change(.delete, "acc-b", 7)),
            (0, try change(.add, "acc-b", 2, fields: account("acc-b", 200))),
            (1, try change(.add, "acc-x", 8, fields: account("acc-x", 1000))),
            (1, try change(.update, "acc-x", 9, fields: ["status": .string("closed")])),
            (1, try change(.add, "acc-y", 1, origin: "unit-b", fields: account("acc-y", 50))),
            (1, try change(.delete, "acc-y", 2, origin: "unit-b")),
        ]
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(connection: connection), logger: Self.logger)
        var next: [Int32: Int64] = [0: 0, 1: 0]
        for (partition, contract) in history {
            let encoded = try ContractCodec().encode(contract)
            let delivered = try await producer.deliver(KafkaProducerMessage(
                topic: topic, partition: partition, key: Array(encoded.key.utf8), value: encoded.value,
                headers: encoded.headers.map { KafkaHeader(name: $0.name, string: $0.value) }
            ))
            // The expectations name offsets; a topic that did not start at 0 would make
            // every --from case test something else.
            try #require(delivered.offset == next[partition], "\(topic)[\(partition)] offset \(delivered.offset)")
            next[partition, default: 0] += 1
        }
        try await producer.shutdown()
    }

    /// Runs `pumphouse replay` on this fixture's cache; every run is bounded by its own
    /// --timeout, and killed if it outlives that by far.
    func replay(_ arguments: [String]) async throws -> (status: Int32, output: String, errors: String) {
        let timeout = arguments.contains("--timeout") ? [] : ["--timeout", "60"]
        return try await PumphouseProcess.run(["replay", "--config", config, "--cache", "bench.Account"] + arguments + timeout)
    }

    /// The fixture's table, holding these rows (the other columns as every add sets them).
    func createTable(rows: [(id: String, owner: String, balance: Int64, status: String)]) async throws {
        let migrate = try await PumphouseProcess.run(["migrate", "--config", config])
        try #require(migrate.status == 0, "\(migrate.errors)")
        let values = rows.map { "('\($0.id)', '\($0.owner)', \($0.balance), 'EUR', '\($0.status)', to_timestamp(1763700000))" }
        try await sql("""
            CREATE TABLE \(table) (LIKE bench_account INCLUDING ALL);
            INSERT INTO \(table) (id, owner, balance_cents, currency, status, updated_at) VALUES \(values.joined(separator: ", "));
            """)
    }

    func sql(_ script: String) async throws {
        let db = try await PostgresConnection.connect(configuration: PostgresConfiguration(url: TestStack.postgresURL), logger: Self.logger)
        do {
            try await db.execute(script: script)
        } catch {
            await db.close()
            throw error
        }
        await db.close()
    }
}

import Foundation
import PumphouseContracts
import PumphouseKafka
import PumphousePipeline
import PumphousePostgres
import PumphouseTestSupport
@testable import PumphouseWriter
import Testing

/// A mapper that keeps balances in a table of its own and writes a journal row per
/// change: two tables per change, which a declarative mapping cannot do.
struct BalanceMapper: ContractMapper {
    let balances: String
    let journal: String

    struct Poison: Error, CustomStringConvertible {
        var description: String { "accounts named poison-* cannot be written" }
    }

    func statements(for change: EntityChange) throws -> [PostgresStatement] {
        guard !change.key.hasPrefix("poison") else { throw Poison() }
        let journal = PostgresStatement("INSERT INTO \(self.journal) (id, kind) VALUES ($1, $2)", [change.key, "\(change.effect)".prefix(6).description])
        switch change.effect {
        case .upsert(let row):
            let balance: Int64 = row["balance"].flatMap { value -> Int64? in if case .int(let i) = value { i } else { nil } } ?? 0
            return [journal, PostgresStatement(
                "INSERT INTO \(balances) (id, balance) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET balance = EXCLUDED.balance", [change.key, balance]
            )]
        case .update(_, let deltas):
            let delta: Int64 = deltas["balance"].flatMap { value -> Int64? in if case .int(let i) = value { i } else { nil } } ?? 0
            return [journal, PostgresStatement("UPDATE \(balances) SET balance = balance + $1 WHERE id = $2", [delta, change.key])]
        case .delete:
            return [journal, PostgresStatement("DELETE FROM \(balances) WHERE id = $1", [change.key])]
        case .create:
            throw Poison()  // these tests never create
        }
    }

    func check(_ db: PostgresConnection) async throws {
        for table in [balances, journal] where try await db.query("SELECT to_regclass($1) IS NOT NULL", [table]).scalar(Bool.self) != true {
            throw PostgresError(kind: .server, message: "table \(table) is missing; create it before starting the writer", operation: "check BalanceMapper")
        }
    }
}

@Suite("Custom mappers and fencing against the local broker and PostgreSQL", .localStack, .removingWhatItMakes, .serialized, .timeLimit(.minutes(3)))
struct ContractMapperTests {
    @Test("a Swift mapper writes two tables per change in the writer's transaction; its failures are dead-lettered")
    func customMapper() async throws {
        let fixture = try await WriterFixture(partitions: 2)
        let mapper = BalanceMapper(balances: "\(fixture.name)_balances", journal: "\(fixture.name)_journal")
        let yaml = WriterFixture.pipeline(name: fixture.name, topic: fixture.topic, table: fixture.table, partitions: 2, batch: 100, customMapping: true)
        try yaml.write(toFile: "\(fixture.directory)/custom.yaml", atomically: true, encoding: .utf8)
        let configuration = try PipelineConfiguration.load(path: "\(fixture.directory)/custom.yaml", environment: [:])
        let account = try ContractName("bench.Account")

        // Without its mapper, a `mapping: custom` cache is a configuration error.
        let missing = try #require(throws: ConfigurationError.self) {
            try DataWriter(configuration: configuration, writer: fixture.name, logger: WriterFixture.logger)
        }
        #expect(missing.setting == "caches.bench.Account.mapping" && missing.message.contains("ContractMapper"), "\(missing)")

        // A mapper whose tables are missing stops start-up with its own message.
        let unready = try DataWriter(configuration: configuration, writer: fixture.name, mappers: [account: mapper], logger: WriterFixture.logger)
        await #expect(throws: PostgresError.self) { try await unready.run() }

        try await fixture.db.execute(script: """
            CREATE TABLE \(mapper.balances) (id text PRIMARY KEY, balance bigint NOT NULL);
            CREATE TABLE \(mapper.journal) (n bigserial PRIMARY KEY, id text NOT NULL, kind text NOT NULL);
            """)
        var work = Workload(topic: fixture.topic)
        var rng = SplitMix(state: 5)
        let keys = (0..<20).map { "acc-\($0)" }
        for key in keys { try work.add(key, balance: 100) }
        for _ in 0..<300 {
            let key = keys.randomElement(using: &rng)!
            if Int.random(in: 0..<10, using: &rng) == 0 { try work.delete(key) } else if work.rows[ExactKey(key)] == nil { try work.add(key, balance: 7) } else { try work.update(key, delta: Int64.random(in: -9...9, using: &rng)) }
        }
        try work.add("poison-1", balance: 1)
        work.rows[ExactKey("poison-1")] = nil
        try await fixture.publish(work.messages)

        let writer = try DataWriter(configuration: configuration, writer: fixture.name, mappers: [account: mapper], logger: WriterFixture.logger)
        let total = work.messages.count
        let statistics = try await fixture.run(writer, until: { $0.consumed >= total })
        #expect(statistics.deadLettered == 1)
        let balances = try await fixture.db.query("SELECT id, balance FROM \(mapper.balances)").rows
        let expected = work.rows.mapValues { row -> String in if case .int(let i)? = row["balance"] { String(i) } else { "?" } }
        #expect(Dictionary(uniqueKeysWithValues: balances.map { (ExactKey($0[0]!), $0[1]!) }) == expected)
        // One journal row per folded change: at least one per key, at most one per contract.
        let journaled = try await fixture.db.query("SELECT count(*) FROM \(mapper.journal)").scalar(Int.self) ?? 0
        #expect((keys.count...work.messages.count).contains(journaled), "\(journaled) journal rows")
        let letters = try await DataWriterTests.readAll(configuration.writer(named: fixture.name)!.deadLetterTopic, fixture)
        #expect(letters.map { $0.headers.value(named: DeadLetter.Header.reason) } == [Array("unmappable".utf8)])
    }

    @Test("a member whose partition was claimed by another cannot commit for it; its other partitions still commit")
    func fencing() async throws {
        let fixture = try await WriterFixture(partitions: 2)
        let writer = try fixture.writer()
        let (p0, p1) = (KafkaTopicPartition(topic: fixture.topic, partition: 0), KafkaTopicPartition(topic: fixture.topic, partition: 1))
        let first = WriterLedger(writer: fixture.name, owner: "member-a")
        let second = WriterLedger(writer: fixture.name, owner: "member-b")
        let claims = try await first.claim([p0, p1], on: fixture.db)
        // A rebalance gave partition 1 to another member, which claimed it.
        _ = try await second.claim([p1], on: fixture.db)

        var work = Workload(topic: fixture.topic)
        for key in ["a", "b", "c", "d"] { try work.add(key, balance: 1) }
        let messages = work.messages.enumerated().map { index, message in
            KafkaMessage(topic: fixture.topic, partition: Int32(index % 2), offset: Int64(index / 2), key: message.key, value: message.value, headers: message.headers)
        }
        let cache = try #require(fixture.configuration.caches.first)
        let table = MappedTable(contract: cache.contract, mapping: try #require(cache.mapping), keyField: "id")
        let types = try await CatalogCheck.run(tables: [table], registry: try SchemaRepository(directory: fixture.configuration.schemasDirectory).load(), db: fixture.db)
        let transaction = BatchTransaction(writer: fixture.name, deadLetterTopic: "unused", ledger: first, tables: [cache.contract: table], mappers: [:], columnTypes: types)
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(connection: fixture.configuration.kafka), logger: WriterFixture.logger)
        defer { Task { try? await producer.shutdown() } }

        // The whole batch cannot commit as planned...
        var plan = writer.plan(messages, claims: claims, started: .now).plan
        await #expect(throws: WriterLedger.Fenced.self) {
            try await transaction.apply(&plan, claims: claims, db: fixture.db, deadLetters: producer, isolated: false)
        }
        #expect(try await fixture.rows().isEmpty, "a fenced batch must roll back whole")
        // ...so the writer drops the lost partition and commits the rest.
        let applied = try await writer.apply(writer.plan(messages, claims: claims, started: .now), transaction: transaction, db: fixture.db, deadLetters: producer)
        #expect(applied.fenced == [p1])
        #expect(Set(try await fixture.rows().keys) == ["a", "c"])
        let offsets = try await fixture.db.query(
            "SELECT partition, next_offset, owner FROM pumphouse_writer_offsets WHERE writer = $1 ORDER BY partition", [fixture.name]
        ).rows
        #expect(offsets == [["0", "2", "member-a"], ["1", "-1", "member-b"]])
    }
}

import Logging
import PumphouseContracts
import PumphouseKafka
import PumphousePipeline
import PumphousePostgres
import PumphouseTestSupport
@testable import PumphouseWriter
import Testing

/// The set-based path's staging tables live for the session, each with the shape of
/// the table it was made for.
@Suite("Staging tables across batches", .localStack, .removingWhatItMakes, .timeLimit(.minutes(2)))
struct StagingTableTests {
    @Test("tables of different shapes keep the set-based path in every batch, whichever of them a batch holds")
    func shapes() async throws {
        let db = try await PostgresConnection.connect(configuration: PostgresConfiguration(url: TestStack.postgresURL), logger: Logger(label: "test"))
        // The ledger's tables, complete: on a fresh database another suite may be half way
        // through creating them (the migrator's lock makes this wait for it).
        try await PostgresMigrator(migrations: PipelineTables.migrations, table: PipelineTables.recordTable).run(on: db, logger: Logger(label: "test"))
        let name = TestStack.uniqueName("staging")
        let (accounts, concerts) = ("\(name)_account", "\(name)_concert")
        try await db.execute(script: """
            CREATE TABLE \(accounts) (id text PRIMARY KEY, owner text, city text, balance_cents bigint NOT NULL,
              updated_at timestamptz, raw jsonb, origin text, deleted_at timestamptz);
            CREATE TABLE \(concerts) (id text PRIMARY KEY, name text NOT NULL, seats integer NOT NULL, sold bigint NOT NULL)
            """)
        let (account, concert) = (try ContractName("bench.Account"), try ContractName("ticketing.Concert"))
        let concertMapping = TableMapping(
            table: concerts,
            columns: [
                .init(name: "id", source: .field(["id"]), type: nil, transform: nil, defaultValue: nil),
                .init(name: "name", source: .field(["name"]), type: nil, transform: nil, defaultValue: nil),
                .init(name: "seats", source: .field(["seats"]), type: "integer", transform: nil, defaultValue: nil),
                .init(name: "sold", source: .field(["sold"]), type: "bigint", transform: nil, defaultValue: nil),
            ],
            keyColumns: ["id"], delete: .hard
        )
        let tables = [
            account: MappedTable(contract: account, mapping: MappedTableTests.mapping(table: accounts), keyField: "id"),
            concert: MappedTable(contract: concert, mapping: concertMapping, keyField: "id"),
        ]
        let registry = try SchemaRepository(directory: "\(PumphouseProcess.repository)/Schemas").load()
        let types = try await CatalogCheck.run(tables: Array(tables.values), registry: registry, db: db)
        let ledger = WriterLedger(writer: name, owner: "member-a")
        let transaction = BatchTransaction(writer: name, deadLetterTopic: "unused", ledger: ledger, tables: tables, mappers: [:], columnTypes: types)
        #expect(transaction.stagingTable(for: account) != transaction.stagingTable(for: concert))
        let topics = ["\(name).account": account, "\(name).concert": concert]
        let partitions = topics.keys.map { KafkaTopicPartition(topic: $0, partition: 0) }
        var claims = try await ledger.claim(partitions, on: db)
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(connection: KafkaConnectionConfiguration(brokers: TestStack.kafkaBrokers)), logger: Logger(label: "test"))

        var sequence: Int64 = 0
        var offsets: [String: Int64] = [:]
        func message(_ contract: ContractName, _ action: ContractAction, key: String, fields: JSONObject, deltas: JSONObject = [:]) throws -> KafkaMessage {
            sequence += 1
            let encoded = try ContractCodec().encode(Contract(
                name: contract, version: contract == account ? 2 : 1, action: action, key: key, origin: "unit-a", sequence: sequence,
                eventTime: 0, fields: fields, deltas: deltas
            ))
            let topic = topics.first { $0.value == contract }!.key
            defer { offsets[topic, default: 0] += 1 }
            return KafkaMessage(topic: topic, partition: 0, offset: offsets[topic, default: 0], key: Array(encoded.key.utf8), value: encoded.value,
                                headers: encoded.headers.map { KafkaHeader(name: $0.name, string: $0.value) })
        }
        func apply(_ messages: [KafkaMessage]) async throws {
            var plan = BatchPlan(messages: messages, claims: claims, registry: registry) { contract, topic in topics[topic] == contract }
            // Not isolated: a staging table of the wrong shape throws IsolationNeeded here.
            try await transaction.apply(&plan, claims: claims, db: db, deadLetters: producer, isolated: false)
            for (partition, next) in plan.nextOffsets { claims[partition]?.nextOffset = next }
            for (partition, seen) in plan.sequences { claims[partition]?.maxSequence.merge(seen) { _, new in new } }
        }

        // Both tables staged: the account's staging table is made first.
        try await apply([
            try message(account, .add, key: "a1", fields: [
                "id": .string("a1"), "owner": .string("o"), "balance": .int(5), "currency": .string("EUR"), "status": .string("open"), "updatedAt": .int(1_763_700_000_000),
            ]),
            try message(concert, .add, key: "c1", fields: [
                "id": .string("c1"), "name": .string("The Pumps"), "venue": .string("Hall"), "startsAt": .int(1_795_000_000_000), "price": .int(4500), "seats": .int(2000), "sold": .int(0),
            ]),
        ])
        // Concerts alone, then accounts alone, then both again.
        try await apply([try message(concert, .update, key: "c1", fields: [:], deltas: ["sold": .int(3)])])
        try await apply([try message(account, .update, key: "a1", fields: ["owner": .string("q")])])
        try await apply([
            try message(concert, .update, key: "c1", fields: ["name": .string("The Pumps, again")], deltas: ["sold": .int(1)]),
            try message(account, .update, key: "a1", fields: ["owner": .string("p")]),
        ])

        let concertRow = try await db.query("SELECT name, seats, sold FROM \(concerts) WHERE id = 'c1'").rows
        #expect(concertRow == [["The Pumps, again", "2000", "4"]])
        let accountRow = try await db.query("SELECT owner, balance_cents FROM \(accounts) WHERE id = 'a1'").rows
        #expect(accountRow == [["p", "5"]])
        try await producer.shutdown()
        try await db.execute(script: "DROP TABLE \(accounts); DROP TABLE \(concerts); DELETE FROM pumphouse_writer_offsets WHERE writer = '\(name)'")
        await db.close()
    }
}

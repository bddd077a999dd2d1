import Logging
import PumphouseContracts
import PumphousePipeline
import PumphousePostgres
import PumphouseTestSupport
import PumphouseWriter
import Testing

@Suite("Mapped table SQL against the local PostgreSQL", .localStack, .removingWhatItMakes, .timeLimit(.minutes(1)))
struct MappedTableTests {
    static func mapping(table: String, delete: TableMapping.DeletePolicy = .hard) -> TableMapping {
        TableMapping(
            table: table,
            columns: [
                .init(name: "id", source: .field(["id"]), type: nil, transform: nil, defaultValue: nil),
                .init(name: "owner", source: .field(["owner"]), type: nil, transform: nil, defaultValue: nil),
                .init(name: "city", source: .field(["address", "city"]), type: nil, transform: nil, defaultValue: .string("unknown")),
                .init(name: "balance_cents", source: .field(["balance"]), type: "bigint", transform: nil, defaultValue: nil),
                .init(name: "updated_at", source: .field(["updatedAt"]), type: nil, transform: .epochMillisToTimestamp, defaultValue: nil),
                .init(name: "raw", source: .json([]), type: nil, transform: nil, defaultValue: nil),
                .init(name: "origin", source: .constant(.string("bench")), type: nil, transform: nil, defaultValue: nil),
            ],
            keyColumns: ["id"],
            delete: delete
        )
    }

    static func prepare(_ delete: TableMapping.DeletePolicy = .hard) async throws -> (PostgresConnection, MappedTable, String) {
        let db = try await PostgresConnection.connect(configuration: PostgresConfiguration(url: TestStack.postgresURL), logger: Logger(label: "test"))
        let table = TestStack.uniqueName("mapped")
        try await db.execute(script: """
            CREATE TABLE \(table) (id text PRIMARY KEY, owner text, city text, balance_cents bigint NOT NULL,
              updated_at timestamptz, raw jsonb, origin text, deleted_at timestamptz)
            """)
        return (db, MappedTable(contract: try ContractName("bench.Account"), mapping: mapping(table: table, delete: delete), keyField: "id"), table)
    }

    @Test("upsert, update with a delta, and delete become the right rows")
    func lifecycle() async throws {
        let (db, mapped, table) = try await Self.prepare()
        let row: JSONObject = ["id": .string("a'1"), "owner": .string("O'Brien; DROP TABLE x"), "balance": .int(100), "updatedAt": .int(1_763_700_000_000)]
        try await db.query(try mapped.statement(for: .upsert(row), key: "a'1"))
        var result = try await db.query("SELECT owner, city, balance_cents, extract(epoch from updated_at)::bigint AS t, raw->>'owner' AS raw_owner, origin FROM \(table)").namedRows
        #expect(result.first?["owner"] == "O'Brien; DROP TABLE x")
        #expect(result.first?["city"] == "unknown")
        #expect(result.first?["balance_cents"] == "100")
        #expect(result.first?["t"] == "1763700000")
        #expect(result.first?["raw_owner"] == "O'Brien; DROP TABLE x")
        #expect(result.first?["origin"] == "bench")

        try await db.query(try mapped.statement(for: .update(fields: ["owner": .string("Ada"), "address": .object(["city": .string("Oslo")])], deltas: ["balance": .int(-30)]), key: "a'1"))
        result = try await db.query("SELECT owner, city, balance_cents, raw->>'balance' AS raw_balance, raw->>'owner' AS raw_owner FROM \(table)").namedRows
        #expect(result.first?["owner"] == "Ada")
        #expect(result.first?["city"] == "Oslo")
        #expect(result.first?["balance_cents"] == "70")
        #expect(result.first?["raw_balance"] == "70")
        #expect(result.first?["raw_owner"] == "Ada")

        let missing = try await db.query(try mapped.statement(for: .update(fields: ["owner": .string("x")], deltas: [:]), key: "nope"))
        #expect(missing.affectedRows == 0)

        try await db.query(try mapped.statement(for: .upsert(row), key: "a'1"))
        #expect(try await db.query("SELECT balance_cents FROM \(table)").scalar(Int.self) == 100)
        try await db.query(try mapped.statement(for: .delete, key: "a'1"))
        #expect(try await db.query("SELECT count(*) FROM \(table)").scalar(Int.self) == 0)
    }

    @Test("soft deletes mark the row, hide it from updates, and an add revives it")
    func softDelete() async throws {
        let (db, mapped, table) = try await Self.prepare(.soft(column: "deleted_at"))
        let row: JSONObject = ["id": .string("b"), "balance": .int(1), "updatedAt": .int(0)]
        try await db.query(try mapped.statement(for: .upsert(row), key: "b"))
        try await db.query(try mapped.statement(for: .delete, key: "b"))
        #expect(try await db.query("SELECT deleted_at IS NOT NULL FROM \(table)").scalar(Bool.self) == true)
        #expect(try await db.query(try mapped.statement(for: .update(fields: ["owner": .string("x")], deltas: [:]), key: "b")).affectedRows == 0)
        try await db.query(try mapped.statement(for: .upsert(row), key: "b"))
        #expect(try await db.query("SELECT deleted_at IS NULL FROM \(table)").scalar(Bool.self) == true)
    }

    @Test("a create inserts where no row is, leaves an existing row to the updates folded after it, and replaces a soft-deleted one")
    func create() async throws {
        for policy in [TableMapping.DeletePolicy.hard, .soft(column: "deleted_at")] {
            let (db, mapped, table) = try await Self.prepare(policy)
            let first: JSONObject = ["id": .string("s'1"), "owner": .string("first; DROP TABLE x"), "balance": .int(10), "updatedAt": .int(0)]
            let second: JSONObject = ["id": .string("s'1"), "owner": .string("second"), "balance": .int(20), "updatedAt": .int(0)]
            try await db.query(try mapped.statement(for: .create(row: first, fields: [:], deltas: [:]), key: "s'1"))
            try await db.query(try mapped.statement(for: .create(row: second, fields: [:], deltas: [:]), key: "s'1"))
            var rows = try await db.query("SELECT owner, balance_cents FROM \(table)").namedRows
            #expect(rows.map { $0["owner"] } == ["first; DROP TABLE x"], "\(policy)")
            // A create folded with a later update: the existing row takes the update only.
            try await db.query(try mapped.statement(for: .create(row: second, fields: ["owner": .string("upd")], deltas: ["balance": .int(5)]), key: "s'1"))
            rows = try await db.query("SELECT owner, balance_cents, raw->>'owner' AS raw_owner FROM \(table)").namedRows
            #expect(rows.first?["owner"] == "upd" && rows.first?["balance_cents"] == "15" && rows.first?["raw_owner"] == "upd", "\(policy): \(rows)")
            try await db.query(try mapped.statement(for: .delete, key: "s'1"))
            try await db.query(try mapped.statement(for: .create(row: second, fields: ["owner": .string("upd")], deltas: [:]), key: "s'1"))
            rows = try await db.query("SELECT owner, balance_cents FROM \(table) WHERE \(policy == .hard ? "true" : "deleted_at IS NULL")").namedRows
            #expect(rows.map { $0["owner"] } == ["second"], "\(policy): the row was gone, so the create inserts it whole")
        }
    }

    @Test("an update that touches no mapped column is a mapping failure, not an empty statement")
    func unmappedUpdate() async throws {
        var mapping = Self.mapping(table: "t")
        mapping.columns.removeAll { $0.name == "raw" }
        let mapped = MappedTable(contract: try ContractName("bench.Account"), mapping: mapping, keyField: "id")
        #expect(throws: MappedTable.MappingFailure.self) {
            try mapped.statement(for: .update(fields: ["nickname": .string("x")], deltas: [:]), key: "a")
        }
    }

    @Test("a number that is not finite is refused by name, in a column, in the raw JSON and in a delta, never written as NULL or Infinity")
    func notFinite() throws {
        let mapped = MappedTable(contract: try ContractName("bench.Account"), mapping: Self.mapping(table: "unused"), keyField: "id")
        let effects: [EntityEffect] = [
            .upsert(["id": .string("a"), "balance": .double(.infinity)]),
            .upsert(["id": .string("a"), "balance": .int(1), "tags": .array([.double(.nan)])]),
            .update(fields: ["address": .object(["city": .string("Oslo"), "lat": .double(-.infinity)])], deltas: [:]),
            .update(fields: [:], deltas: ["balance": .double(.infinity)]),
        ]
        for effect in effects {
            let failure = #expect(throws: MappedTable.MappingFailure.self) { try mapped.statement(for: effect, key: "a") }
            #expect(failure?.description.contains("not finite") == true, "\(effect)")
        }
    }
}

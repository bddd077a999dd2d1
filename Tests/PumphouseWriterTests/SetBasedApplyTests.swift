import Logging
import PumphouseContracts
import PumphousePipeline
import PumphousePostgres
import PumphouseTestSupport
@testable import PumphouseWriter
import Testing

/// The set-based merge must be indistinguishable from per-entity statements: the same
/// rows and the same updates found missing, for any mix of effects.
@Suite("Set-based merge against the local PostgreSQL", .localStack, .removingWhatItMakes, .timeLimit(.minutes(2)))
struct SetBasedApplyTests {
    static let contract = try! ContractName("bench.Account")

    @Test("COPY and merge leave the same rows as per-entity statements, for random batches", arguments: [
        (wholeStateJSON: true, soft: false),
        (wholeStateJSON: false, soft: false),
        (wholeStateJSON: true, soft: true),
        (wholeStateJSON: false, soft: true),
    ])
    func equivalence(wholeStateJSON: Bool, soft: Bool) async throws {
        let db = try await PostgresConnection.connect(configuration: PostgresConfiguration(url: TestStack.postgresURL), logger: Logger(label: "test"))
        let name = TestStack.uniqueName("setbased")
        let delete: TableMapping.DeletePolicy = soft ? .soft(column: "deleted_at") : .hard
        var mappings: [MappedTable] = []
        for table in ["\(name)_merged", "\(name)_single"] {
            try await db.execute(script: """
                CREATE TABLE \(table) (id text PRIMARY KEY, owner text, city text, balance_cents bigint NOT NULL,
                  updated_at timestamptz, raw jsonb, origin text, deleted_at timestamptz)
                """)
            var mapping = MappedTableTests.mapping(table: table, delete: delete)
            if !wholeStateJSON { mapping.columns.removeAll { $0.name == "raw" } }
            mappings.append(MappedTable(contract: Self.contract, mapping: mapping, keyField: "id"))
        }
        let types = try await db.query(
            "SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0", ["\(name)_merged"]
        ).namedRows.reduce(into: [String: String]()) { $0[$1["attname"]!] = $1["type"]! }
        let merged = SetBasedApply(table: mappings[0], columnTypes: types, staging: "pumphouse_stage_test")

        var rng = SplitMix(state: wholeStateJSON ? 7 : 8)
        let keys = (0..<40).map { "k\($0)" }
        for round in 0..<6 {
            var entities: [BatchPlan.EntityKey: BatchPlan.Entity] = [:]
            var order: [BatchPlan.EntityKey] = []
            for key in keys.shuffled(using: &rng).prefix(30) {
                let entityKey = BatchPlan.EntityKey(contract: Self.contract, key: ExactKey(key))
                entities[entityKey] = BatchPlan.Entity(effect: Self.randomEffect(key, round: round, using: &rng), messages: [])
                order.append(entityKey)
            }

            let mergedMissing = try await db.transaction { tx in
                let merge = try await merged.stage(order, entities: entities, in: tx)
                let results = try await tx.pipeline(merge.statements)
                var missing = Set(merge.outcome(results[...]).missing.map(\.key.text))
                for key in merge.leftOver {
                    let result = try await tx.query(try mappings[0].statement(for: entities[key]!.effect, key: key.key.text))
                    if case .update = entities[key]!.effect, result.affectedRows == 0 { missing.insert(key.key.text) }
                }
                return missing
            }
            var singleMissing = Set<String>()
            for key in order {
                let result = try await db.query(try mappings[1].statement(for: entities[key]!.effect, key: key.key.text))
                if case .update = entities[key]!.effect, result.affectedRows == 0 { singleMissing.insert(key.key.text) }
            }
            #expect(mergedMissing == singleMissing, "round \(round): updates of missing rows")
            let (mergedRows, singleRows) = (try await Self.rows(of: "\(name)_merged", db), try await Self.rows(of: "\(name)_single", db))
            #expect(mergedRows == singleRows, "round \(round)")
            #expect(!mergedRows.isEmpty)
        }
        try await db.execute(script: "DROP TABLE \(name)_merged; DROP TABLE \(name)_single")
        await db.close()
    }

    /// Adds, deletes and updates touching random subsets of fields, with deltas.
    static func randomEffect(_ key: String, round: Int, using rng: inout SplitMix) -> EntityEffect {
        let cities: [JSONValue] = [.string("Oslo"), .string("Lima"), .null]
        switch rng.next() % 10 {
        case 0...2:
            var row: JSONObject = ["id": .string(key), "balance": .int(Int64(rng.next() % 1000)), "updatedAt": .int(1_763_700_000_000 + Int64(round))]
            if rng.next() % 2 == 0 { row["owner"] = .string("owner \(round) 'q'\t\\") }
            if rng.next() % 2 == 0 { row["address"] = .object(["city": cities[Int(rng.next() % 3)]]) }
            return .upsert(row)
        case 3:
            return .delete
        default:
            var fields: JSONObject = [:]
            var deltas: JSONObject = [:]
            if rng.next() % 2 == 0 { fields["owner"] = rng.next() % 4 == 0 ? .null : .string("renamed \(round)") }
            if rng.next() % 3 == 0 { fields["address"] = .object(["city": cities[Int(rng.next() % 3)]]) }
            if rng.next() % 3 == 0 { fields["updatedAt"] = .int(1_763_800_000_000 + Int64(round)) }
            if fields.isEmpty || rng.next() % 2 == 0 { deltas["balance"] = .int(Int64(rng.next() % 50) - 25) }
            return .update(fields: fields, deltas: deltas)
        }
    }

    static func rows(of table: String, _ db: PostgresConnection) async throws -> [String: [String?]] {
        var rows: [String: [String?]] = [:]
        for row in try await db.query(
            "SELECT id, owner, city, balance_cents::text, updated_at::text, raw::text, origin, (deleted_at IS NOT NULL)::text FROM \(table)"
        ).rows {
            rows[row[0]!] = Array(row.dropFirst())
        }
        return rows
    }
}

import PumphouseContracts
import PumphousePipeline
import PumphousePostgres
import PumphouseTestSupport
import Testing
@testable import PumphouseReader

@Suite("The data abstraction layer read backwards, against the local PostgreSQL", .localStack, .removingWhatItMakes, .timeLimit(.minutes(1)))
struct ReverseMappingTests {
    /// The state the reader builds for each row of `table`, by key, parsed.
    static func states(_ mapping: TableMapping, db: PostgresConnection) async throws -> [String: JSONValue] {
        let reverse = ReverseMapping(contract: try ContractName("shop.Item"), mapping: mapping, keyField: "id", keyType: "text")
        var states: [String: JSONValue] = [:]
        for row in try await db.query(reverse.select(keys: false)).rows {
            states[row[0]!] = try JSONParser().parse(row[1]!)
        }
        return states
    }

    static func column(_ name: String, _ source: TableMapping.Source) -> TableMapping.Column {
        TableMapping.Column(name: name, source: source, type: nil, transform: nil, defaultValue: nil)
    }

    @Test("a NULL column is an absent field, but the nulls inside a JSON column's value, or a whole-state column's nested ones, are kept as the topic has them")
    func nullsInJSON() async throws {
        let db = try await PostgresConnection.connect(configuration: PostgresConfiguration(url: TestStack.postgresURL), logger: TestStack.logger("reverse-mapping"))
        let table = TestStack.uniqueName("rm")
        try await db.execute(script: "CREATE TABLE \(table) (id text PRIMARY KEY, name text, doc jsonb, raw jsonb)")
        try await db.query("INSERT INTO \(table) VALUES ($1, $2, $3::jsonb, $4::jsonb)", ["a", "mug", #"{"size":null,"tags":[null,1]}"#, #"{"color":null,"dims":{"w":null,"h":2}}"#])
        try await db.query("INSERT INTO \(table) VALUES ($1, $2, $3::jsonb, $4::jsonb)", ["b", String?.none, "null", String?.none])

        let embedded = TableMapping(table: table, columns: [Self.column("id", .field(["id"])), Self.column("name", .field(["name"])), Self.column("doc", .json(["doc"]))], keyColumns: ["id"], delete: .hard)
        let states = try await Self.states(embedded, db: db)
        #expect(states["a"]?.jsonEquals(.object(["id": .string("a"), "name": .string("mug"), "doc": .object(["size": .null, "tags": .array([.null, .int(1)])])])) == true, "\(String(describing: states["a"]))")
        // NULL and JSON null columns are absent fields.
        #expect(states["b"]?.jsonEquals(.object(["id": .string("b")])) == true, "\(String(describing: states["b"]))")

        let whole = TableMapping(table: table, columns: [Self.column("id", .field(["id"])), Self.column("raw", .json([]))], keyColumns: ["id"], delete: .hard)
        let wholeStates = try await Self.states(whole, db: db)
        // The whole state's null members are absent (as a NULL column's field is); the
        // nulls nested in its values stay.
        #expect(wholeStates["a"]?.jsonEquals(.object(["id": .string("a"), "dims": .object(["w": .null, "h": .int(2)])])) == true, "\(String(describing: wholeStates["a"]))")
        #expect(wholeStates["b"]?.jsonEquals(.object(["id": .string("b")])) == true, "\(String(describing: wholeStates["b"]))")

        // Scalar columns alone keep the single strip.
        let scalar = TableMapping(table: table, columns: [Self.column("id", .field(["id"])), Self.column("name", .field(["name"]))], keyColumns: ["id"], delete: .hard)
        let scalarStates = try await Self.states(scalar, db: db)
        #expect(scalarStates["a"]?.jsonEquals(.object(["id": .string("a"), "name": .string("mug")])) == true)
        #expect(scalarStates["b"]?.jsonEquals(.object(["id": .string("b")])) == true)
        try await db.execute(script: "DROP TABLE \(table)")
    }
}

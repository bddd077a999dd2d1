import Logging
import PumphouseKafka
import PumphousePipeline
import PumphousePostgres
@testable import PumphouseTestSupport
import Testing

@Suite("What a suite made on the shared stack is removed after it", .localStack, .timeLimit(.minutes(1)))
struct StackCleanupTests {
    @Test("topics, tables and writer rows named from a suite's names go; others stay")
    func removes() async throws {
        let logger = TestStack.logger("pumphouse.tests.cleanup")
        let (mine, other) = (TestStack.uniqueName("cl"), TestStack.uniqueName("cl"))
        let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(connection: KafkaConnectionConfiguration(bootstrapServers: TestStack.kafkaBrokers.split(separator: ",").map(String.init))), logger: logger)
        try await admin.createTopics(["\(mine).account", "\(other).account"].map { KafkaTopicSpecification(name: $0, partitions: 1) })
        let db = try await PostgresConnection.connect(configuration: PostgresConfiguration(url: TestStack.postgresURL), logger: logger)
        try await PostgresMigrator(migrations: PipelineTables.migrations, table: PipelineTables.recordTable).run(on: db, logger: logger)
        try await db.execute(script: "CREATE TABLE \(mine)_account (id text); CREATE TABLE \(other)_account (id text)")
        try await db.query(
            "INSERT INTO pumphouse_writer_offsets (writer, topic, partition, next_offset, epoch, owner) VALUES ($1, 't', 0, 1, 1, 'x'), ($2, 't', 0, 1, 1, 'x')", [mine, other]
        )

        await StackCleanup.remove([mine], after: try #require(Test.current))

        let topics = try await admin.listTopics().map(\.name)
        #expect(!topics.contains("\(mine).account") && topics.contains("\(other).account"))
        #expect(try await db.query("SELECT to_regclass($1) IS NULL", ["\(mine)_account"]).scalar(Bool.self) == true)
        #expect(try await db.query("SELECT to_regclass($1) IS NOT NULL", ["\(other)_account"]).scalar(Bool.self) == true)
        #expect(try await db.query("SELECT count(*) FROM pumphouse_writer_offsets WHERE writer IN ($1, $2)", [mine, other]).scalar(Int.self) == 1)

        await StackCleanup.remove([other], after: try #require(Test.current))
        #expect(try await db.query("SELECT to_regclass($1) IS NULL", ["\(other)_account"]).scalar(Bool.self) == true)
        await db.close()
    }
}

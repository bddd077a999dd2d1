import Foundation
import Logging
import PumphouseContracts
import PumphouseKafka
import PumphouseLoad
import PumphousePipeline
import PumphousePostgres
import PumphouseTestSupport
import PumphouseUnit
import PumphouseWriter
import ServiceLifecycle
import Testing

/// A private cache topic, table and writer per test, over the project's bench.Account
/// contract and migrations.
struct UnitFixture {
    static let repository = PumphouseProcess.repository
    static let logger = TestStack.logger("pumphouse.tests.unit")

    let name: String
    let topic: String
    let table: String
    let directory: String
    let pipeline: PipelineConfiguration

    /// The librdkafka properties of the fixture's pipeline: `given`, and `debug` from
    /// PUMPHOUSE_TEST_KAFKA_DEBUG when set.
    private static func properties(_ given: String?) -> String? {
        let debug = ProcessInfo.processInfo.environment["PUMPHOUSE_TEST_KAFKA_DEBUG"].map { "debug: \"\($0)\"" }
        let all = [given, debug].compactMap { $0 }
        return all.isEmpty ? nil : all.joined(separator: ", ")
    }

    /// `load`: where a unit with no loaded peer rebuilds the cache from (`topic` unless a
    /// test is about the reverse pump).
    /// `mode`: the cache's mode as the pipeline file spells it; `partitioned` gets
    /// `backups` backups (one unless a test says otherwise).
    /// `partitionKeyAfter`: the partitioned cache's `partition_key_after`.
    /// `kafkaProperties`: librdkafka properties for every client, as a YAML flow map's
    /// members (`"queue.buffering.max.messages": "4"`).
    /// `alsoPartitioned`: more contracts declared as partitioned caches like the first
    /// (same partitions and backups), on topics of their own, mapped by custom mappers
    /// and so written by no writer of the fixture.
    init(
        partitions: Int = 3, brokers: String = TestStack.kafkaBrokers, load: String = "topic", mode: String = "replicated", kafkaProperties: String? = nil,
        partitionKeyAfter: String? = nil, backups: Int = 1, alsoPartitioned: [ContractName] = []
    ) async throws {
        name = TestStack.uniqueName("u")
        topic = "\(name).account"
        table = "\(name)_account"
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(name).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let name = name
        let more = alsoPartitioned.map { contract in
            """
              \(contract):
                topic: \(name).\(contract.entity.lowercased())
                partitions: \(partitions)
                mode: partitioned
                backups: \(backups)
                mapping: custom\n
            """
        }.joined()
        try """
        kafka: { brokers: "\(brokers)"\(Self.properties(kafkaProperties).map { ", properties: { \($0) }" } ?? "") }
        postgres: { url: "\(TestStack.postgresURL)" }
        schemas: \(Self.repository)/Schemas
        migrations: \(Self.repository)/Migrations
        member_topic: \(name).members
        reader: { request_topic: \(name).reads, group: \(name)-reader, chunk_rows: 1000 }
        caches:
          bench.Account:
            topic: \(topic)
            partitions: \(partitions)
            load: \(load)
            mode: \(mode)\(mode == "partitioned" ? "\n    backups: \(backups)" : "")\(partitionKeyAfter.map { "\n    partition_key_after: \"\($0)\"" } ?? "")
            mapping:
              table: \(table)
              columns:
                id: id
                owner: owner
                balance_cents: { field: balance, type: bigint }
                currency: currency
                status: status
                updated_at: { field: updatedAt, transform: epoch_ms_to_timestamp }
        \(more)writers:
          \(name):
            caches: [bench.Account]
            batch: { max_messages: 500, max_wait_ms: 20 }
        """.write(toFile: "\(directory)/pipeline.yaml", atomically: true, encoding: .utf8)
        pipeline = try PipelineConfiguration.load(path: "\(directory)/pipeline.yaml", environment: [:])
    }

    /// Creates the topics (its own member topic included) and the table.
    func prepare() async throws {
        let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(connection: pipeline.kafka), logger: Self.logger)
        try await admin.createTopics(pipeline.topicSpecifications)
        let db = try await PostgresConnection.connect(configuration: pipeline.postgres, logger: Self.logger)
        try await pipeline.migrate(on: db, logger: Self.logger)
        try await db.execute(script: "CREATE TABLE \(table) (LIKE bench_account INCLUDING ALL)")
        await db.close()
    }

    /// Runs this fixture's writer until its table holds exactly `expected` (id to
    /// balance), then stops it.
    func awaitWritten(_ expected: [ExactKey: Int64], timeout: Duration = .seconds(60)) async throws {
        let writer = try DataWriter(configuration: pipeline, writer: name, logger: Self.logger)
        let task = Task { try await writer.run() }
        defer { task.cancel() }
        _ = try await waitFor("the expected balances in \(table)", timeout: timeout) { () -> Bool? in
            try await Task.sleep(for: .milliseconds(50))
            return try await balances() == expected ? true : nil
        }
        task.cancel()
        _ = await task.result
        // Units number each partition without holes, across restarts and lost spools:
        // a gap here is a unit's numbering that consumers would report as lost changes.
        let statistics = writer.statistics
        #expect(statistics.sequenceGaps == 0 && statistics.missingChanges == 0, "\(statistics)")
    }

    /// Every row's balance, by the key's bytes.
    func balances() async throws -> [ExactKey: Int64] {
        let db = try await PostgresConnection.connect(configuration: pipeline.postgres, logger: Self.logger)
        do {
            let rows = try await db.query("SELECT id, balance_cents FROM \(table)").rows
            await db.close()
            return Dictionary(uniqueKeysWithValues: rows.map { (ExactKey($0[0]!), Int64($0[1]!)!) })
        } catch {
            await db.close()
            throw error
        }
    }

    /// A unit of the fixture's pipeline, given no PostgreSQL URL.
    ///
    /// Heartbeats default to 5 a second so member tests run fast; every one is a record
    /// on the broker, so a test that restarts the broker asks for fewer. Tests restart
    /// units seconds apart and expect each restart to read the database, so a load is
    /// reused only if it finished at most `loadReuse` before the unit started.
    func unit(
        _ id: String, pipeline: PipelineConfiguration? = nil, heartbeat: Duration = .milliseconds(200), spool: String = "spool", loadReuse: Duration = .seconds(1),
        logger: Logger = Self.logger
    ) throws -> ProcessingUnit {
        // Units never touch the database: every unit of these tests runs without its URL.
        var unitPipeline = pipeline ?? self.pipeline
        unitPipeline.database = nil
        var configuration = UnitConfiguration(pipeline: unitPipeline, unitID: "\(name)-\(id)", address: "127.0.0.1:\(8000 + id.count)", spoolDirectory: "\(directory)/\(spool)")
        configuration.heartbeatInterval = heartbeat
        configuration.memberTimeout = heartbeat * 10
        configuration.loadReuseWindow = loadReuse
        return try ProcessingUnit(configuration: configuration, logger: logger)
    }
}

extension ReplicatedCache<BenchAccount> {
    /// Opens `key` at `opening` the first time, adds 1 after that, and keeps `expected`
    /// (id to balance) in step, independently of what the cache reports.
    func openOrIncrement(_ key: String, opening: Int64, expected: inout [ExactKey: Int64]) throws {
        if expected[ExactKey(key)] == nil {
            try put(BenchAccount(id: key, balance: opening))
            expected[ExactKey(key)] = opening
        } else {
            try increment(key, "balance", by: 1)
            expected[ExactKey(key)]! += 1
        }
    }
}

/// Runs units as services for the length of `body`, then shuts them down gracefully.
func running<T>(_ units: [ProcessingUnit], _ body: () async throws -> T) async throws -> T {
    let group = ServiceGroup(configuration: .init(services: units.map { .init(service: $0) }, logger: UnitFixture.logger))
    let task = Task { try await group.run() }
    defer { task.cancel() }
    for unit in units {
        _ = try await waitFor("unit \(unit.id) to load its caches", timeout: .seconds(60)) { () -> Bool? in
            try await Task.sleep(for: .milliseconds(20))
            return unit.isLoaded ? true : nil
        }
    }
    let result = try await body()
    await group.triggerGracefulShutdown()
    try await task.value
    return result
}

@Suite("Processing units against the local broker", .localStack, .removingWhatItMakes, .serialized, .timeLimit(.minutes(4)))
struct ProcessingUnitTests {
    @Test("three units mutating random keys concurrently converge to identical state; member lists show all three")
    func convergence() async throws {
        let fixture = try await UnitFixture()
        try await fixture.prepare()
        let units = try ["a", "b", "c"].map { try fixture.unit($0) }
        let caches = try units.map { try $0.cache(BenchAccount.self) }
        try await running(units) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, cache) in caches.enumerated() {
                    group.addTask {
                        var rng = SplitMix(seed: UInt64(index + 1))
                        for step in 0..<400 {
                            let key = "acc-\(Int.random(in: 0..<25, using: &rng))"
                            do {
                                switch Int.random(in: 0..<10, using: &rng) {
                                case 0: try cache.remove(key)
                                case 1, 2: try cache.put(BenchAccount(id: key, balance: Int64(step)))
                                case 3: try cache.update(key) { $0.status = ["open", "frozen", "closed"][step % 3] }
                                default: try cache.increment(key, "balance", by: Int64.random(in: -9...9, using: &rng))
                                }
                            } catch CacheError.missing {
                                try cache.put(BenchAccount(id: key, balance: 0))
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            _ = try await waitFor("three identical replicas", timeout: .seconds(60)) { () -> Bool? in
                try await Task.sleep(for: .milliseconds(100))
                let states = caches.map { Dictionary(uniqueKeysWithValues: $0.values.map { ($0.id, $0) }) }
                return states[0] == states[1] && states[1] == states[2] && !states[0].isEmpty ? true : nil
            }
            _ = try await waitFor("every unit to list all three members", timeout: .seconds(30)) { () -> Bool? in
                try await Task.sleep(for: .milliseconds(100))
                return units.allSatisfy { $0.members(of: BenchAccount.contract)?.members.count == 3 } ? true : nil
            }
            #expect(units[0].members(of: BenchAccount.contract)?.description.contains("\(units[0].id) this") == true)
        }
        // A unit that stops says so: the others drop it at once, well before the 10 s
        // timeout that silence would take.
        let survivors = try ["d", "e"].map { try fixture.unit($0, heartbeat: .seconds(1)) }
        _ = try survivors.map { try $0.cache(BenchAccount.self) }
        let leaver = try fixture.unit("f", heartbeat: .seconds(1))
        _ = try leaver.cache(BenchAccount.self)
        try await running(survivors) {
            try await running([leaver]) {
                _ = try await waitFor("three members", timeout: .seconds(30)) { () -> Bool? in
                    try await Task.sleep(for: .milliseconds(50))
                    return survivors[0].members(of: BenchAccount.contract)?.members.count == 3 ? true : nil
                }
            }
            _ = try await waitFor("the leaver to be dropped on its leave", timeout: .seconds(5)) { () -> Bool? in
                try await Task.sleep(for: .milliseconds(20))
                return survivors[0].members(of: BenchAccount.contract)?.members[ExactKey(leaver.id)] == nil ? true : nil
            }
        }
    }

    @Test("a unit process killed with -9 says nothing; its peers drop it after the member timeout, and its changes stay")
    func crashedMember() async throws {
        let fixture = try await UnitFixture(partitions: 2)
        try await fixture.prepare()
        let peer = try fixture.unit("peer")
        let accounts = try peer.cache(BenchAccount.self)
        let crashing = "\(fixture.name)-crashing"
        try await running([peer]) {
            let process = try PumphouseProcess.start([
                "unit", "--config", "\(fixture.directory)/pipeline.yaml", "--id", crashing, "--address", "127.0.0.1:9999",
                "--spool-directory", "\(fixture.directory)/spool", "--heartbeat-ms", "200", "--member-timeout-ms", "2000",
                "--rate", "100", "--keys", "20",
            ])
            defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
            let joined = try await waitFor("the unit process in the peer's member list, and its changes replicated", timeout: .seconds(60)) { () -> MemberList? in
                try await Task.sleep(for: .milliseconds(50))
                guard let list = peer.members(of: BenchAccount.contract), list.members[ExactKey(crashing)]?.address == "127.0.0.1:9999", accounts.count > 0 else { return nil }
                return list
            }
            #expect(joined.members.count == 2)
            kill(process.processIdentifier, SIGKILL)
            let dropped = try await waitFor("the killed unit to drop out after the 2 s member timeout", timeout: .seconds(20)) { () -> MemberList? in
                try await Task.sleep(for: .milliseconds(50))
                guard let list = peer.members(of: BenchAccount.contract), list.members[ExactKey(crashing)] == nil else { return nil }
                return list
            }
            #expect(dropped.members.keys.sorted() == [ExactKey(peer.id)])
            #expect(dropped.version > joined.version)
            // What it published before the kill is still there for everyone.
            #expect(accounts.count > 0)
        }
    }

    @Test("the inventory case: 500 in stock, one unit sells 10 while another sells 5: 485 on every replica and in PostgreSQL")
    func inventory() async throws {
        let fixture = try await UnitFixture(partitions: 1)
        try await fixture.prepare()
        let units = try ["a", "b", "c"].map { try fixture.unit($0) }
        let caches = try units.map { try $0.cache(BenchAccount.self) }
        try await running(units) {
            try caches[0].put(BenchAccount(id: "seat-stock", balance: 500))
            _ = try await waitFor("the add on every replica", timeout: .seconds(30)) { () -> Bool? in
                try await Task.sleep(for: .milliseconds(20))
                return caches.allSatisfy { $0["seat-stock"] != nil } ? true : nil
            }
            async let ten: Void = caches[1].increment("seat-stock", "balance", by: -10)
            async let five: Void = caches[2].increment("seat-stock", "balance", by: -5)
            _ = try await (ten, five)
            _ = try await waitFor("485 on every replica", timeout: .seconds(30)) { () -> Bool? in
                try await Task.sleep(for: .milliseconds(20))
                return caches.allSatisfy { $0["seat-stock"]?.balance == 485 } ? true : nil
            }
        }
        try await fixture.awaitWritten(["seat-stock": 485])
    }

    @Test("three units create the same 150 keys at the same instant: one create wins each key, on every replica and in PostgreSQL")
    func competingCreates() async throws {
        let fixture = try await UnitFixture(partitions: 2)
        try await fixture.prepare()
        let units = try ["a", "b", "c"].map { try fixture.unit($0) }
        let caches = try units.map { try $0.cache(BenchAccount.self) }
        let keys = (0..<150).map { "claim-\($0)" }
        let outcomes: [ExactKey: [Int]] = try await running(units) {
            // Every unit creates every key with its own balance, all at once.
            let won = try await withThrowingTaskGroup(of: (String, Int, Bool).self) { group in
                for (index, cache) in caches.enumerated() {
                    for key in keys {
                        group.addTask { (key, index, try await cache.create(BenchAccount(id: key, balance: Int64(index)), timeout: .seconds(30))) }
                    }
                }
                var won: [ExactKey: [Int]] = [:]
                for try await (key, index, created) in group where created { won[ExactKey(key), default: []].append(index) }
                return won
            }
            _ = try await waitFor("every replica to hold the winners' rows", timeout: .seconds(30)) { () -> Bool? in
                try await Task.sleep(for: .milliseconds(50))
                return caches.allSatisfy { cache in keys.allSatisfy { key in won[ExactKey(key)]?.first.map { Int64($0) } == cache[key]?.balance } } ? true : nil
            }
            // A create of a key this replica holds returns false without publishing.
            #expect(try await caches[0].create(BenchAccount(id: keys[0], balance: 99)) == false)
            // Every create came back decided, so none is left for a planned stop to wait on.
            #expect(units.map(\.undecidedCreates) == [0, 0, 0])
            return won
        }
        #expect(outcomes.count == keys.count, "every key won once: \(keys.filter { outcomes[ExactKey($0)] == nil })")
        #expect(outcomes.values.allSatisfy { $0.count == 1 }, "no key won twice: \(outcomes.filter { $0.value.count > 1 })")
        try await fixture.awaitWritten(outcomes.mapValues { Int64($0[0]) })
    }

    @Test("with the broker unreachable a unit keeps serving; killed with a full spool and restarted, it resends everything")
    func spoolSurvivesKill() async throws {
        let fixture = try await UnitFixture(partitions: 2)
        try await fixture.prepare()
        // The same unit, pointed at a broker that does not answer.
        var away = fixture.pipeline
        away.kafka = KafkaConnectionConfiguration(bootstrapServers: ["127.0.0.1:1"])
        let stranded = try fixture.unit("a", pipeline: away)
        let cache = try stranded.cache(BenchAccount.self)
        var expected: [ExactKey: Int64] = [:]
        for index in 0..<200 {
            try cache.openOrIncrement("acc-\(index % 50)", opening: 100, expected: &expected)
        }
        // Reads and writes were served from memory, without the broker.
        #expect(cache.count == 50)
        #expect(cache["acc-7"]?.balance == expected["acc-7"])
        // A create the log cannot decide: the creator hears `unconfirmed`, the create
        // stays in the spool, and the unit counts it as undecided.
        await #expect(throws: CacheError.self) { try await cache.create(BenchAccount(id: "claim-stranded", balance: 1), timeout: .milliseconds(200)) }
        #expect(stranded.undecidedCreates == 1)
        // Its own reads show the pending create; what the log decided does not have it yet.
        #expect(cache["claim-stranded"] != nil)
        #expect(cache.committed("claim-stranded") == nil)
        #expect(cache.committed("acc-7")?.balance == nil, "acc-7's changes are all still pending")
        expected[ExactKey("claim-stranded")] = 1
        // "Killed" once its changes are on disk (a kill loses only the last few
        // milliseconds): never run, never closed. Its spool is all that is left.
        try await stranded.syncSpool()
        let restarted = try fixture.unit("a")
        let replica = try restarted.cache(BenchAccount.self)
        let observer = try fixture.unit("b")
        let peer = try observer.cache(BenchAccount.self)
        try await running([restarted, observer]) {
            _ = try await waitFor("the spooled changes on a peer and on the restarted unit", timeout: .seconds(60)) { () -> Bool? in
                try await Task.sleep(for: .milliseconds(50))
                return [peer, replica].allSatisfy { Dictionary(uniqueKeysWithValues: $0.values.map { (ExactKey($0.id), $0.balance) }) == expected } ? true : nil
            }
            // Resent and decided by the log, the create is committed on both.
            #expect(replica.committed("claim-stranded")?.balance == 1)
            #expect(peer.committed("claim-stranded")?.balance == 1)
            // The sequence continues where the killed run stopped: a new change is not a duplicate.
            try replica.increment("acc-0", "balance", by: 1000)
            expected["acc-0"]! += 1000
            _ = try await waitFor("the new change on the peer", timeout: .seconds(30)) { () -> Bool? in
                try await Task.sleep(for: .milliseconds(20))
                return peer["acc-0"]?.balance == expected["acc-0"] ? true : nil
            }
        }
        // The writer collapses what was sent twice and lands exactly the replicas' state.
        try await fixture.awaitWritten(expected)
    }

    /// A unit's numbering must continue past everything its id published even when its
    /// spool, which remembers the highest number, is gone: consumers drop a change at or
    /// below an origin's highest applied number as a duplicate, silently.
    @Test("a unit id whose spool was lost numbers past its earlier run: nothing it changes after is dropped as a duplicate")
    func lostSpool() async throws {
        let fixture = try await UnitFixture(partitions: 1)
        try await fixture.prepare()
        let first = try fixture.unit("a", spool: "spool-lost")
        let firstCache = try first.cache(BenchAccount.self)
        try await running([first]) {
            for index in 0..<20 { try firstCache.put(BenchAccount(id: "acc-\(index)", balance: 10)) }
            try await first.syncSpool()
        }
        // The same id, a new machine's empty spool.
        let second = try fixture.unit("a", spool: "spool-new")
        let secondCache = try second.cache(BenchAccount.self)
        try await running([second]) {
            try secondCache.increment("acc-0", "balance", by: 5)
            try secondCache.put(BenchAccount(id: "acc-new", balance: 7))
            try await second.syncSpool()
        }
        var expected = Dictionary(uniqueKeysWithValues: (0..<20).map { (ExactKey("acc-\($0)"), Int64(10)) })
        expected[ExactKey("acc-0")] = 15
        expected[ExactKey("acc-new")] = 7
        try await fixture.awaitWritten(expected)
    }
}

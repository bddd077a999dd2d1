import Foundation
import Logging
import PumphouseContracts
import PumphouseKafka
import PumphouseLoad
import PumphousePipeline
import PumphousePostgres
import PumphouseReader
import PumphouseReplay
import PumphouseTestSupport
import PumphouseWriter
import ServiceLifecycle
import Synchronization
import Testing

@testable import PumphouseUnit

/// Runs a data reader for the length of `body`.
func withReader<T>(_ fixture: UnitFixture, _ body: (DataReader) async throws -> T) async throws -> T {
    let reader = try DataReader(configuration: fixture.pipeline, logger: UnitFixture.logger)
    let task = Task { try await reader.run() }
    defer { task.cancel() }
    _ = try await waitFor("the data reader to consume requests", timeout: .seconds(30)) { () -> Bool? in
        try await Task.sleep(for: .milliseconds(20))
        return reader.readiness.isReady ? true : nil
    }
    return try await body(reader)
}

/// Changes random accounts, each unit only its own (`<unit>-<n>`), so every change is
/// made against a replica that already holds the account; `expected` follows each
/// change independently of the caches.
func randomChanges(_ caches: [ReplicatedCache<BenchAccount>], count: Int, seed: UInt64, expected: inout [ExactKey: BenchAccount]) throws {
    var rng = SplitMix(state: seed)
    for step in 0..<count {
        let owner = Int.random(in: 0..<caches.count, using: &rng)
        let cache = caches[owner]
        let key = "u\(owner)-\(Int.random(in: 0..<25, using: &rng))"
        let exact = ExactKey(key)
        guard var account = expected[exact] else {
            let account = BenchAccount(id: key, balance: Int64.random(in: 0...1_000, using: &rng), updatedAt: 1_763_700_000_000 + Int64(step))
            try cache.put(account)
            expected[exact] = account
            continue
        }
        switch Int.random(in: 0..<10, using: &rng) {
        case 0:
            try cache.remove(key)
            expected[exact] = nil
        case 1, 2:
            let status = ["open", "frozen", "closed"][step % 3]
            try cache.update(key) { $0.status = status }
            account.status = status
            expected[exact] = account
        default:
            let amount = Int64.random(in: -50...50, using: &rng)
            try cache.increment(key, "balance", by: amount)
            account.balance += amount
            expected[exact] = account
        }
    }
}

/// Waits until every cache holds exactly `expected`; on timeout the error says how each
/// cache still differs, so a failure shows whether changes were missing, extra or wrong.
///
/// Two minutes: librdkafka sends a request again only after socket.timeout.ms (60 s), and
/// Tansu has been reported to leave fetch requests unanswered; a fresh-clone CI run timed
/// out at 60 s with a warm-started joiner loaded and nothing logged.
func awaitState(_ caches: [ReplicatedCache<BenchAccount>], _ expected: [ExactKey: BenchAccount], _ what: String) async throws {
    let timeout = Duration.seconds(120)
    func differences() -> [String] {
        caches.enumerated().compactMap { index, cache in
            let held = Dictionary(uniqueKeysWithValues: cache.values.map { (ExactKey($0.id), $0) })
            guard held != expected else { return nil }
            let missing = expected.keys.filter { held[$0] == nil }.sorted()
            let extra = held.keys.filter { expected[$0] == nil }.sorted()
            let wrong = expected.keys.filter { held[$0] != nil && held[$0] != expected[$0] }.sorted()
            // What the log has decided beside what the replica shows tells a change still
            // pending (its echo not applied) from a committed state gone wrong.
            func committed(_ key: ExactKey) -> String { cache.committed(key.text).map { "\($0.balance)/\($0.status)" } ?? "none" }
            return "cache \(index) holds \(held.count) of \(expected.count): missing \(missing.prefix(5).map { "\($0) (committed \(committed($0)))" }), extra \(extra.prefix(5)), different \(wrong.prefix(5).map { "\($0) (\(held[$0]!.balance)/\(held[$0]!.status), committed \(committed($0)), expected \(expected[$0]!.balance)/\(expected[$0]!.status))" })"
        }
    }
    do {
        _ = try await waitFor(what, timeout: timeout) { () -> Bool? in
            try await Task.sleep(for: .milliseconds(50))
            return differences().isEmpty ? true : nil
        }
    } catch let timeout as WaitTimeout {
        throw WaitTimeout(description: "\(timeout.description); \(differences().joined(separator: "; "))")
    }
}

extension UnitFixture {
    func withDatabase<T>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        let db = try await PostgresConnection.connect(configuration: pipeline.postgres, logger: Self.logger)
        do {
            let result = try await body(db)
            await db.close()
            return result
        } catch {
            await db.close()
            throw error
        }
    }

    /// The cold-start loads on this fixture's reverse-pump topic, oldest first: each
    /// answer that ended for a request a unit had claimed the load under, read from the
    /// records' headers and the end's JSON alone (none of the unit's load code).
    func recordedLoads() async throws -> [(requestID: String, rows: Int64, loadedBy: String)] {
        try await reverseTopicRecords().compactMap { record in
            guard case .load(let request, let rows, let unit) = record else { return nil }
            return (request, rows, unit)
        }
    }

    enum ReverseRecord {
        case claim(request: String, unit: String)
        case load(request: String, rows: Int64, unit: String)
    }

    /// Claims and finished cold-start loads on the reverse-pump topic, in log order.
    func reverseTopicRecords() async throws -> [ReverseRecord] {
        var configuration = KafkaConsumerConfiguration(connection: pipeline.kafka)
        configuration.reportPartitionEOF = true
        let consumer = try KafkaConsumer(configuration: configuration, logger: Self.logger)
        try await consumer.assign([KafkaTopicPartitionOffset(topic: pipeline.caches[0].reverseTopic, partition: 0, offset: .beginning)])
        var claims: [[UInt8]: String] = [:]
        var records: [ReverseRecord] = []
        _ = try await waitFor("the end of \(pipeline.caches[0].reverseTopic)", timeout: .seconds(30)) { () -> Bool? in
            for event in try await consumer.poll(maxMessages: 10_000, timeout: .milliseconds(100)) {
                switch event {
                case .messages(let messages):
                    for message in messages {
                        guard let request = message.headers.value(named: "ph-request") else { continue }
                        if message.headers.value(named: "ph-load") == Array("claim".utf8), let unit = message.value {
                            claims[request] = String(decoding: unit, as: UTF8.self)
                            records.append(.claim(request: String(decoding: request, as: UTF8.self), unit: String(decoding: unit, as: UTF8.self)))
                        } else if message.headers.value(named: "ph-reply") == Array("end".utf8), let unit = claims[request] {
                            let end = try JSONSerialization.jsonObject(with: Data(message.value ?? [])) as? [String: Any]
                            records.append(.load(request: String(decoding: request, as: UTF8.self), rows: (end?["rows"] as? NSNumber)?.int64Value ?? -1, unit: unit))
                        }
                    }
                case .partitionEOF:
                    return true
                default:
                    break
                }
            }
            return nil
        }
        try await consumer.close()
        return records
    }

    func sql(_ script: String) async throws {
        try await withDatabase { try await $0.execute(script: script) }
    }

    func rowCount() async throws -> Int64 {
        try await withDatabase { try await $0.query("SELECT count(*) FROM \(table)").scalar(Int64.self) ?? -1 }
    }
}

@Suite("Data readers and the reverse pump against the local broker and PostgreSQL", .localStack, .removingWhatItMakes, .serialized, .timeLimit(.minutes(ScenarioForm.current.pick(short: 4, soak: 20))))
struct ReversePumpSoloTests {
    @Test("a load streams every row and an end marker with the writer's offsets from the same snapshot; bad requests get an error reply and the reader goes on")
    func readerAnswers() async throws {
        let fixture = try await UnitFixture(partitions: 2, load: "reverse_pump")
        try await fixture.prepare()
        let cache = fixture.pipeline.caches[0]
        let db = try await PostgresConnection.connect(configuration: fixture.pipeline.postgres, logger: UnitFixture.logger)
        // Rows and writer bookkeeping as a writer would have left them.
        try await db.execute(script: """
            INSERT INTO \(fixture.table) (id, owner, balance_cents, currency, status, updated_at)
            SELECT 'acc-' || g, 'owner ''' || g || '''; DROP TABLE x', g * 10, 'EUR', 'open', to_timestamp(1763700000 + g)
            FROM generate_series(1, 2500) g;
            INSERT INTO pumphouse_writer_offsets (writer, topic, partition, next_offset, epoch, owner) VALUES
                ('\(fixture.name)', '\(cache.topic)', 0, 1234, 1, 'test'), ('\(fixture.name)', '\(cache.topic)', 1, 77, 1, 'test');
            INSERT INTO pumphouse_writer_origins (writer, topic, partition, origin, max_seq) VALUES
                ('\(fixture.name)', '\(cache.topic)', 0, 'unit-a', 41), ('\(fixture.name)', '\(cache.topic)', 1, 'unit-b', 9);
            """)
        await db.close()

        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(connection: fixture.pipeline.kafka), logger: UnitFixture.logger)
        var consumerConfiguration = KafkaConsumerConfiguration(connection: fixture.pipeline.kafka)
        consumerConfiguration.reportPartitionEOF = false
        let replies = try KafkaConsumer(configuration: consumerConfiguration, logger: UnitFixture.logger)
        try await replies.assign([KafkaTopicPartitionOffset(topic: cache.reverseTopic, partition: 0, offset: .beginning)])
        let deadline = Int64(Date().timeIntervalSince1970 * 1000) + 60_000
        func send(key: String, value: [UInt8], id: String, replyTo: String) async throws {
            _ = try await producer.deliver(KafkaProducerMessage(
                topic: fixture.pipeline.reader.requestTopic, key: Array(key.utf8), value: value,
                headers: [KafkaHeader(name: ReadRequest.Header.request, string: id), KafkaHeader(name: ReadRequest.Header.replyTo, string: replyTo)]
            ))
        }
        // Three bad requests, then a load and an archive read: the reader must go on.
        try await send(key: "bench.Account", value: Array("{not json".utf8), id: "bad-json", replyTo: cache.reverseTopic)
        let unknown = ReadRequest(id: "bad-cache", cache: "shop.Nothing", replyTo: cache.reverseTopic, keys: nil, requester: "test", deadline: deadline)
        try await send(key: "shop.Nothing", value: unknown.value, id: unknown.id, replyTo: cache.reverseTopic)
        let expired = ReadRequest(id: "expired", cache: "bench.Account", replyTo: cache.reverseTopic, keys: nil, requester: "test", deadline: 1)
        try await send(key: "bench.Account", value: expired.value, id: expired.id, replyTo: cache.reverseTopic)
        let load = ReadRequest(id: "load-1", cache: "bench.Account", replyTo: cache.reverseTopic, keys: nil, requester: "test", deadline: deadline)
        try await send(key: "bench.Account", value: load.value, id: load.id, replyTo: cache.reverseTopic)
        let archive = ReadRequest(id: "keys-1", cache: "bench.Account", replyTo: cache.reverseTopic, keys: ["acc-7", "acc-nope", "acc-2500"], requester: "test", deadline: deadline)
        try await send(key: "bench.Account", value: archive.value, id: archive.id, replyTo: cache.reverseTopic)

        let registry = try SchemaRepository(directory: fixture.pipeline.schemasDirectory).load()
        var rows: [String: [ExactKey: BenchAccount]] = [:]
        var ends: [String: ReadEnd] = [:]
        var errors: [String: String] = [:]
        try await withReader(fixture) { reader in
            _ = try await waitFor("answers to all five requests", timeout: .seconds(60)) { () -> Bool? in
                for event in try await replies.poll(maxMessages: 10_000, timeout: .milliseconds(100)) {
                    guard case .messages(let messages) = event else { continue }
                    for message in messages {
                        switch ReverseReply(key: message.key, value: message.value, headers: message.headers.map { ($0.name, $0.value) }) {
                        case .rows(let request, let batch)?:
                            var contracts: [Contract] = []
                            try batch.forEach { (key, value) throws(ContractError) in contracts.append(try registry.decode(key: key, value: value)) }
                            for contract in contracts {
                                #expect(contract.action == .add && contract.origin == DataReader.origin)
                                rows[request, default: [:]][contract.exactKey] = try BenchAccount(fields: contract.fields)
                            }
                        case .end(let end)?:
                            ends[end.request] = end
                        case .error(let request, let reason)?:
                            errors[request] = reason
                        case nil:
                            Issue.record("an unreadable message on \(cache.reverseTopic) at \(message.offset)")
                        }
                    }
                }
                return ends.count == 2 && errors.count == 2 ? true : nil
            }
            #expect(reader.statistics.served == 2)
            #expect(reader.statistics.failed == 2)
        }
        #expect(errors["bad-json"]?.contains("not JSON") == true)
        #expect(errors["bad-cache"]?.contains("no cache shop.Nothing") == true)
        #expect(errors["expired"] == nil && rows["expired"] == nil && ends["expired"] == nil)

        let loaded = try #require(ends["load-1"])
        #expect(loaded.rows == 2_500 && rows["load-1"]?.count == 2_500)
        #expect(loaded.offsets == [0: 1234, 1: 77])
        #expect(loaded.sequences == [0: ["unit-a": 41], 1: ["unit-b": 9]])
        // Columns come back as the fields they were written from, quotes and all.
        #expect(rows["load-1"]?["acc-12"] == BenchAccount(id: "acc-12", balance: 120, owner: "owner '12'; DROP TABLE x", updatedAt: (1_763_700_000 + 12) * 1000))

        #expect(ends["keys-1"]?.rows == 2)
        #expect(rows["keys-1"].map { Set($0.keys) } == ["acc-7", "acc-2500"])
        try await replies.close()
    }

    @Test("three units, random changes, all stopped and started again: from the database plus the topic they hold exactly the state before, with the writer caught up and with it far behind")
    func fullOutage() async throws {
        let fixture = try await UnitFixture(partitions: 3, load: "reverse_pump")
        try await fixture.prepare()
        var expected: [ExactKey: BenchAccount] = [:]
        try await withReader(fixture) { reader in
            // First start: an empty table, so the load is empty and the topic is empty.
            let first = try ["a", "b", "c"].map { try fixture.unit($0) }
            let firstCaches = try first.map { try $0.cache(BenchAccount.self) }
            try await running(first) {
                try randomChanges(firstCaches, count: 600, seed: 1, expected: &expected)
                try await awaitState(firstCaches, expected, "three replicas at the expected state")
            }
            // The writer catches up, then the units change more while it is stopped: the
            // database is behind the topic when they all start again.
            try await fixture.awaitWritten(expected.mapValues(\.balance))
            let caughtUp = try ["a", "b", "c"].map { try fixture.unit($0) }
            let caughtUpCaches = try caughtUp.map { try $0.cache(BenchAccount.self) }
            try await running(caughtUp) {
                try await awaitState(caughtUpCaches, expected, "a cold start with the writer caught up to the state before")
                #expect(Set(caughtUp.compactMap { $0.snapshot(of: BenchAccount.contract) }).count == 1)
                try randomChanges(caughtUpCaches, count: 600, seed: 2, expected: &expected)
                try await awaitState(caughtUpCaches, expected, "the second round of changes on every replica")
            }
            let behindRows = try await fixture.rowCount()
            let behind = try ["a", "b", "c"].map { try fixture.unit($0) }
            let behindCaches = try behind.map { try $0.cache(BenchAccount.self) }
            try await running(behind) {
                try await awaitState(behindCaches, expected, "a cold start with the writer far behind to the state before")
            }
            // One load per cold start, each served once, each as large as the table was.
            let loads = try await fixture.recordedLoads()
            #expect(loads.count == 3)
            #expect(loads.last?.rows == behindRows)
            #expect(reader.statistics.served == 3)
        }
        try await fixture.awaitWritten(expected.mapValues(\.balance))
    }

    @Test("a full cold start of units given no database URL: two started at the same instant claim the load on the log, one asks the data readers once, and both load the same answer")
    func simultaneousStart() async throws {
        let fixture = try await UnitFixture(partitions: 2, load: "reverse_pump")
        try await fixture.prepare()
        try await withReader(fixture) { reader in
            let expected = try await fixture.seedAccounts(seed: 3)
            let served = reader.statistics.served
            // The seed's own cold start ended moments ago: reuse nothing from before.
            let twins = try ["x", "y"].map { try fixture.unit($0, loadReuse: .zero) }
            let caches = try twins.map { try $0.cache(BenchAccount.self) }
            try await running(twins) {
                try await awaitState(caches, expected, "both twins at the state before")
            }
            #expect(reader.statistics.served == served + 1)
            let snapshots = twins.map { $0.snapshot(of: BenchAccount.contract) }
            #expect(snapshots[0] != nil && snapshots[0] == snapshots[1])
            let loads = try await fixture.recordedLoads()
            #expect(loads.last?.requestID == snapshots[0]?.request)
            #expect(loads.last.map { load in twins.contains { $0.id == load.loadedBy } } == true)
        }
    }

    @Test("a unit joining live peers loads their snapshot and the topic, without a read request")
    func warmStart() async throws {
        let fixture = try await UnitFixture(partitions: 2, load: "reverse_pump")
        try await fixture.prepare()
        var expected: [ExactKey: BenchAccount] = [:]
        try await withReader(fixture) { reader in
            let live = try ["a", "b"].map { try fixture.unit($0) }
            let caches = try live.map { try $0.cache(BenchAccount.self) }
            try await running(live) {
                try randomChanges(caches, count: 400, seed: 4, expected: &expected)
                try await awaitState(caches, expected, "the live units at the expected state")
                let served = reader.statistics.served
                let loads = try await fixture.recordedLoads().count
                let joiner = try fixture.unit("c")
                let joinerCache = try joiner.cache(BenchAccount.self)
                try await running([joiner]) {
                    try await awaitState([joinerCache], expected, "the joiner at the live units' state")
                }
                #expect(reader.statistics.served == served)
                #expect(try await fixture.recordedLoads().count == loads)
                #expect(joiner.snapshot(of: BenchAccount.contract) == live[0].snapshot(of: BenchAccount.contract))
            }
        }
    }

    @Test("three unit processes changing accounts are all killed with -9, the writer far behind; restarted from their spools they resend what was unacknowledged and hold exactly the topic's fold, and so does the database once the writer catches up")
    func allKilled() async throws {
        let form = ScenarioForm.current
        let (rate, backlog) = form.pick(short: (100, 500), soak: (300, 20_000))
        let fixture = try await UnitFixture(partitions: 3, load: "reverse_pump")
        try await fixture.prepare()
        let replay = try TopicReplay(configuration: fixture.pipeline, cache: BenchAccount.contract, logger: UnitFixture.logger)
        try await withReader(fixture) { reader in
            let writer = try DataWriter(configuration: fixture.pipeline, writer: fixture.name, logger: UnitFixture.logger)
            let writerTask = Task { try await writer.run() }
            defer { writerTask.cancel() }
            let processes = try ["p", "q", "r"].map { id in
                try PumphouseProcess.start([
                    "unit", "--config", "\(fixture.directory)/pipeline.yaml", "--id", "\(fixture.name)-\(id)",
                    "--spool-directory", "\(fixture.directory)/spool", "--heartbeat-ms", "200", "--rate", "\(rate)", "--keys", "40",
                ], log: "\(fixture.directory)/\(id).log")
            }
            defer { for process in processes where process.isRunning { kill(process.processIdentifier, SIGKILL) } }
            // An observer replica counts the changes: each opens an account at 0 or adds 1,
            // so accounts plus the sum of balances is the number applied from the log.
            let observer = try fixture.unit("observer")
            let observed = try observer.cache(BenchAccount.self)
            func changes() -> Int64 { observed.values.reduce(Int64(observed.count)) { $0 + $1.balance } }
            try await running([observer]) {
                _ = try await waitFor("the writer to apply changes of the unit processes", timeout: .seconds(120)) { () -> Bool? in
                    try await Task.sleep(for: .milliseconds(100))
                    return writer.statistics.applied > 200 ? true : nil
                }
                writerTask.cancel()
                _ = await writerTask.result
                let applied = Int64(writer.statistics.applied)
                // The units go on without the writer until the topic is well ahead of it.
                _ = try await waitFor("the units to make \(backlog) changes more than the stopped writer applied", timeout: .seconds(form.pick(short: 60, soak: 300))) { () -> Bool? in
                    try await Task.sleep(for: .milliseconds(100))
                    return changes() > applied + Int64(backlog) ? true : nil
                }
            }
            for process in processes { kill(process.processIdentifier, SIGKILL) }
            for process in processes { process.waitUntilExit() }

            // The same units, in this process now, from the same spools.
            let restarted = ContinuousClock.now
            let units = try ["p", "q", "r"].map { try fixture.unit($0) }
            let caches = try units.map { try $0.cache(BenchAccount.self) }
            try await running(units) {
                _ = try await waitFor("every spool resent and acknowledged", timeout: .seconds(60)) { () -> Bool? in
                    try await Task.sleep(for: .milliseconds(50))
                    return units.allSatisfy { $0.unacknowledgedChanges == 0 } ? true : nil
                }
                let fold = try await replay.fold(timeout: .seconds(60))
                let expected = try fold.entities.mapValues { try BenchAccount(fields: $0) }
                #expect(expected.count > 0)
                try await awaitState(caches, expected, "the restarted units at the topic's fold")
                // Each change opened an account at 0 or added 1: the table's accounts plus
                // balances count the effects; the fold counts the changes, each once. A net
                // count (a loss and a doubling on one key would cancel): the exact check is
                // the table equal to the fold.
                let made = fold.contracts
                #expect(fold.rejected == 0)
                func record(converged: Bool) async throws {
                    let effects = try await fixture.balances().values.reduce(0) { $0 + Int($1) + 1 }
                    try ScenarioReport.record(ScenarioOutcome(
                        scenario: "4 unit outage, writer behind", runs: 1, contracts: made,
                        lost: max(0, made - effects), duplicated: max(0, effects - made), converge: ContinuousClock.now - restarted, converged: converged
                    ))
                }
                do {
                    try await fixture.awaitWritten(expected.mapValues(\.balance), timeout: .seconds(form.pick(short: 60, soak: 300)))
                } catch {
                    try await record(converged: false)
                    throw error
                }
                try await record(converged: true)
            }
            // Two cold starts (the processes', and this one), each one read.
            #expect(try await fixture.recordedLoads().count == 2)
            #expect(reader.statistics.served == 2)
        }
    }

    @Test("partitions taken up again read their rows from the answer the unit loaded; when that answer is no longer on the reverse-pump topic, from a new answer; either way only the rows of those partitions, with the writer's offsets and sequences of those partitions")
    func partitionsReadAgain() async throws {
        let fixture = try await UnitFixture(partitions: 4, load: "reverse_pump", mode: "partitioned")
        try await fixture.prepare()
        let cache = fixture.pipeline.caches[0]
        let db = try await PostgresConnection.connect(configuration: fixture.pipeline.postgres, logger: UnitFixture.logger)
        try await db.execute(script: """
            INSERT INTO \(fixture.table) (id, owner, balance_cents, currency, status, updated_at)
            SELECT 'acct-' || g, 'owner-acct-' || g, g, 'EUR', 'open', to_timestamp(1763700000) FROM generate_series(1, 300) g;
            INSERT INTO pumphouse_writer_offsets (writer, topic, partition, next_offset, epoch, owner) VALUES
                ('\(fixture.name)', '\(cache.topic)', 1, 0, 1, 'test'), ('\(fixture.name)', '\(cache.topic)', 2, 0, 1, 'test');
            INSERT INTO pumphouse_writer_origins (writer, topic, partition, origin, max_seq) VALUES
                ('\(fixture.name)', '\(cache.topic)', 1, 'unit-a', 41), ('\(fixture.name)', '\(cache.topic)', 3, 'unit-b', 9);
            """)
        await db.close()
        let partitioner = cache.partitioner
        let wanted: Set<Int32> = [1, 3]
        let inWanted = Set((1...300).map { "acct-\($0)" }.filter { wanted.contains(partitioner.partition(ofKey: $0)) })
        #expect(!inWanted.isEmpty && inWanted.count < 300, "the keys spread over the partitions: \(inWanted.count) of 300 in \(wanted.sorted())")
        var configuration = UnitConfiguration(pipeline: fixture.pipeline, unitID: "\(fixture.name)-loader", address: "127.0.0.1:8000", spoolDirectory: fixture.directory)
        configuration.loadTimeout = .seconds(30)
        let control = try KafkaProducer(configuration: KafkaProducerConfiguration(connection: fixture.pipeline.kafka), logger: UnitFixture.logger)
        let registry = try fixture.pipeline.loadRegistry()
        func reread(from snapshot: CacheSnapshot?) async throws -> (PartitionReload.Rows, CacheLoader.Loaded) {
            let rows = PartitionReload(partitions: wanted) { partitioner.partition(ofKey: $0) }
            let loader = CacheLoader(
                unit: configuration.unitID, cache: cache, pipeline: fixture.pipeline, configuration: configuration, registry: registry, sink: rows,
                control: control, logger: UnitFixture.logger, startedAt: 0
            )
            let loaded = try await loader.reread(wanted, loadedFrom: snapshot, deadline: ContinuousClock.now.advanced(by: .seconds(30)))
            return (rows.rows, loaded)
        }
        func check(_ rows: PartitionReload.Rows, _ what: String) {
            #expect(Set(rows.rows.keys).isSubset(of: wanted), "\(what): rows only of the partitions asked for, not \(rows.rows.keys.sorted())")
            #expect(Set(rows.rows.values.joined().map(\.key)) == inWanted, "\(what): every row of those partitions")
            #expect(rows.rows.values.joined().allSatisfy { row in row.fields["balance"] == .int(Int64(row.key.dropFirst(5))!) }, "\(what): the rows as PostgreSQL holds them")
            #expect(rows.sequences == [1: ["unit-a": 41], 3: ["unit-b": 9]], "\(what): the writer's sequences of those partitions alone")
        }
        try await withReader(fixture) { reader in
            // No answer at the offset named: a new one is asked for.
            let (fresh, first) = try await reread(from: CacheSnapshot(request: "gone", offset: 0))
            check(fresh, "a new answer")
            #expect(first.offsets[1] == 0 && first.offsets[2] == 0, "the writer's offsets: \(first.offsets)")
            #expect(reader.statistics.served == 1)
            // The answer just read is still there: it is read again, nothing is asked.
            let (again, _) = try await reread(from: first.snapshot)
            check(again, "the answer read again")
            #expect(reader.statistics.served == 1, "no new answer for a snapshot still on the topic")
        }
    }

    @Test("archive reads: a key the cache lacks comes from the database through a reader, without entering the cache; no reader is a typed timeout")
    func archiveReads() async throws {
        let fixture = try await UnitFixture(partitions: 1, load: "reverse_pump")
        try await fixture.prepare()
        let reader = try DataReader(configuration: fixture.pipeline, logger: UnitFixture.logger)
        let readerTask = Task { try await reader.run() }
        defer { readerTask.cancel() }
        let unit = try fixture.unit("a")
        let cache = try unit.cache(BenchAccount.self)
        try await running([unit]) {
            try cache.put(BenchAccount(id: "live", balance: 5))
            // Written after the unit loaded: only the database has it.
            let db = try await PostgresConnection.connect(configuration: fixture.pipeline.postgres, logger: UnitFixture.logger)
            try await db.query(
                "INSERT INTO \(fixture.table) (id, owner, balance_cents, currency, status, updated_at) VALUES ($1, $2, 70, 'EUR', 'closed', to_timestamp(1763700000))",
                ["old \"one\"", "o'brien"]
            )
            await db.close()
            #expect(try await cache.fetch("live")?.balance == 5)
            let archived = try await cache.fetch("old \"one\"", timeout: .seconds(30))
            #expect(archived == BenchAccount(id: "old \"one\"", balance: 70, owner: "o'brien", status: "closed", updatedAt: 1_763_700_000_000))
            #expect(cache["old \"one\""] == nil)
            #expect(try await cache.fetch("nobody", timeout: .seconds(30)) == nil)

            readerTask.cancel()
            _ = await readerTask.result
            let started = ContinuousClock.now
            do {
                _ = try await cache.fetch("nobody-either", timeout: .milliseconds(500))
                Issue.record("an archive read without a reader returned")
            } catch CacheError.archiveTimeout(let name, let key, let after) {
                #expect(name == BenchAccount.contract && key == "nobody-either" && after == .milliseconds(500))
            }
            #expect(ContinuousClock.now - started < .seconds(10))
        }
    }

    @Test("a load that cannot finish (no reader) stops the unit: run throws the load error, loaded() throws, and a unit process with --rate exits 1 instead of waiting")
    func loadTimesOut() async throws {
        let fixture = try await UnitFixture(partitions: 2, load: "reverse_pump")
        try await fixture.prepare()
        var configuration = UnitConfiguration(pipeline: fixture.pipeline, unitID: "\(fixture.name)-alone", address: "127.0.0.1:8000", spoolDirectory: "\(fixture.directory)/spool")
        configuration.loadTimeout = .seconds(2)
        configuration.discoveryWindow = .milliseconds(200)
        let unit = try ProcessingUnit(configuration: configuration, logger: UnitFixture.logger)
        _ = try unit.cache(BenchAccount.self)
        let waiter = Task { try await unit.loaded() }
        await #expect(throws: CacheLoadError.self) { try await unit.run() }
        let stopped = await waiter.result
        #expect(throws: ProcessingUnitStopped.self) { try stopped.get() }
        // A late waiter learns at once too.
        await #expect(throws: ProcessingUnitStopped.self) { try await unit.loaded() }

        let run = try await PumphouseProcess.run([
            "unit", "--config", "\(fixture.directory)/pipeline.yaml", "--id", "\(fixture.name)-rate",
            "--spool-directory", "\(fixture.directory)/spool", "--load-timeout-s", "2", "--rate", "10",
        ], within: .seconds(60))
        #expect(run.status == 1, "\(run.errors)")
        #expect(run.errors.contains("no load finished within"), "\(run.errors)")
    }

    @Test("the unit holding the load claim is killed mid-load: after its lease another unit claims the load and loads")
    func loadHolderKilled() async throws {
        let fixture = try await UnitFixture(partitions: 2, load: "reverse_pump")
        try await fixture.prepare()
        let expected = try await withReader(fixture) { _ in try await fixture.seedAccounts(seed: 5) }
        try await fixture.awaitWritten(expected.mapValues(\.balance))
        // No reader runs now: the holder claims the load, asks, and waits for an answer.
        // It reuses no earlier load (the seed's), so it must claim.
        let holder = try PumphouseProcess.start([
            "unit", "--config", "\(fixture.directory)/pipeline.yaml", "--id", "\(fixture.name)-holder",
            "--spool-directory", "\(fixture.directory)/spool", "--heartbeat-ms", "200", "--load-reuse-s", "0",
        ], log: "\(fixture.directory)/holder.log")
        defer { if holder.isRunning { kill(holder.processIdentifier, SIGKILL) } }
        _ = try await waitFor("the unit process to claim the load", timeout: .seconds(60)) { () -> Bool? in
            try await Task.sleep(for: .milliseconds(50))
            return try await fixture.reverseTopicRecords().contains {
                if case .claim(_, let unit) = $0 { unit == "\(fixture.name)-holder" } else { false }
            } ? true : nil
        }
        // The heir says when it found the load held: the event to wait for.
        let waiting = Atomic(false)
        let heirLogger = Logger(label: "pumphouse.tests.heir") { _ in
            RecordingLogHandler { event in
                if event.message.description.contains("(\(fixture.name)-holder) holds the load claim") { waiting.store(true, ordering: .relaxed) }
            }
        }
        let heir = try fixture.unit("heir", logger: heirLogger)
        let heirCache = try heir.cache(BenchAccount.self)
        let group = ServiceGroup(configuration: .init(services: [.init(service: heir)], logger: UnitFixture.logger))
        let task = Task { try await group.run() }
        defer { task.cancel() }
        _ = try await waitFor("the heir to find the load held", timeout: .seconds(30)) { () -> Bool? in
            try await Task.sleep(for: .milliseconds(20))
            return waiting.load(ordering: .relaxed) ? true : nil
        }
        #expect(!heir.isLoaded)
        kill(holder.processIdentifier, SIGKILL)
        holder.waitUntilExit()
        // Still no reader: the heir must claim the load itself once the holder's lease
        // has run out. (A reader started now would answer the dead holder's request,
        // whose deadline has not passed, and the heir would read that answer instead.)
        _ = try await waitFor("the heir to claim the load once the holder's claim lapsed", timeout: .seconds(60)) { () -> Bool? in
            try await Task.sleep(for: .milliseconds(100))
            return try await fixture.reverseTopicRecords().contains {
                if case .claim(_, let unit) = $0 { unit == heir.id } else { false }
            } ? true : nil
        }
        try await withReader(fixture) { _ in
            try await awaitState([heirCache], expected, "the heir to claim the load after the lease and load")
        }
        _ = try await waitFor("the heir to finish its load", timeout: .seconds(30)) { () -> Bool? in
            try await Task.sleep(for: .milliseconds(20))
            return heir.isLoaded ? true : nil
        }
        // The killed holder's claim, then the heir's, whose load is the last to finish.
        let records = try await fixture.reverseTopicRecords()
        let claimants = records.compactMap { record -> String? in if case .claim(_, let unit) = record { unit } else { nil } }
        #expect(claimants.suffix(2) == ["\(fixture.name)-holder", heir.id], "\(records)")
        let loads = try await fixture.recordedLoads()
        #expect(loads.last?.loadedBy == heir.id)
        await group.triggerGracefulShutdown()
        try await task.value
    }
}

extension UnitFixture {
    /// One unit makes 300 random changes and stops (its pump flushed): the accounts a
    /// test then loads, as they should be.
    func seedAccounts(seed: UInt64) async throws -> [ExactKey: BenchAccount] {
        let unit = try unit("seed")
        let cache = try unit.cache(BenchAccount.self)
        var expected: [ExactKey: BenchAccount] = [:]
        try await running([unit]) {
            try randomChanges([cache], count: 300, seed: seed, expected: &expected)
            try await awaitState([cache], expected, "the seed unit at the expected state")
        }
        return expected
    }
}

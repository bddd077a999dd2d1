import Foundation
import PumphouseContracts
import PumphouseLoad
import PumphouseTestSupport
import PumphouseUnit
import PumphouseWriter
import Testing

/// Fault scenario 2 (docs/reliability.md), and a unit killed during an outage. Stops the
/// shared local broker, so `make test` and `make soak` run this suite alone.
@Suite("Broker outage under load", .localStack, .removingWhatItMakes, .serialized, .timeLimit(.minutes(ScenarioForm.current.pick(short: 5, soak: 30))))
struct BrokerOutageTests {
    @Test("the broker stopped for 15 s under load: units keep serving, spools drain, every change arrives once on every replica and in PostgreSQL")
    func brokerStopped() async throws {
        let form = ScenarioForm.current
        let (outages, keyCount) = form.pick(short: (1, 200), soak: (3, 600))
        let fixture = try await UnitFixture(partitions: 2)
        try await fixture.prepare()
        let units = try ["a", "b", "c"].map { try fixture.unit($0, heartbeat: .seconds(1)) }
        let caches = try units.map { try $0.cache(BenchAccount.self) }
        var audit = ChangeAudit()
        var lastOutageEnd = ContinuousClock.now
        // The writer runs through the outages too, as it would in production.
        let writer = try DataWriter(configuration: fixture.pipeline, writer: fixture.name, logger: UnitFixture.logger)
        let writing = Task { try await writer.run() }
        defer { writing.cancel() }
        try await running(units) {
            var step = 0
            func load(_ count: Int) throws {
                for _ in 0..<count {
                    step += 1
                    // Each key is changed by one unit, so no change waits on replication.
                    let index = step % keyCount
                    let (key, cache) = ("acc-\(index)", caches[index % 3])
                    if audit.changes[ExactKey(key)] == nil {
                        try cache.put(BenchAccount(id: key, balance: 0))
                        audit.open(key)
                    } else if let delta = audit.nextDelta(for: key) {
                        try cache.increment(key, "balance", by: delta)
                    }
                }
            }
            try load(300)
            for _ in 0..<outages {
                try TestStack.control("broker-stop")
                do {
                    // Fifteen seconds without a broker; changes keep coming and are served locally.
                    let outage = ContinuousClock.now
                    while ContinuousClock.now - outage < .seconds(15) {
                        try load(50)
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    // Reads during the outage are local: the owning unit sees its latest change.
                    #expect(caches[1]["acc-1"]?.balance == audit.expectedBalance(of: "acc-1"))
                    #expect(units.allSatisfy { $0.unacknowledgedChanges > 0 }, "changes made during the outage wait in the spools")
                } catch {
                    try? TestStack.control("broker-start")
                    throw error
                }
                try TestStack.control("broker-start")
                lastOutageEnd = ContinuousClock.now
                try load(300)
            }
            let expected = audit.expectedBalances
            var differences: [String] = []
            do {
                _ = try await waitFor("every replica to hold every change and every spool to drain", timeout: .seconds(form.pick(short: 90, soak: 300))) { () -> Bool? in
                    try await Task.sleep(for: .milliseconds(200))
                    differences = caches.enumerated().flatMap { index, cache in
                        let held = Dictionary(uniqueKeysWithValues: cache.values.map { (ExactKey($0.id), $0.balance) })
                        return expected.keys.sorted().filter { held[$0] != expected[$0] }.map { "unit \(index) \($0): \(held[$0].map(String.init) ?? "absent") not \(expected[$0]!)" }
                    }
                    differences += units.filter { $0.unacknowledgedChanges > 0 }.map { "unit \($0.id): \($0.unacknowledgedChanges) change(s) still in its spool" }
                    return differences.isEmpty ? true : nil
                }
            } catch {
                Issue.record("replicas differ from what was written: \(differences.prefix(6).joined(separator: "; "))")
                throw error
            }
        }
        let expected = audit.expectedBalances
        var found: [ExactKey: Int64] = [:]
        do {
            _ = try await waitFor("PostgreSQL to hold every change", timeout: .seconds(form.pick(short: 90, soak: 300))) { () -> Bool? in
                try await Task.sleep(for: .milliseconds(100))
                found = try await fixture.balances()
                return found == expected ? true : nil
            }
        } catch {
            // Recorded all the same, so the soak table shows what a failed run lost.
            let (lost, duplicated) = audit.count(found: found)
            Issue.record("PostgreSQL shows \(lost) lost and \(duplicated) doubled change(s); the writer is \(writer.readiness.reason)")
            try ScenarioReport.record(ScenarioOutcome(
                scenario: "2 broker down 15 s", runs: outages, contracts: audit.total, lost: lost, duplicated: duplicated,
                converge: ContinuousClock.now - lastOutageEnd, converged: false
            ))
            throw error
        }
        let converged = ContinuousClock.now - lastOutageEnd
        let (lost, duplicated) = audit.count(found: found)
        #expect(lost == 0 && duplicated == 0)
        #expect(writer.statistics.deadLettered == 0)
        try ScenarioReport.record(ScenarioOutcome(
            scenario: "2 broker down 15 s", runs: outages, contracts: audit.total, lost: lost, duplicated: duplicated, converge: converged
        ))
    }

    @Test("a unit process killed (SIGKILL) while the broker is away resends its spool on restart: every change it made arrives once")
    func killedWhileBrokerAway() async throws {
        let fixture = try await UnitFixture(partitions: 2)
        try await fixture.prepare()
        let peer = try fixture.unit("peer", heartbeat: .seconds(1))
        let accounts = try peer.cache(BenchAccount.self)
        let id = "\(fixture.name)-killed"
        let arguments = [
            "unit", "--config", "\(fixture.directory)/pipeline.yaml", "--id", id, "--spool-directory", "\(fixture.directory)/spool",
        ]
        try await running([peer]) {
            let first = try PumphouseProcess.start(arguments + ["--rate", "200", "--keys", "25"])
            defer { if first.isRunning { kill(first.processIdentifier, SIGKILL) } }
            _ = try await waitFor("the unit process's changes on the peer", timeout: .seconds(60)) { () -> Bool? in
                try await Task.sleep(for: .milliseconds(50))
                return accounts.count > 0 ? true : nil
            }
            try TestStack.control("broker-stop")
            // Three seconds of changes with nowhere to go but the spool, then the kill.
            try await Task.sleep(for: .seconds(3))
            kill(first.processIdentifier, SIGKILL)
            first.waitUntilExit()
            try TestStack.control("broker-start")
            let log = "\(fixture.directory)/restarted.log"
            let second = try PumphouseProcess.start(arguments, log: log)
            defer { kill(second.processIdentifier, SIGTERM) }
            // Its first run numbered its spool records from 1, with no gap; the last it
            // spooled is in the restart's log line.
            let last = try await waitFor("the restarted unit to resend its spool", timeout: .seconds(60)) { () -> Int64? in
                try await Task.sleep(for: .milliseconds(50))
                let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                guard let line = text.split(separator: "\n").first(where: { $0.contains("left in the spool by the previous run") }),
                      let range = line.range(of: " to ") else { return nil }
                return Int64(line[range.upperBound...].prefix { $0.isNumber })
            }
            let made = last
            #expect(made > 300, "three seconds at 200 changes/s should have left hundreds in the spool")
            // Each change opened an account (balance 0) or added 1 to one: on the peer,
            // accounts plus the sum of balances counts the changes applied, each once.
            var applied: Int64 = 0
            do {
                _ = try await waitFor("all \(made) changes on the peer, each once", timeout: .seconds(90)) { () -> Bool? in
                    try await Task.sleep(for: .milliseconds(100))
                    applied = Int64(accounts.count) + accounts.values.reduce(0) { $0 + $1.balance }
                    return applied == made ? true : nil
                }
            } catch {
                Issue.record("the peer applied \(applied) changes of the killed unit, not \(made)")
                throw error
            }
        }
        try await fixture.awaitWritten(Dictionary(uniqueKeysWithValues: accounts.values.map { (ExactKey($0.id), $0.balance) }), timeout: .seconds(90))
    }

    /// Scenario 9 (docs/reliability.md): a partition's hand-over cut by a broker outage.
    /// The owner has begun handing a partition to a joiner (it no longer decides there)
    /// when the broker stops; its claim may or may not have reached the log. Changes to
    /// the partitions it still owns are decided and spooled meanwhile; the moving ones
    /// are refused (by both units) until the claim lands. Once the broker is back the
    /// hand-over completes with nothing lost, doubled or fenced.
    @Test("the broker stopped in the middle of a hand-over: the moving partitions are refused meanwhile, the others keep deciding; once it is back the hand-over completes, both replicas agree and PostgreSQL holds every accepted change once")
    func handOverCutByOutage() async throws {
        let helpers = PartitionedCacheSoloTests()
        let fixture = try await UnitFixture(partitions: PartitionedCacheSoloTests.partitions, mode: "partitioned")
        try await fixture.prepare()
        let first = try fixture.unit("a", heartbeat: .seconds(1))
        let joiner = try fixture.unit("b", heartbeat: .seconds(1))
        let caches = try [first, joiner].map { try $0.cache(BenchAccount.self) }
        let byID = [first.id: caches[0], joiner.id: caches[1]]
        let keys = (0..<24).map { "acct-\($0)" }
        var expected: [ExactKey: Int64] = [:]
        var refusedDuringOutage = 0
        var acceptedDuringOutage = 0
        let started = ContinuousClock.now
        try await running([first]) {
            _ = try await helpers.awaitOwners([caches[0]], members: [first.id], "the first unit to own every partition")
            for key in keys {
                try caches[0].put(BenchAccount(id: key, balance: 0))
                expected[ExactKey(key)] = 0
            }
            let moving = PartitionAssignment(group: "bench.Account", partitions: PartitionedCacheSoloTests.partitions, backups: 1, members: [first.id, joiner.id])
                .placements.enumerated().filter { $0.element.owner.isSameBytes(as: joiner.id) }.map { Int32($0.offset) }
            try #require(!moving.isEmpty, "the joiner is assigned partitions")
            try await running([joiner]) {
                // The moment the owner stops deciding in a partition it hands over.
                _ = try await waitFor("the owner to begin a hand-over", timeout: .seconds(60)) { () -> Bool? in
                    try await Task.sleep(for: .milliseconds(2))
                    return moving.contains { !caches[0].decides(partition: $0) } ? true : nil
                }
                try TestStack.control("broker-stop")
                do {
                    let outage = ContinuousClock.now
                    while ContinuousClock.now - outage < .seconds(10) {
                        // Through the owner the refusal names, once: no waiting out the outage.
                        for key in keys {
                            var target = first.id
                            for _ in 0..<2 {
                                do {
                                    try byID[target]!.increment(key, "balance", by: 1)
                                    expected[ExactKey(key)]! += 1
                                    acceptedDuringOutage += 1
                                    break
                                } catch CacheError.notOwner(_, _, _, let owner?) where !owner.isSameBytes(as: target) {
                                    target = owner
                                } catch CacheError.notOwner {
                                    refusedDuringOutage += 1
                                    break
                                }
                            }
                        }
                        try await Task.sleep(for: .milliseconds(100))
                    }
                } catch {
                    try? TestStack.control("broker-start")
                    throw error
                }
                try TestStack.control("broker-start")
                #expect(acceptedDuringOutage > 0, "the partitions not moving kept deciding without the broker")
                _ = try await helpers.awaitOwners(caches, members: [first.id, joiner.id], "both units to own their share once the broker is back")
                for key in keys {
                    try await helpers.routed(byID, first: joiner.id) { try $0.increment(key, "balance", by: 1) }
                    expected[ExactKey(key)]! += 1
                }
                try await awaitState(caches, helpers.accounts(expected), "both replicas at every accepted change")
            }
        }
        try await fixture.awaitWritten(expected, timeout: .seconds(90))
        let total = expected.values.reduce(0) { $0 + Int($1) } + keys.count
        try ScenarioReport.record(ScenarioOutcome(
            scenario: "9 broker down during a hand-over", runs: 1, contracts: total, lost: 0, duplicated: 0, converge: ContinuousClock.now - started
        ))
        UnitFixture.logger.info("hand-over outage: \(acceptedDuringOutage) changes accepted and \(refusedDuringOutage) refused while the broker was away")
    }
}

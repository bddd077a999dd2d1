import PumphouseContracts
import PumphouseKafka
import PumphouseTestSupport
import Testing

/// The writer fault scenarios' workload, built so the state it leaves shows every lost or
/// doubled change: most changes are audited balance deltas (`ChangeAudit`), the rest
/// status changes and churn keys deleted and added again, from three origins.
struct FaultWorkload {
    private(set) var work: Workload
    private(set) var audit = ChangeAudit()
    private(set) var lastSequence: [String: Int64] = [:]

    init(topic: String, contracts: Int, seed: UInt64) throws {
        work = Workload(topic: topic)
        var random = SplitMix(state: seed)
        let origins = ["unit-a", "unit-b", "unit-c"]
        // About 40 audited changes per key: room below the 62 a key can hold.
        let keys = (0..<max(10, contracts / 40)).map { "acc-\($0)" }
        for key in keys {
            work.origin = origins.randomElement(using: &random)!
            try work.add(key, balance: 0)
            audit.open(key)
            lastSequence[work.origin] = work.sequence
        }
        var churnLive: Set<String> = []
        while work.messages.count < contracts {
            work.origin = origins.randomElement(using: &random)!
            let key = keys.randomElement(using: &random)!
            switch Int.random(in: 0..<20, using: &random) {
            case 0...3:
                try work.update(key, status: ["open", "frozen", "closed"].randomElement(using: &random)!)
            case 4:
                let churn = "churn-\(Int.random(in: 0..<50, using: &random))"
                if churnLive.remove(churn) != nil {
                    try work.delete(churn)
                } else {
                    try work.add(churn, balance: Int64.random(in: 0...1_000, using: &random))
                    churnLive.insert(churn)
                }
            default:
                guard let delta = audit.nextDelta(for: key) else { continue }
                try work.update(key, delta: delta)
            }
            lastSequence[work.origin] = work.sequence
        }
    }

    var messages: [KafkaProducerMessage] { work.messages }

    /// Waits until `done` (the writer has dealt with everything), then checks the state
    /// and records the scenario's outcome for the soak table. A run that never gets there
    /// is checked and recorded all the same, with what it lost, before the wait's error
    /// is thrown.
    func finish(
        _ fixture: WriterFixture, scenario: String, runs: Int, faultEnded: ContinuousClock.Instant, timeout: Duration,
        until done: () async throws -> Bool
    ) async throws {
        var converged: Duration?
        var failure: (any Error)?
        do {
            _ = try await waitFor("the writer to deal with all \(messages.count) contracts", timeout: timeout) { () -> Bool? in
                try await Task.sleep(for: .milliseconds(50))
                return try await done() ? true : nil
            }
            converged = ContinuousClock.now - faultEnded
        } catch {
            failure = error
        }
        let (lost, duplicated) = try await verify(fixture)
        #expect(lost == 0 && duplicated == 0, "audited balances show \(lost) lost and \(duplicated) doubled change(s)")
        try ScenarioReport.record(ScenarioOutcome(
            scenario: scenario, runs: runs, contracts: messages.count,
            lost: lost, duplicated: duplicated, converge: converged ?? timeout, converged: failure == nil
        ))
        if let failure { throw failure }
    }

    /// Checks the table against what the workload should have left and against a replay
    /// of the topic (`pumphouse replay --verify-db`), and the writer's ledger against the
    /// last sequence of each origin; returns the lost and doubled changes the audited
    /// balances show (both expected to be 0).
    func verify(_ fixture: WriterFixture) async throws -> (lost: Int, duplicated: Int) {
        let rows = try await fixture.rows()
        let expected = work.expectedRows
        let wrong = expected.keys.filter { rows[$0] != expected[$0] }.sorted() + rows.keys.filter { expected[$0] == nil }.sorted()
        #expect(wrong.isEmpty, "\(wrong.count) row(s) differ from the workload's fold, e.g. \(wrong.prefix(5).map { "\($0): \(rows[$0].map { "\($0)" } ?? "absent") not \(expected[$0].map { "\($0)" } ?? "absent")" })")

        var balances: [ExactKey: Int64] = [:]
        for key in audit.changes.keys {
            if let balance = rows[key]?["balance"].flatMap({ $0 }).flatMap({ Int64($0) }) { balances[key] = balance }
        }
        let counted = audit.count(found: balances)

        let ledger = try await fixture.db.query(
            "SELECT origin, max(max_seq)::bigint FROM pumphouse_writer_origins WHERE writer = $1 GROUP BY origin", [fixture.name]
        ).rows
        let applied = Dictionary(uniqueKeysWithValues: ledger.map { ($0[0]!, Int64($0[1]!)!) })
        #expect(applied == lastSequence, "the writer's ledger should hold each origin's last sequence")
        let replay = try await PumphouseProcess.run(["replay", "--config", "\(fixture.directory)/pipeline.yaml", "--cache", "bench.Account", "--verify-db"])
        #expect(replay.status == 0 && replay.output.contains("the database equals the topic"), "\(replay.output)\(replay.errors)")
        return counted
    }
}
